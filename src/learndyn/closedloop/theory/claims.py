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
# Eq. (9) is an order-of-magnitude formula (theory/stage1.py): it is counted as reproducing
# the stage-1 landscape when its log error stays within LOG_FRACTION of the landscape's
# log range over the grid (at T = 100 the loss spans ~e^60), and its minimum sits on the
# same side of s_zm = 0 as the simulated one (the slope that drives s_zm negative).
LOG_FRACTION = 0.1
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
              "L(s_zm) = 1/2 (1 - r^(T+1)) / (1 - r), r = |1 + sqrt(s_zm)|^2 (Fig. 3)",
              expected=f"eq. 9's max |ln L - ln L_sim| <= {LOG_FRACTION:g} x the simulated "
                       "ln-range over the grid, and its minimum on the side of 0 of the "
                       "simulated one")
def _loss_formula(src) -> Check:
    s1 = _summary(src)["stage1"]
    pf, ex = s1["paper_formula"], s1["exact_formula"]
    tol = LOG_FRACTION * s1["log_span"]
    same_side = (s1["argmin_paper"] < 0) == (s1["argmin_simulated"] < 0)
    ok = pf["max_abs_log_error"] <= tol and same_side
    return Check(verdict(ok),
                 f"eq. 9: max |Δ ln L| {pf['max_abs_log_error']:.3g} (median "
                 f"{pf['median_abs_log_error']:.3g}) against a simulated ln-range of "
                 f"{s1['log_span']:.3g} (tolerance {tol:.3g}); minimum at s_zm = "
                 f"{s1['argmin_paper']:.3g} vs simulated {s1['argmin_simulated']:.3g}; the "
                 f"exact eq. 8 (W = 0): max |Δ ln L| {ex['max_abs_log_error']:.3g} over "
                 f"{len(s1['s_zm'])} models")


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
