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

REDUCTION_RECORDS = 25
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
    per = {"first_stable_epoch": [], "stage_boundaries": [], "final_loss": [],
           "final_overlaps": [], "status": status}
    loss = rec.loss.values
    for r in range(s.shape[1]):
        per["first_stable_epoch"].append(first_stable(steps, radius[:, r]))
        ok = np.isfinite(loss[:, r])
        per["stage_boundaries"].append(
            loss_stages(steps[ok], loss[ok, r], N_STAGES).boundaries if ok.sum() > 30 else None)
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
    return out
