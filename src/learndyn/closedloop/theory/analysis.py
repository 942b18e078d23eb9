"""The summary of a gb2025-theory run: the reduction checked, the stages, stage 1 (Fig. 3).

Everything that compares with eig(P) of the full matrix is computed here in float64 NumPy
from the recorded float32 vectors (m from the final state, frozen), so it runs on any backend
(JAX has no general eigensolver on GPUs) and its error measures the reduction, not float32.

- ``reduction``: on up to REDUCTION_RECORDS records a seed (evenly spaced, the first and last
  included), the roots of eq. (6)'s cubic from the overlaps against the three largest
  eigenvalues of the full (N+2)-dimensional P (matched by permutation), and eq. (6)'s
  factorisation against the characteristic polynomial of P_eff.
- ``first_stable_epoch``: per seed, the first record from which every later record has all
  eigenvalues of P_eff inside the unit disk (the nonzero spectrum of P, by the reduction).
- ``stage_boundaries``: the expected loss's stages (core.stages, log loss against log epoch).
- ``stage1``: the paper's eq. (9) and the exact eq. (8) against rollouts of built models over
  the s_zm grid (the authors' theory notebook: models with z.m = s_zm, started at position 1,
  velocity -1, 1/2 sum |x_t|^2 over the horizon); and the ``starts`` phase: s_zm from each
  start over the first epochs.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.closedloop.theory.config import GbTheoryRecipe
from learndyn.closedloop.theory.rankone import init_with_szm
from learndyn.closedloop.theory.stage1 import stage1_loss_exact, stage1_loss_paper
from learndyn.core.seeds import run_keys
from learndyn.core.stages import loss_stages

REDUCTION_RECORDS = 12
N_STAGES = 3


def full_matrix_np(m, z, u, v) -> np.ndarray:
    """P (N+2, N+2) of rankone.full_matrix in float64 NumPy (C B = 0 for the integrator)."""
    n = len(m)
    P = np.zeros((n + 2, n + 2))
    P[0, 0] = P[0, 1] = P[1, 1] = 1.0
    P[1, 2:] = z
    P[2:, 0] = m          # m (C A) = m (1, 1)
    P[2:, 1] = m
    P[2:, 2:] = np.outer(u, v)
    return P


def p_eff_np(s) -> np.ndarray:
    zm, zu, vm, vu = s
    return np.array([[1, 1, 0, 0], [0, 1, zm, zu], [1, 1, 0, 0], [0, 0, vm, vu]], float)


def cubic_np(s) -> np.ndarray:
    """Coefficients of eq. (6)'s cubic (highest first)."""
    zm, zu, vm, vu = s
    return np.array([1.0, -(vu + 2), 2 * vu - zm + 1, vu * zm - vu - vm * zu])


def match_error_np(a, b) -> float:
    return min(float(np.max(np.abs(a - b[list(p)]))) for p in itertools.permutations(range(len(a))))


def check_reduction(m, z, u, v) -> tuple[float, float, float]:
    """(root error, factorisation error, spectral radius) of one model, float64."""
    m, z, u, v = (np.asarray(x, float) for x in (m, z, u, v))
    s = np.array([z @ m, z @ u, v @ m, v @ u])
    roots = np.roots(cubic_np(s))
    eig = np.linalg.eigvals(full_matrix_np(m, z, u, v))
    top = eig[np.argsort(-np.abs(eig))[:3]]
    char = np.poly(p_eff_np(s))                        # degree 4, highest first
    fact = np.max(np.abs(char - np.concatenate([cubic_np(s), [0.0]])))
    return match_error_np(roots, top), float(fact), float(np.max(np.abs(eig)))


