"""Claims of Ger & Barak (2025) about the rank-one theory model, checked on gb2025-theory."""

from __future__ import annotations

from learndyn.core.claims import Check, ClaimSet, verdict

PAPER = "ger-barak-2025"
CLAIMS = ClaimSet(PAPER)
RECIPE = "gb2025-theory"

# The reduction is exact, so its roots and eig(P) (both float64, from the same recorded
# vectors) differ by rounding only. Near stage 1, P has a nearly double eigenvalue at 1 (the
# integrator's Jordan block, split by +-sqrt(s_zm)), and a double root moves by
# ~sqrt(machine epsilon) = 1.5e-8 under a rounding-size perturbation; ROOT_TOL = 1e-6 leaves
# a factor ~60 above that, and is still ~1e4 below anything a wrong reduction would give (the
# roots move by ~|s| ~ 1e-2 when an overlap is dropped).
ROOT_TOL, FACT_TOL = 1e-6, 1e-10
# Eq. (9) is an order-of-magnitude formula (theory/stage1.py): it drops the start's
# projection on the eigenvectors and, near s_zm = 0, the integrator's Jordan growth (its
# worst point is there: ~e^8 at T = 100). What the paper draws from it is the landscape's
# shape: "steep for s_zm > 0, gentle for s_zm < 0". So the formula counts as reproducing the
# simulated landscape when its median log error is within MEDIAN_FRACTION of the landscape's
# log range over the grid (at T = 100 the loss spans ~e^77; 5 % is ~e^4, an order-of-
# magnitude formula's typical miss), and the landscape, simulated and by the formula, rises
# at least ASYMMETRY times more steeply (mean slope of ln L) right of its minimum than left.
MEDIAN_FRACTION, ASYMMETRY = 0.05, 2.0
# "Settles to a small negative value": every start is negative at the end of the starts
# phase, and the starts' spread has at least halved (they converge toward one value).
SPREAD_RATIO = 0.5


def _summary(src):
    return src.get(RECIPE).summary


@CLAIMS.claim("gb.theory.reduction_exact", text="the nonzero spectrum of the rank-one loop's "
              "(N+2) x (N+2) matrix P is that of the 4 x 4 P_eff of the overlaps, and its "
              "characteristic polynomial factorises as eq. (6)",
              expected=f"max |root - eig(P)| <= {ROOT_TOL:g} and polynomial coefficients "
                       f"within {FACT_TOL:g} (float64, every checked record)")
def _reduction(src) -> Check:
    red = _summary(src)["reduction"]
    e, f = red["max_root_error"], red["max_factorisation_error"]
    if e is None:
        return Check("inconclusive", "no finite record to check")
    return Check(verdict(e <= ROOT_TOL and f <= FACT_TOL),
                 f"max root error {e:.2g}, factorisation {f:.2g}, over "
                 f"{red['checked_models']} models ({red['records_per_seed']} records a seed)")


@CLAIMS.claim("gb.stage1.loss_formula", text="the stage-1 loss of a position policy is "
              "L(s_zm) = 1/2 (1 - r^(T+1)) / (1 - r), r = |1 + sqrt(s_zm)|^2: steep for "
              "s_zm > 0, gentle for s_zm < 0 (Fig. 3)",
              expected=f"eq. 9's median |ln L - ln L_sim| <= {MEDIAN_FRACTION:g} x the "
                       f"simulated ln-range over the grid; ln L rises >= {ASYMMETRY:g}x more "
                       "steeply right of its minimum than left, simulated and by eq. 9")
def _loss_formula(src) -> Check:
    s1 = _summary(src)["stage1"]
    pf, ex = s1["paper_formula"], s1["exact_formula"]
    tol = MEDIAN_FRACTION * s1["log_span"]
    a_sim, a_pap = s1.get("asymmetry_simulated"), pf.get("asymmetry")
    if a_sim is None:
        return Check("inconclusive", "the simulated landscape's minimum sits at an end of "
                     "the s_zm grid: widen stage1.s_zm_range")
    # eq. 9's own minimum is at s_zm = 0 exactly (r = 1): its asymmetry is measured from there
    shape = a_sim >= ASYMMETRY and (a_pap is not None and a_pap >= ASYMMETRY)
    ok = pf["median_abs_log_error"] <= tol and shape
    return Check(verdict(ok),
                 f"eq. 9: median |Δ ln L| {pf['median_abs_log_error']:.3g} against a simulated "
                 f"ln-range of {s1['log_span']:.3g} (tolerance {tol:.3g}); worst "
                 f"{pf['max_abs_log_error']:.3g} at s_zm = {pf['worst_s_zm']:.3g}; steeper "
                 f"right than left x{a_sim:.3g} simulated, x{_num(a_pap)} by eq. 9; minimum at "
                 f"s_zm = {s1['argmin_simulated']:.3g} (simulated); the exact eq. 8 (W = 0): "
                 f"max |Δ ln L| {ex['max_abs_log_error']:.3g} over {len(s1['s_zm'])} models")


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"


