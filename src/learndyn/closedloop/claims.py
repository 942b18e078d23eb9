"""Claims of Ger & Barak (2025), checked on the recorded gb2025-fig1 runs."""

from __future__ import annotations

import numpy as np

from learndyn.core.claims import Check, claim, majority, verdict

PAPER = "ger-barak-2025"
RECIPE = "gb2025-fig1"

# A plateau falls at least ~3x more slowly (in log-loss per log-epoch) than both drops beside it.
PLATEAU_SLOPE_RATIO = 0.3
# The plateau's end is a soft transition spread over ~0.2 decades of epochs in the curves, so
# "at the end of the plateau" means within a factor 1.5 of the fitted boundary.
BOUNDARY_FACTOR = 1.5
# "About the same final loss": the open-loop student's final deployed loss within a factor
# 1.5 of the teacher's (both have fallen by more than 100x from their initial losses).
SAME_LOSS_FACTOR = 1.5
# Gains fitted by least squares to a nonlinear policy are approximate, so a path counts as
# crossing the unstable-oscillatory region only where radius(A + B K) >= 1.02. Stage 1 of
# closed-loop learning itself sits at the region's edge (k1 ~ -0.02, k2 ~ 0: oscillatory,
# radius ~ 1.01, as the brief describes), so "stays out" is read as: the closed-loop path's
# depth (radius - 1) inside the region is at most a third of the open-loop path's.
CROSS_RADIUS, DEPTH_FACTOR = 1.02, 3.0


@claim("gb.closed.plateau", paper=PAPER,
       text="closed-loop loss: a fast drop, a plateau, then a second drop",
       expected=f"stage slopes s1, s3 < 0 and |s2| <= {PLATEAU_SLOPE_RATIO} min(|s1|, |s3|)")
def _plateau(src) -> Check:
    s = src.get(RECIPE).summary["closed"]["per_seed"]
    flags, shown = [], []
    for slopes, b in zip(s["stage_slopes"], s["stage_boundaries"]):
        if slopes is None:
            flags.append(None)
            continue
        s1, s2, s3 = slopes[:3]
        flags.append(s1 < 0 and s3 < 0 and abs(s2) <= PLATEAU_SLOPE_RATIO * min(abs(s1), abs(s3)))
        shown.append(f"slopes {s1:.2f}/{s2:.2f}/{s3:.2f} breaks {b[:2]}")
    ok = majority(flags)
    n = sum(bool(f) for f in flags if f is not None)
    return Check(verdict(ok), f"{n}/{len(flags)} seeds; seed 0: {shown[0] if shown else 'n/a'}")


@claim("gb.closed.stabilises_at_plateau_end", paper=PAPER,
       text="the first stable step of P falls at the end of the closed-loop plateau",
       expected=f"first stable step within x{BOUNDARY_FACTOR} of the plateau's end")
def _stabilises(src) -> Check:
    s = src.get(RECIPE).summary["closed"]["per_seed"]
    flags, shown = [], []
    for fss, b in zip(s["first_stable_step"], s["stage_boundaries"]):
        if fss is None or b is None:
            flags.append(None if b is None else False)
            continue
        end = b[1]  # boundary between stage 2 (plateau) and stage 3 (second drop)
        ratio = (fss + 1) / (end + 1)
        flags.append(1 / BOUNDARY_FACTOR <= ratio <= BOUNDARY_FACTOR)
        shown.append(f"stable at {fss}, plateau ends {end}")
    ok = majority(flags)
    n = sum(bool(f) for f in flags if f is not None)
    return Check(verdict(ok), f"{n}/{len(flags)} seeds; seed 0: {shown[0] if shown else 'never stable'}")


@claim("gb.open.deployed_peak", paper=PAPER,
       text="the open-loop student's deployed loss rises above its initial value before converging",
       expected="peak deployed loss > 1.1 x initial in most seeds")
def _peak(src) -> Check:
    summ = src.get(RECIPE).summary
    if "open" not in summ:
        return Check("inconclusive", "no open-loop phase in this run")
    per = summ["open"]["per_seed"]
    ratios = [p / i for p, i in zip(per["peak_deployed_loss"], per["initial_deployed_loss"])
              if p is not None]
    frac = summ["over_seeds"]["open_peak_above_initial_fraction"]
    return Check(verdict(None if not ratios else frac >= 0.5),
                 f"peak/initial median {np.median(ratios):.3g} (peak at epoch "
                 f"{per['peak_step'][0]}); {frac:.0%} of seeds above 1.1x")


@claim("gb.same_final_loss", paper=PAPER,
       text="closed- and open-loop training end at about the same (deployed) loss",
       expected=f"final loss ratio open/closed within x{SAME_LOSS_FACTOR}")
def _same(src) -> Check:
    summ = src.get(RECIPE).summary
    if "open" not in summ:
        return Check("inconclusive", "no open-loop phase in this run")
    q = summ["over_seeds"]["final_loss_ratio_open_over_closed"]
    if q["median"] is None:
        return Check("inconclusive", "no seed finished both phases")
    ok = 1 / SAME_LOSS_FACTOR <= q["median"] <= SAME_LOSS_FACTOR
    return Check(verdict(ok), f"ratio median {q['median']:.3g} (IQR {q['q25']:.3g}-{q['q75']:.3g}); "
                 f"closed {summ['closed']['final_loss']:.4g}, open {summ['open']['final_loss']:.4g}")


@claim("gb.gain_paths", paper=PAPER,
       text="closed-loop gains stay out of the unstable-oscillatory region that open-loop gains cross",
       expected=f"open max radius(A+BK) inside >= {CROSS_RADIUS}; closed depth <= open depth / "
                f"{DEPTH_FACTOR:.0f}")
def _gains(src) -> Check:
    summ = src.get(RECIPE).summary
    if "gain_regions" not in summ or "open" not in summ["gain_regions"]:
        return Check("inconclusive", "no gain-plane analysis (needs a 2-state linear plant)")
    g = summ["gain_regions"]
    depth = {m: max([d for d in g[m]["max_radius_in_oscillatory_unstable"] if d is not None],
                    default=1.0) for m in ("closed", "open")}
    ok = depth["open"] >= CROSS_RADIUS and (depth["closed"] - 1) * DEPTH_FACTOR <= depth["open"] - 1
    frac = g["closed"]["fraction_of_steps"]["oscillatory-unstable"]
    note = (f"; the closed path spends {frac:.0%} of records at the region's edge, so the "
            "literal 'stays out' does not hold") if frac > 0 else ""
    return Check(verdict(ok), f"max radius inside: closed {depth['closed']:.3f}, open "
                 f"{depth['open']:.3f}{note}")