def spectral_radius_eff(s: np.ndarray) -> np.ndarray:
    """max |eig(P_eff)| for overlaps s (..., 4), float64."""
    zm, zu, vm, vu = (s[..., i].astype(float) for i in range(4))
    M = np.zeros(s.shape[:-1] + (4, 4))
    M[..., 0, 0] = M[..., 0, 1] = M[..., 1, 1] = M[..., 2, 0] = M[..., 2, 1] = 1.0
    M[..., 1, 2], M[..., 1, 3], M[..., 3, 2], M[..., 3, 3] = zm, zu, vm, vu
    return np.max(np.abs(np.linalg.eigvals(M)), axis=-1)


def first_stable(steps: np.ndarray, radius: np.ndarray) -> int | None:
    """The first step from which every later record has radius < 1 (None: never)."""
    bad = np.nonzero(~(radius < 1))[0]
    if len(bad) == 0:
        return int(steps[0])
    return int(steps[bad[-1] + 1]) if bad[-1] + 1 < len(steps) else None


def _reduction(records, m_final: np.ndarray) -> dict:
    steps = records.step.values
    idx = np.unique(np.linspace(0, len(steps) - 1, min(REDUCTION_RECORDS, len(steps)))
                    .round().astype(int))
    errs, facts = [], []
    for r in range(records.sizes["run"]):
        for i in idx:
            z, u, v = (records[k].values[i, r] for k in ("z", "u", "v"))
            if not np.all(np.isfinite(z)):
                continue
            e, f, _ = check_reduction(m_final[r], z, u, v)
            errs.append(e)
            facts.append(f)
    return {"max_root_error": float(max(errs)) if errs else None,
            "max_factorisation_error": float(max(facts)) if facts else None,
            "checked_models": len(errs), "records_per_seed": int(len(idx))}


def stage1_landscape(recipe: GbTheoryRecipe) -> dict:
    """Eq. (9) and eq. (8) against rollouts of built models over the s_zm grid."""
    s1 = recipe.stage1
    grid = np.linspace(*s1.s_zm_range, s1.points)
    key = jax.random.split(run_keys(recipe.seed, 1)[0], 2)[0]
    x0 = np.array(s1.x0, float)
    sims = []
    for s in grid:
        p = init_with_szm(key, recipe.N, float(s), dtype=jnp.float32)
        P = full_matrix_np(*(np.asarray(x, float) for x in (p.m, p.z, p.u, p.v)))
        st = np.zeros(P.shape[0])
        st[:2] = x0
        total = 0.0
        for _ in range(s1.horizon):
            total += 0.5 * float(st[0] ** 2 + st[1] ** 2)
            st = P @ st
        sims.append(total)
    sims = np.array(sims)
    with jax.enable_x64(True):
        paper = np.asarray(stage1_loss_paper(jnp.asarray(grid), s1.horizon), float)
        exact = np.array([float(stage1_loss_exact(jnp.asarray(s), jnp.asarray(x0), s1.horizon))
                          for s in grid])

    def err(pred):
        d = np.abs(np.log(pred) - np.log(sims))
        return {"max_abs_log_error": float(np.max(d)), "worst_s_zm": float(grid[np.argmax(d)]),
                "median_abs_log_error": float(np.median(d)),
                "asymmetry": asymmetry(grid, pred)}
    span = float(np.log(sims.max()) - np.log(sims.min()))
    return {"s_zm": grid.tolist(), "simulated": sims.tolist(), "paper": paper.tolist(),
            "exact": exact.tolist(), "log_span": span, "paper_formula": err(paper),
            "exact_formula": err(exact), "argmin_simulated": float(grid[np.argmin(sims)]),
            "argmin_paper": float(grid[np.argmin(paper)]),
            "asymmetry_simulated": asymmetry(grid, sims)}


def asymmetry(grid: np.ndarray, loss: np.ndarray) -> float | None:
    """How much steeper ln L rises on the positive side of its minimum than on the negative
    side: the mean slope from the minimum to the grid's right end over the mean slope from
    the minimum to its left end (None when the minimum sits at an end)."""
    ll = np.log(np.asarray(loss, float))
    i = int(np.argmin(ll))
    if i == 0 or i == len(grid) - 1:
        return None
    right = (ll[-1] - ll[i]) / (grid[-1] - grid[i])
    left = (ll[0] - ll[i]) / (grid[i] - grid[0])
    return float(right / left) if left > 0 else None