@CLAIMS.claim("gb.stage1.szm_settles_negative", text="from every start, s_zm settles to a "
              "small negative value within a few tens of epochs (Fig. 3)",
              expected=f"every start negative by the end of the starts phase, the starts' "
                       f"spread shrunk to <= {SPREAD_RATIO:g} of its initial value")
def _settles(src) -> Check:
    s1 = _summary(src)["stage1"]
    final, first = s1["final"], s1["first_negative_epoch"]
    neg = sum(x < 0 for x in final)
    ratio = s1["spread_ratio"]
    ok = neg == len(final) and ratio is not None and ratio <= SPREAD_RATIO
    lo, hi = min(final), max(final)
    when = max((e for e in first if e is not None), default=None)
    return Check(verdict(ok),
                 f"{neg}/{len(final)} starts negative at epoch {s1['epochs']}: s_zm "
                 f"{lo:.3g} to {hi:.3g} (median {s1['settle_value_median']:.3g}); the last "
                 f"start turned negative at epoch {when}; spread x{ratio:.2f} of the initial")


# Stage 2 (Fig. 4). The stages are the paper's (analysis.spectral_stages): stage 2 runs from
# stage2.start_epoch (the authors' end of stage 1) to the first stable epoch.
# Eq. (10) is first order in the coupling s_vm s_zu; it counts as locating the roots when its
# error stays below FORMULA_TOL over stage 2 in every seed: the dominant pair's |lambda_1|^2
# falls by ~0.1-0.2 across the stage on its way into the unit disk, so 0.01 places the
# crossing within a tenth of that path.
FORMULA_TOL = 0.01
# "Nearly opposite": the median cosine between the two terms' gradients over stage 2 at most
# OPPOSE_COS (an angle of at least 154 degrees) in a seed; decided over the seeds by their
# 95 % Wilson interval (core.claims.over_seeds).
OPPOSE_COS = -0.9


def _stage2(src):
    return _summary(src)["stage2"]


@CLAIMS.claim("gb.stage2.lambda3_formula", text="in stage 2, lambda_3 ~ s_vu + s_vm s_zu / "
              "(s_vu^2 - 2 s_vu - s_zm + 1) and |lambda_1|^2 = c + b lambda_3 + lambda_3^2 "
              "locate the roots (Fig. 4)",
              expected=f"max error of eq. 10 (lambda_3) and of eq. 11 with it (|lambda_1|^2) "
                       f"<= {FORMULA_TOL:g} over stage 2, in every seed")
def _lambda3(src) -> Check:
    per = _stage2(src)["per_seed"]
    e3 = [x[1] for x in per["lambda3_error"]]
    e1 = [x[1] for x in per["lambda1_sq_error"]]
    if not e3 or any(x is None for x in e3 + e1):
        return Check("inconclusive", "a seed has no stage-2 record with a complex pair")
    ok = max(e3) <= FORMULA_TOL and max(e1) <= FORMULA_TOL
    s3 = [x[2] for x in per["lambda3_error"] if x[2] is not None]
    s1 = [x[0] for x in per["lambda3_error"] if x[0] is not None]
    return Check(verdict(ok), f"stage 2, over {len(e3)} seeds: max |Δ lambda_3| "
                 f"{max(e3):.2g}, max |Δ |lambda_1|^2| {max(e1):.2g}; lambda_3's error in "
                 f"stage 1 {max(s1, default=float('nan')):.2g}, in stage 3 "
                 f"{max(s3, default=float('nan')):.2g} (the coupling is no longer small)")


@CLAIMS.claim("gb.stage2.gradients_oppose", text="in stage 2 the gradients of the long-term "
              "term (|lambda_1|^2)^T_h and the short-term cost L_0 point nearly opposite "
              "ways (the zig-zag, Fig. 4)",
              expected=f"median cos over stage 2 <= {OPPOSE_COS:g} in most seeds (95 % "
                       "Wilson interval above 1/2)")
def _oppose(src) -> Check:
    from learndyn.core.claims import over_seeds
    per = _stage2(src)["per_seed"]
    meds = per["cos_median"]
    vote = over_seeds([None if m is None else m <= OPPOSE_COS for m in meds])
    shown = ", ".join("n/a" if m is None else f"{m:.3f}" for m in meds)
    worst = max((m for m in per["cos_max"] if m is not None), default=None)
    return Check(verdict(vote.ok), f"{vote}; median cos per seed {shown}; largest cos in "
                 f"stage 2 {_num(worst)}")