def stage1_starts(records) -> dict:
    """s_zm from each start over the starts phase: where it ends, when it turns negative,
    how far the starts' spread shrinks."""
    steps = records.step.values
    szm = records.overlaps.values[:, :, 0]                  # (step, start)
    first_neg = []
    for r in range(szm.shape[1]):
        neg = np.nonzero(szm[:, r] < 0)[0]
        first_neg.append(int(steps[neg[0]]) if len(neg) else None)
    end = szm[-1]
    spread0 = float(np.ptp(szm[0]))
    return {"starts": szm[0].tolist(), "final": end.tolist(), "epochs": int(steps[-1]),
            "first_negative_epoch": first_neg,
            "settle_value_median": float(np.median(end)),
            "settle_epoch_max": max((e for e in first_neg if e is not None), default=None),
            "spread_ratio": float(np.ptp(end) / spread0) if spread0 > 0 else None}


def summarise(recipe: GbTheoryRecipe, results: dict) -> dict:
    res = results["train"]
    rec = res.records
    steps = rec.step.values
    m_final = np.asarray(res.state.m, float)
    s = rec.overlaps.values.astype(float)                   # (step, run, 4)
    radius = spectral_radius_eff(s)                          # (step, run)
    status = res.status
    per = {"first_stable_epoch": [], "stage_boundaries": [], "stage_slopes": [], "final_loss": [],
           "final_overlaps": [], "status": status}
    loss = rec.loss.values
    for r in range(s.shape[1]):
        per["first_stable_epoch"].append(first_stable(steps, radius[:, r]))
        ok = np.isfinite(loss[:, r])
        fit = loss_stages(steps[ok], loss[ok, r], N_STAGES) if ok.sum() > 30 else None
        per["stage_boundaries"].append(fit.boundaries if fit else None)
        per["stage_slopes"].append(fit.slopes if fit else None)
        per["final_loss"].append(float(loss[ok, r][-1]) if ok.any() else None)
        per["final_overlaps"].append(s[-1, r].tolist())
    healthy = [i for i, st in enumerate(status) if st == "ok"]

    def med(key):
        vals = [per[key][i] for i in healthy if per[key][i] is not None]
        return float(np.median(vals)) if vals else None
    bounds = [per["stage_boundaries"][i] for i in healthy if per["stage_boundaries"][i]]
    out = {"recipe": recipe.name, "paper": recipe.paper, "seeds": recipe.seeds,
           "seed": recipe.seed, "epochs": recipe.train.epochs,
           "reduction": _reduction(rec, m_final),
           "first_stable_epoch": med("first_stable_epoch"),
           "stage_boundaries": (np.median(np.asarray(bounds, float), axis=0).round().astype(int)
                                .tolist() if bounds else None),
           "final_loss": med("final_loss"), "per_seed": per,
           "stage1": {**stage1_starts(results["starts"].records),
                      **stage1_landscape(recipe)}}
    out["stage2"] = _stage2(recipe, rec, per, healthy)
    out["horizons"] = horizon_runs(recipe, results, per["first_stable_epoch"])
    out["stage3"] = stage3_summary(recipe, results)
    out["stages_check"] = stages_check(steps, radius, per, healthy, results.get("stage3"))
    nf = noise_free(recipe, res, healthy)
    nf["sgd_first_stable_epoch"] = [per["first_stable_epoch"][i] for i in healthy]
    out["noise_free"] = nf
    return out


def spectral_stages(recipe: GbTheoryRecipe, first_stable_epoch, last: int) -> list[int]:
    """The paper's stages of one run as boundaries: stage 1 until `stage2.start_epoch` (the
    epoch the authors take as its end, where s_zm has settled), stage 2 (the competition)
    until the first stable epoch, stage 3 after it."""
    e1 = min(recipe.stage2.start_epoch, last)
    fs = last + 1 if first_stable_epoch is None else max(int(first_stable_epoch), e1)
    return [e1, fs]