@CLAIMS.claim("gb.alpha.long_term_stabilises", text="weighting the long-term term (alpha -> 1) "
              "takes the surrogate's eigenvalues into the unit disk, the short-term cost "
              "alone (alpha = 0) does not (Fig. 4)",
              expected="the largest alpha's path enters the disk (radius < 1); alpha = 0's "
                       "never does")
def _alpha(src) -> Check:
    sur = _stage2(src)["surrogate"]["alphas"]
    lo, hi = min(sur, key=lambda a: a["alpha"]), max(sur, key=lambda a: a["alpha"])
    if lo["alpha"] != 0 or hi["alpha"] <= 0:
        return Check("inconclusive", "stage2.alphas must include 0 and a larger alpha")
    ok = hi["min_radius"] < 1 and lo["min_radius"] >= 1
    rows = "; ".join(f"alpha {a['alpha']:g}: min {a['min_radius']:.4f}, end "
                     f"{a['final_radius']:.4f}" for a in sur)
    ends = [a["alpha"] for a in sur if a["final_radius"] < 1]
    return Check(verdict(ok), f"{rows}; ending inside: alpha = "
                 f"{', '.join(f'{a:g}' for a in ends) or 'none'}")


@CLAIMS.claim("gb.horizon.long_episodes_stabilise", text="trained with short episodes the full "
              "model does not stabilise, with long ones it does (T plays alpha, Fig. 4)",
              expected="the shortest T: no seed stable at the end; the longest: every seed "
                       "stable, from some epoch on")
def _horizon(src) -> Check:
    runs = _summary(src)["horizons"]["runs"]
    if len(runs) < 2:
        return Check("inconclusive", "needs at least two episode lengths")
    short, long_ = runs[0], runs[-1]
    ok = all(f is None for f in short["first_stable_epoch"]) and \
        all(f is not None for f in long_["first_stable_epoch"])
    rows = "; ".join(f"T = {h['T']}: " + ", ".join("never" if f is None else str(f)
                                                   for f in h["first_stable_epoch"])
                     for h in runs)
    return Check(verdict(ok), f"first stable epoch per seed: {rows}")


# Stage 3 (Fig. 5): the reduced models against the full model, fed the same batches, compared
# by core.theory's relative error (||pred - sim|| / ||sim|| over the recorded expected loss of
# a run). TRACK_TOL: the paper draws the reduced model's loss over the full model's on a log
# axis; 0.2 relative (0.08 decade) keeps the curves on top of each other there.
TRACK_TOL = 0.2
# The induced Gram flow is exact: what separates it from the full model is float32 rounding
# accumulated over the stage's updates (each ~1e-7 relative); EXACT_TOL = 1e-3 leaves room for
# 1e4 such steps and is still 100x below the free model's measured error.
EXACT_TOL = 1e-3


def _theory(src, name):
    th = _summary(src).get("theory", {}).get(name)
    return None if th is None else th["observables"]["loss"]


def _stage3_note(src) -> str:
    s3 = _summary(src).get("stage3") or {}
    if not s3:
        return ""
    how = "its first stable epoch" if s3.get("from_stable") else \
        "its last epoch (it never stabilised)"
    return f" (from seed {s3['seed']} at {how}, {s3['start_epoch']})"


def _per_beta(src, name):
    th = _theory(src, name)
    betas = (_summary(src).get("stage3") or {}).get("betas")
    if th is None or not betas:
        return None
    return list(zip(betas, th["per_run"]))


@CLAIMS.claim("gb.stage3.reduced_model_tracks", text="in stage 3 the paper's reduced model "
              "(gradient descent on the four overlaps as free parameters) tracks the full "
              "model's loss, for each control weight beta (Fig. 5)",
              expected=f"relative error of the free-overlap model's loss <= {TRACK_TOL:g} "
                       "for every beta")
def _tracks(src) -> Check:
    return _within(src, "gb.free_overlaps", TRACK_TOL)


def _within(src, theory: str, tol: float) -> Check:
    """Verified when the theory's relative error is at most `tol` for every beta."""
    rows = _per_beta(src, theory)
    if rows is None:
        return Check("inconclusive", "no stage-3 comparison recorded")
    ok = all(e is not None and e <= tol for _, e in rows)
    shown = ", ".join(f"beta {b:g}: {_num(e)}" for b, e in rows)
    return Check(verdict(ok), f"relative error per beta: {shown}{_stage3_note(src)}")


@CLAIMS.claim("gb.induced_flow_exact", text="gradient descent on (z, u, v) is exactly a flow of "
              "the 4 x 4 Gram matrix of (m, u, v, z) (not in the paper)",
              expected=f"the Gram flow's relative error against the full model <= "
                       f"{EXACT_TOL:g} for every beta (float32, the same batches)")