def _stage2(recipe: GbTheoryRecipe, rec, per: dict, healthy: list) -> dict:
    steps = rec.step.values
    last = int(steps[-1])
    rows = {"lambda3_error": [], "lambda1_sq_error": [], "cos_median": [], "cos_max": [],
            "records_with_pair": [], "stages": []}
    cos_seed0 = None
    for r in healthy:
        b = spectral_stages(recipe, per["first_stable_epoch"][r], last)
        windows = [(0, b[0]), (b[0], b[1]), (b[1], last + 1)]
        a = stage2_along(steps, rec.overlaps.values[:, r].astype(float), windows,
                         recipe.stage2.t_h)
        w2 = (steps >= b[0]) & (steps < b[1]) & np.isfinite(a["cos"])
        rows["lambda3_error"].append(a["lambda3_error"])
        rows["lambda1_sq_error"].append(a["lambda1_sq_error"])
        rows["cos_median"].append(float(np.median(a["cos"][w2])) if w2.any() else None)
        rows["cos_max"].append(float(np.max(a["cos"][w2])) if w2.any() else None)
        rows["records_with_pair"].append(a["records_with_pair"])
        rows["stages"].append(b)
        if cos_seed0 is None:
            cos_seed0 = [None if not np.isfinite(c) else float(c) for c in a["cos"]]
    i0 = int(np.argmin(np.abs(steps - recipe.stage2.start_epoch)))
    r0 = healthy[0] if healthy else 0
    return {"per_seed": rows, "cos_seed0": cos_seed0,
            "surrogate": alpha_paths(recipe, rec.overlaps.values[i0, r0].astype(float))}


# -- stage 2 (Fig. 4) --------------------------------------------------------------------------

def split_roots_np(s) -> tuple[complex, float] | None:
    """(lambda_1, the pair's member with Im > 0; lambda_3, the real root) of eq. (6), float64;
    None when the cubic has three real roots (no complex pair: outside stage 2's shape)."""
    r = np.roots(cubic_np(s))
    i3 = int(np.argmin(np.abs(r.imag)))
    pair = [x for i, x in enumerate(r) if i != i3]
    if max(abs(x.imag) for x in pair) < 1e-12:
        return None
    return max(pair, key=lambda x: x.imag), float(r[i3].real)


def lambda3_approx_np(s) -> float:
    """Eq. (10)."""
    zm, zu, vm, vu = s
    return vu + vm * zu / (vu ** 2 - 2 * vu - zm + 1)


def lambda1_sq_np(s, lam3: float) -> float:
    """Eq. (11): |lambda_1|^2 = c + b lambda_3 + lambda_3^2."""
    zm, _, _, vu = s
    return (2 * vu - zm + 1) - (vu + 2) * lam3 + lam3 ** 2


def stage2_along(steps, s, windows, t_h: int) -> dict:
    """Eq. (10)-(11) against the exact roots at every record of one run with a complex pair,
    the largest errors per window [start, end) of `windows`, and the cosine between the
    gradients of (|lambda_1|^2)^T_h and L_0 at each record (None without a pair)."""
    from learndyn.closedloop.theory.surrogate import gradient_cosine
    e3, e1, pair = [], [], []
    for x in s:
        sp = split_roots_np(x)
        if sp is None:
            e3.append(np.nan)
            e1.append(np.nan)
            pair.append(False)
            continue
        l1, l3 = sp
        l3a = lambda3_approx_np(x)
        e3.append(abs(l3a - l3))
        e1.append(abs(lambda1_sq_np(x, l3a) - abs(l1) ** 2))
        pair.append(True)
    e3, e1, pair = np.array(e3), np.array(e1), np.array(pair)
    with jax.enable_x64(True):
        cos = np.asarray(jax.jit(jax.vmap(lambda v: gradient_cosine(v, t_h)))(
            jnp.asarray(s, jnp.float64)))
    cos = np.where(pair & np.isfinite(cos), cos, np.nan)

    def window_max(a):
        out = []
        for lo, hi in windows:
            w = (steps >= lo) & (steps < hi) & np.isfinite(a)
            out.append(float(np.max(a[w])) if w.any() else None)
        return out
    return {"lambda3_error": window_max(e3), "lambda1_sq_error": window_max(e1),
            "records_with_pair": int(pair.sum()), "cos": cos}


def alpha_paths(recipe: GbTheoryRecipe, s0: np.ndarray) -> dict:
    """SGD on L_alpha from the overlaps s0 for each alpha: the spectral radius and the
    dominant pair along each path (float64)."""
    from learndyn.closedloop.theory.surrogate import optimise_surrogate
    c = recipe.stage2
    out = {"start_overlaps": [float(x) for x in s0], "alphas": []}
    with jax.enable_x64(True):
        for a in c.alphas:
            path = np.asarray(optimise_surrogate(jnp.asarray(s0, jnp.float64), float(a), c.t_h,
                                                 c.lr, c.steps, c.clip))
            rho = spectral_radius_eff(path)
            pairs = [split_roots_np(x) for x in path]
            l1 = [[float(p[0].real), float(p[0].imag)] if p else None for p in pairs]
            inside = np.nonzero(rho < 1)[0]
            out["alphas"].append({"alpha": float(a), "radius": rho.tolist(), "lambda1": l1,
                                  "min_radius": float(rho.min()),
                                  "final_radius": float(rho[-1]),
                                  "first_inside": int(inside[0]) if len(inside) else None})
    return out


def horizon_runs(recipe: GbTheoryRecipe, results: dict, main_first_stable: list) -> dict:
    """Per episode length T: each seed's first stable epoch and final spectral radius (the
    main run, T = train.horizon, included with its first `horizon.seeds` seeds)."""
    from learndyn.closedloop.theory.world import horizon_phase
    n = min(recipe.horizon.seeds, recipe.seeds)
    rows = []
    for T in sorted(set(recipe.horizon.horizons) | {recipe.train.horizon}):
        if T == recipe.train.horizon and horizon_phase(T) not in results:
            res, fs = results["train"], main_first_stable[:n]
        else:
            res = results[horizon_phase(T)]
            fs = None
        steps = res.records.step.values
        rho = spectral_radius_eff(res.records.overlaps.values.astype(float))[:, :n]
        if fs is None:
            fs = [first_stable(steps, rho[:, r]) for r in range(rho.shape[1])]
        rows.append({"T": int(T), "first_stable_epoch": fs,
                     "final_radius": [float(x) for x in rho[-1]],
                     "radius_seed0": rho[:, 0].tolist(), "steps": steps.tolist()})
    return {"seeds": n, "runs": rows}


# -- stage 3 and the noise (Fig. 5) ------------------------------------------------------------

def noise_free(recipe: GbTheoryRecipe, res, healthy: list) -> dict:
    """Per healthy seed of the main run: the first stable epoch of gradient descent on the
    exact expected loss (eq. 14: no sampling), run as the exact Gram flow from the seed's
    initial vectors with the same learning rate and clipping, against the SGD run's."""
    from learndyn.closedloop.theory.expected_loss import expected_loss_eff
    from learndyn.closedloop.theory.gram_flow import gram_gd, overlaps_from_gram
    tr = recipe.train
    rec = res.records
    m = np.asarray(res.state.m, float)
    n = int(rec.step.values[-1])

    def F(s, _):
        return expected_loss_eff(s, tr.horizon, tr.beta, tr.x0_range)
    out = []
    with jax.enable_x64(True):
        run = jax.jit(lambda G: jax.vmap(overlaps_from_gram)(gram_gd(G, F, n, tr.lr,
                                                                     tr.clip)[0]))
        for r in healthy:
            X = np.stack([m[r]] + [rec[k].values[0, r].astype(float) for k in ("u", "v", "z")],
                         axis=1)
            ss = np.asarray(run(jnp.asarray(X.T @ X)))
            out.append(first_stable(np.arange(n + 1), spectral_radius_eff(ss)))
    return {"seeds": [int(rec.seed.values[r]) for r in healthy], "first_stable_epoch": out}