def _exact(src) -> Check:
    return _within(src, "gb.gram_flow", EXACT_TOL)


@CLAIMS.claim("gb.free_overlaps_vs_exact", text="the exact Gram flow is closer to the full "
              "model than the paper's free-overlap model, which drops the metric factors "
              "(|m|^2, |u|^2 + |z|^2, ...) of the induced flow (not in the paper)",
              expected="the Gram flow's error below the free model's for every beta; the "
                       "ratio reported")
def _closer(src) -> Check:
    free, gram = _per_beta(src, "gb.free_overlaps"), _per_beta(src, "gb.gram_flow")
    if free is None or gram is None:
        return Check("inconclusive", "no stage-3 comparison recorded")
    pairs = [(b, f, g) for (b, f), (_, g) in zip(free, gram) if f is not None and g is not None]
    ok = bool(pairs) and all(g < f for _, f, g in pairs)
    shown = ", ".join(f"beta {b:g}: x{f / g:.3g}" if g > 0 else f"beta {b:g}: inf"
                      for b, f, g in pairs)
    return Check(verdict(ok), f"free-model error over Gram-flow error: {shown}")


# Stages from the spectrum and from the loss (issue 24, section 4). An independent audit (50
# seeds) found the loss-only three-stage pattern in 0 of 50 seeds of Fig. 1 and the crossing
# of eig(P) into the unit disk in 50 of 50. Here, per seed: the crossing (the first stable
# epoch of a run that started outside the disk), the loss-only pattern
# (core.stages.three_stage_pattern), and whether a loss boundary lies within x1.5 of the
# crossing (analysis.AGREE_FACTOR); the control runs are gb2025-theory's stage-3 runs, which
# start already stable: no detector should find stages there.


def _fig1_rows(summ) -> dict:
    """The stage rows (analysis.add_stage_row) of gb2025-fig1's healthy closed-loop seeds; its
    crossing is the first stable step when the run started outside the disk (> 0)."""
    from learndyn.closedloop.theory.analysis import add_stage_row
    per = summ["closed"]["per_seed"]
    st = per.get("status", ["ok"] * len(per["first_stable_step"]))
    rows = {"pattern": [], "crossing": [], "agree": [], "gap": []}
    for i, ok in enumerate(st):
        if ok == "ok":
            fs = per["first_stable_step"][i]
            add_stage_row(rows, per["stage_slopes"][i], fs if fs is not None and fs > 0 else None,
                          per["stage_boundaries"][i])
    return rows


def _describe(name, rows):
    from learndyn.core.claims import over_seeds
    import numpy as np
    n = len(rows["crossing"])
    cross = over_seeds([c is not None for c in rows["crossing"]])
    agree = over_seeds(rows["agree"])
    pat = sum(bool(p) for p in rows["pattern"])
    gaps = [g for g in rows["gap"] if g is not None]
    gap = f", median gap {np.median(gaps):.0f} epochs" if gaps else ""
    text = (f"{name}: crossing in {cross}; a loss boundary within x1.5 of it in {agree}"
            f"{gap}; the loss-only three-stage pattern in {pat}/{n}")
    return text, cross.ok, agree.ok


@CLAIMS.claim("gb.stages.spectrum_vs_loss", text="the stages are marked by the spectrum: eig(P) "
              "crosses into the unit disk in every run, at a boundary the loss shows too, and "
              "the detectors find no stage in runs that have none",
              expected="per recipe (gb2025-fig1, gb2025-theory): the crossing and its "
                       "agreement with a loss boundary (within x1.5) each in most seeds (95 % "
                       "Wilson interval above 1/2); on the already-stable control runs, no "
                       "crossing; the loss-only pattern's counts reported")
def _spectrum_vs_loss(src) -> Check:
    th = _summary(src)
    rows_th = th.get("stages_check")
    if rows_th is None:
        return Check("inconclusive", "the gb2025-theory run has no stage comparison")
    t_fig1, c1, a1 = _describe("gb2025-fig1", _fig1_rows(src.get("gb2025-fig1").summary))
    t_th, c2, a2 = _describe("gb2025-theory", rows_th)
    ctl = rows_th.get("control")
    if ctl is None:
        return Check("inconclusive", f"{t_fig1}; {t_th}; no control runs")
    fired = sum(c is not None for c in ctl["crossing"])
    pat = sum(bool(p) for p in ctl["pattern"])
    votes = [c1, a1, c2, a2]
    ok = None if any(v is None for v in votes) else (all(votes) and fired == 0)
    return Check(verdict(ok), f"{t_fig1}; {t_th}; control (stage-3 runs from a stable start, "
                 f"max radius {ctl['max_radius']:.4f}): spectral detector fired in "
                 f"{fired}/{ctl['runs']}, the loss-only pattern in {pat}/{ctl['runs']}")