def stage3_summary(recipe: GbTheoryRecipe, results: dict) -> dict | None:
    if "stage3" not in results:
        return None
    from learndyn.closedloop.theory.world import stage3_start
    r, i, stable = stage3_start(results["train"])
    rec = results["stage3"].records
    loss = rec.loss.values
    return {"seed": int(results["train"].records.seed.values[r]),
            "start_epoch": int(results["train"].records.step.values[i]), "from_stable": stable,
            "betas": [float(b) for b in recipe.stage3.betas],
            "initial_loss": loss[0].tolist(), "final_loss": loss[-1].tolist()}



# -- stages from the spectrum and from the loss (issue 24, section 4) ---------------------------
# A loss boundary "agrees" with the spectral one (the first stable epoch) when it lies within
# AGREE_FACTOR of it: (b + 1) / (fs + 1) in [1 / 1.5, 1.5], the factor of the closed-loop
# world's gb.closed.stabilises_at_plateau_end.
AGREE_FACTOR = 1.5


def crossing(radius: np.ndarray, steps: np.ndarray) -> int | None:
    """The step at which the spectral radius enters the unit disk for good, when it started
    outside (None: it never entered, or it was inside from the start: no crossing)."""
    if not radius[0] >= 1:
        return None
    return first_stable(steps, radius)


def add_stage_row(rows: dict, slopes, c, boundaries) -> None:
    """Append one seed to `rows` ({pattern, crossing, agree, gap}: lists): its loss-only
    three-stage pattern, its spectral crossing `c` (None: none), whether the loss boundary
    nearest to c lies within AGREE_FACTOR of it, and their gap in epochs."""
    from learndyn.core.stages import three_stage_pattern
    rows["pattern"].append(three_stage_pattern(slopes))
    rows["crossing"].append(c)
    if c is None or not boundaries:
        rows["agree"].append(None if c is None else False)
        rows["gap"].append(None)
        return
    near = min(boundaries, key=lambda x: abs(x - c))
    rows["agree"].append(1 / AGREE_FACTOR <= (near + 1) / (c + 1) <= AGREE_FACTOR)
    rows["gap"].append(int(abs(near - c)))


def stages_check(steps, radius, per: dict, healthy: list, control) -> dict:
    """Per healthy seed: the loss-only three-stage pattern (core.stages.three_stage_pattern),
    the spectral crossing, and whether a loss boundary agrees with it (the gap in epochs);
    on the control runs (stage 3: each starts already stable, so there are no stages to
    find), how often each detector fires."""
    from learndyn.core.stages import three_stage_pattern
    rows = {"seeds": len(healthy), "pattern": [], "crossing": [], "agree": [], "gap": []}
    for r in healthy:
        add_stage_row(rows, per["stage_slopes"][r], crossing(radius[:, r], steps),
                      per["stage_boundaries"][r])
    if control is not None:
        from learndyn.core.stages import loss_stages
        cs = control.records.step.values
        crad = spectral_radius_eff(control.records.overlaps.values.astype(float))
        closs = control.records.loss.values
        pat, cross = [], []
        for r in range(crad.shape[1]):
            ok = np.isfinite(closs[:, r]) & (closs[:, r] > 0)
            fit = loss_stages(cs[ok], closs[ok, r], N_STAGES) if ok.sum() > 30 else None
            pat.append(three_stage_pattern(fit.slopes) if fit else None)
            # fired: the radius left the disk and came back (a boundary where none is)
            fs = first_stable(cs, crad[:, r])
            cross.append(fs if fs is not None and fs > cs[0] else None)
        rows["control"] = {"runs": int(crad.shape[1]), "pattern": pat, "crossing": cross,
                           "max_radius": float(np.nanmax(crad))}
    return rows
