"""Claims of Ger & Barak (2025), checked on the recorded gb2025-fig1 runs."""

from __future__ import annotations

import numpy as np

from learndyn.closedloop.summary import PEAK_MARGIN
from learndyn.core.claims import (Check, ClaimSet, healthy_runs, over_seeds, setting_check,
                                  verdict)
from learndyn.core.stages import PLATEAU_SLOPE_RATIO, three_stage_pattern
from learndyn.core.summaries import finite_median, quartiles

PAPER = "ger-barak-2025"
CLAIMS = ClaimSet(PAPER)
RECIPE = "gb2025-fig1"

# A plateau falls at least ~3x more slowly (in log-loss per log-epoch) than both drops beside it
# (core.stages.three_stage_pattern).
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


def _status(summ, mode) -> list[str]:
    """Each seed's status in phase `mode` ("ok" / "diverged"); a summary written before
    per-seed statuses has them from its `diverged_at` list."""
    per = summ[mode]["per_seed"]
    if "status" in per:
        return per["status"]
    return ["ok" if d is None else "diverged" for d in summ[mode]["diverged_at"]]


def _healthy(summ, *modes):
    """The seeds healthy in every phase of `modes` (core.claims.healthy_runs)."""
    return healthy_runs(*[_status(summ, m) for m in modes],
                        what="seeds" if len(modes) == 1 else f"seeds (in {' or '.join(modes)} loop)")


@CLAIMS.claim("gb.closed.plateau", text="closed-loop loss: a fast drop, a plateau, then a second drop",
       expected=f"stage slopes s1, s3 < 0 and |s2| <= {PLATEAU_SLOPE_RATIO} min(|s1|, |s3|)")
def _plateau(src) -> Check:
    summ = src.get(RECIPE).summary
    h = _healthy(summ, "closed")
    if h.inconclusive:
        return h.inconclusive
    s = summ["closed"]["per_seed"]
    flags, shown = [], []
    for slopes, b in zip(h.pick(s["stage_slopes"]), h.pick(s["stage_boundaries"])):
        if slopes is None:
            flags.append(None)
            continue
        s1, s2, s3 = slopes[:3]
        flags.append(three_stage_pattern(slopes))
        shown.append(f"slopes {s1:.2f}/{s2:.2f}/{s3:.2f} breaks {b[:2]}")
    vote = over_seeds(flags)
    return Check(verdict(vote.ok), f"{vote}; seed {h.idx[0]}: "
                 f"{shown[0] if shown else 'n/a'}{h.note}")


@CLAIMS.claim("gb.closed.stabilises_at_plateau_end", text="the first stable step of P falls at the end of the closed-loop plateau",
       expected=f"first stable step within x{BOUNDARY_FACTOR} of the plateau's end")
def _stabilises(src) -> Check:
    summ = src.get(RECIPE).summary
    h = _healthy(summ, "closed")
    if h.inconclusive:
        return h.inconclusive
    s = summ["closed"]["per_seed"]
    flags, shown = [], []
    for fss, b in zip(h.pick(s["first_stable_step"]), h.pick(s["stage_boundaries"])):
        if fss is None or b is None:
            flags.append(None if b is None else False)
            continue
        end = b[1]  # boundary between stage 2 (plateau) and stage 3 (second drop)
        ratio = (fss + 1) / (end + 1)
        flags.append(1 / BOUNDARY_FACTOR <= ratio <= BOUNDARY_FACTOR)
        shown.append(f"stable at {fss}, plateau ends {end}")
    vote = over_seeds(flags)
    return Check(verdict(vote.ok), f"{vote}; seed {h.idx[0]}: "
                 f"{shown[0] if shown else 'never stable'}{h.note}")


@CLAIMS.claim("gb.open.deployed_peak", text="the open-loop student's deployed loss rises above its initial value before converging",
       expected="peak deployed loss > 1.1 x initial in most seeds (95 % Wilson interval above 1/2)")
def _peak(src) -> Check:
    summ = src.get(RECIPE).summary
    if "open" not in summ:
        return Check("inconclusive", "no open-loop phase in this run")
    # the student of a diverged teacher imitates a broken network: healthy in both phases
    h = _healthy(summ, "closed", "open")
    if h.inconclusive:
        return h.inconclusive
    per = summ["open"]["per_seed"]
    pairs = [(p, i) for p, i in zip(h.pick(per["peak_deployed_loss"]),
                                    h.pick(per["initial_deployed_loss"])) if p is not None]
    if not pairs:
        return Check("inconclusive", "no healthy seed has a recorded open-loop peak")
    ratios = [p / i for p, i in pairs]
    vote = over_seeds([p > PEAK_MARGIN * i for p, i in pairs])
    return Check(verdict(vote.ok),
                 f"peak/initial median {np.median(ratios):.3g} (peak at epoch "
                 f"{per['peak_step'][h.idx[0]]}); above 1.1x: {vote}{h.note}")


@CLAIMS.claim("gb.same_final_loss", text="closed- and open-loop training end at about the same (deployed) loss",
       expected=f"final loss ratio open/closed within x{SAME_LOSS_FACTOR}")
def _same(src) -> Check:
    summ = src.get(RECIPE).summary
    if "open" not in summ:
        return Check("inconclusive", "no open-loop phase in this run")
    h = _healthy(summ, "closed", "open")
    if h.inconclusive:
        return h.inconclusive
    fl = [(o, c) for o, c in zip(h.pick(summ["open"]["per_seed"]["final_loss"]),
                                 h.pick(summ["closed"]["per_seed"]["final_loss"]))
          if o is not None and c is not None]
    q = quartiles([o / c for o, c in fl])
    if q["median"] is None:
        return Check("inconclusive", "no seed finished both phases")
    ok = 1 / SAME_LOSS_FACTOR <= q["median"] <= SAME_LOSS_FACTOR
    closed, opened = (finite_median([x[k] for x in fl]) for k in (1, 0))
    return Check(verdict(ok), f"ratio median {q['median']:.3g} (IQR {q['q25']:.3g}-{q['q75']:.3g}); "
                 f"closed {closed:.4g}, open {opened:.4g}{h.note}")


@CLAIMS.claim("gb.gain_paths", text="closed-loop gains stay out of the unstable-oscillatory region that open-loop gains cross",
       expected=f"open max radius(A+BK) inside >= {CROSS_RADIUS}; closed depth <= open depth / "
                f"{DEPTH_FACTOR:.0f}")
def _gains(src) -> Check:
    summ = src.get(RECIPE).summary
    if "gain_regions" not in summ or "open" not in summ["gain_regions"]:
        return Check("inconclusive", "no gain-plane analysis (needs a 2-state linear plant)")
    h = _healthy(summ, "closed", "open")
    if h.inconclusive:
        return h.inconclusive
    g = summ["gain_regions"]
    depth = {m: max([d for d in h.pick(g[m]["max_radius_in_oscillatory_unstable"])
                     if d is not None], default=1.0) for m in ("closed", "open")}
    ok = depth["open"] >= CROSS_RADIUS and (depth["closed"] - 1) * DEPTH_FACTOR <= depth["open"] - 1
    frac = g["closed"]["fraction_of_steps"]["oscillatory-unstable"]
    note = (f"; the closed path spends {frac:.0%} of records at the region's edge, so the "
            "literal 'stays out' does not hold") if frac else ""
    return Check(verdict(ok), f"max radius inside: closed {depth['closed']:.3f}, open "
                 f"{depth['open']:.3f}{note}{h.note}")


# Our run matches the authors' saved run where each claimed number of theirs lies within
# Z_MAX standard deviations (over our healthy seeds) of our seeds' median: on a log scale for
# losses, ratios and steps (they vary by factors from seed to seed), linearly for the gains.
# Their run is one draw; a draw from our seeds' distribution falls within 3 sd of its median
# with probability ~0.99 if it is normal, so over 8 numbers a false refutation is ~5 % likely.
# The spread needs at least MIN_SEEDS healthy seeds (the paper-scale check runs --seeds 8).
Z_MAX, MIN_SEEDS = 3.0, 3


def _z(values, theirs, log: bool) -> float:
    v = np.asarray(values, float)
    t = float(theirs)
    if log:
        if np.any(v <= 0) or t <= 0:
            return float("inf")
        v, t = np.log(v), np.log(t)
    sd = float(np.std(v, ddof=1))
    gap = abs(t - float(np.median(v)))
    return gap / sd if sd > 0 else (0.0 if gap == 0 else float("inf"))


@CLAIMS.claim("gb.matches_authors_run", text="our run of Figs. 1-2 on the authors' conventions "
              "matches the authors' own saved run",
              expected=f"each of their numbers (closed: final deployed loss, gains; open: peak "
                       f"deployed loss, peak update, settle update, final loss) within "
                       f"{Z_MAX:g} sd of our seeds' median")
def _matches_authors(src) -> Check:
    from learndyn.closedloop.authors import CLAIMED
    summ = src.get(RECIPE).summary
    a = summ.get("authors")
    if not a:
        return Check("inconclusive", "the run has no authors' comparison (authors_run is set "
                     "by the 'reference' preset)")
    h = _healthy(summ, "closed", "open")
    if h.inconclusive:
        return h.inconclusive
    if a["differs"]:
        return Check("inconclusive", "not at the authors' settings: " + "; ".join(a["differs"][:3])
                     + (f" and {len(a['differs']) - 3} more" if len(a["differs"]) > 3 else ""))
    if len(h.idx) < MIN_SEEDS:
        return Check("inconclusive", f"{len(h.idx)} healthy seed(s): the seed-to-seed spread "
                     f"needs at least {MIN_SEEDS} (run with --seeds 8)")
    rows, zs = [], []
    for phase, names in CLAIMED.items():
        for name in names:
            e = a[phase][name]
            vals = [v for v in h.pick(e["per_seed"]) if v is not None]
            if len(vals) < MIN_SEEDS or e["authors"] is None:
                return Check("inconclusive", f"{phase} {name}: {len(vals)} finite seed values")
            if name == "final_gains":
                z = max(_z([v[i] for v in vals], e["authors"][i], log=False) for i in range(2))
                shown = "[" + ", ".join(f"{x:.3g}" for x in e["ours"]) + "] vs [" + \
                    ", ".join(f"{x:.3g}" for x in e["authors"]) + "]"
            else:
                z = _z(vals, e["authors"], log=True)
                shown = f"{e['ours']:.3g} vs {e['authors']:.3g}"
            zs.append(z)
            rows.append(f"{phase} {name} {shown} (z {z:.1f})")
    return Check(verdict(max(zs) <= Z_MAX), f"ours vs authors over {len(h.idx)} seeds: "
                 + "; ".join(rows) + h.note)


# The paper's text against the authors' code (both presets of gb2025-fig1, run, not
# asserted): the result is "the same" when the open-loop student's deployed loss peaks above
# PEAK_MARGIN x its initial value in both, the closed-loop first stable step is within
# SAME_STEP_FACTOR, and the closed-loop final gains within GAIN_TOL of each other. The two
# deployed losses are different quantities (the objective with its control term, against the
# state cost), so their values are shown, not compared. 1.5x: the 8-seed spread of the first
# stable step is a few per cent, so a 50 % shift is a real change; GAIN_TOL 0.1: the 8-seed
# spread of the final gains is ~0.02 (README).
SAME_STEP_FACTOR, GAIN_TOL = 1.5, 0.1


def _result(name: str, summ: dict):
    """(first stable step, final gains, open peak / initial, final deployed loss) of a run,
    medians over its healthy seeds; or an inconclusive Check."""
    h = _healthy(summ, "closed", "open")
    if h.inconclusive:
        return Check("inconclusive", f"{name}: {h.inconclusive.measured}")
    c, o = summ["closed"]["per_seed"], summ["open"]["per_seed"]
    ratios = [p / i for p, i in zip(h.pick(o["peak_deployed_loss"]),
                                    h.pick(o["initial_deployed_loss"])) if p is not None and i]
    return (finite_median(h.pick(c["first_stable_step"])),
            finite_median(h.pick(c["final_gains"])), finite_median(ratios),
            summ["closed"]["final_loss"])


def _show(f, g, r, loss) -> str:
    return (f"stable at {f:.0f}, gains [{g[0]:.3f}, {g[1]:.3f}], open peak/initial {r:.3g}, "
            f"final deployed {loss:.3g}")


def _code_vs(src, overrides: dict, label: str) -> Check:
    """The run of the authors' conventions (the 'reference' preset) against the run with
    `overrides` on top of it: "verified" when both give the same result (above)."""
    h = _healthy(src.get(RECIPE).summary, "closed", "open")
    if h.inconclusive:
        return h.inconclusive
    if getattr(src, "scale", "paper") != "paper":
        # more runs of the recipe, for a comparison that means something only at the paper's
        # size; the check itself is tested on fabricated summaries
        return Check("inconclusive", "decided at paper scale only (it runs gb2025-fig1 once "
                     "more per setting)")
    code = _result("code", src.get(RECIPE, {"preset": "reference"}).summary)
    other = _result(label, src.get(RECIPE, {"preset": "reference", **overrides}).summary)
    for v in (code, other):
        if isinstance(v, Check):
            return v
    (f1, g1, r1, _), (f2, g2, r2, _) = code, other
    if None in (f1, f2, g1, g2, r1, r2):
        return Check("inconclusive", f"a number is missing: code {code}, {label} {other}")
    same = (r1 > PEAK_MARGIN and r2 > PEAK_MARGIN and max(f1, f2) <= SAME_STEP_FACTOR * min(f1, f2)
            and max(abs(a - b) for a, b in zip(g1, g2)) <= GAIN_TOL)
    return Check(verdict(same), f"code: {_show(*code)}; {label}: {_show(*other)}")


@CLAIMS.claim("gb.reference_vs_paper.conventions", text="the loss conventions of the paper's "
              "text give the result of the authors' code (Figs. 1-2)",
              expected=f"both: open-loop peak > {PEAK_MARGIN:g}x initial; closed first stable "
                       f"step within x{SAME_STEP_FACTOR:g}, final gains within {GAIN_TOL:g}")
def _reference_vs_paper(src) -> Check:
    # the paper_text preset sets every field the reference preset sets
    return _code_vs(src, {"preset": "paper_text"}, "text")


# One setting at a time: the reference run with one field set as the paper's text sets it
# (the value read from the recipe's paper_text preset), against the reference run. A setting
# on which the text and the code agree needs no run. Where they differ, the result is the
# same by the criterion of gb.reference_vs_paper.conventions. What each setting is:
SETTINGS = {
    # the loss over the 50 steps: their sum, the text's mean (a 50x smaller gradient)
    "time_reduction": ("task.time_reduction", "the closed-loop loss over time"),
    # ||x_t||^2 over the 2 state dims: their MSELoss's mean, the text's squared norm
    "state_reduction": ("task.state_reduction", "the state cost over the state dimensions"),
    # beta * u^2 over the batch: their sum, the text's mean (a 100x weaker penalty)
    "control_batch": ("task.control_batch", "the control penalty over the batch"),
    # the state cost (their test loss) or the trained objective (the text's)
    "deployed_loss": ("task.deployed", "the deployed loss"),
    # the student's imitation loss over the 50 steps: their sum, the text's (1/T) sum
    "student_time_reduction": ("open_loop.time_reduction", "the student's loss over time"),
    # the loss over the batch: a mean in both
    "batch_reduction": ("train.batch_reduction", "the loss over the batch"),
    # the student's number of updates: 1000 in both
    "student_updates": ("open_loop.epochs", "the student's number of updates"),
}


def _setting_claim(name: str, field: str, what: str):
    @CLAIMS.claim(f"gb.reference_vs_paper.{name}", text=f"{what}: the paper's text's setting "
                  f"({field}) gives the result of the authors' code's",
                  expected="the two agree, or the run with the text's value gives the same "
                           "result (as in gb.reference_vs_paper.conventions)")
    def check(src) -> Check:
        from learndyn.recipes import preset_field
        return setting_check(
            field, preset_field(RECIPE, "reference", field),
            preset_field(RECIPE, "paper_text", field),
            lambda: _healthy(src.get(RECIPE).summary, "closed", "open").inconclusive,
            lambda over, label: _code_vs(src, over, label))
    return check


for _name, (_field, _what) in SETTINGS.items():
    _setting_claim(_name, _field, _what)


# -- Fig. 6: motor tracking (gb2025-fig6) --------------------------------------------------------
TRACKING = "gb2025-fig6"
# "Eigenvalues at the learned frequencies": an eigenvalue of (-I + W) / tau whose imaginary
# part lies within FREQ_TOL (relative) of 2 pi f, for each learned frequency f. The agent
# shares the loop with the plant, so W alone need not carry the exact frequency; 20 % still
# tells the four targets (0.1-0.4 Hz, at least 33 % apart) from one another.
FREQ_TOL = 0.2
# A transient rise of another frequency's probe loss counts as competition when it climbs at
# least RISE above its running minimum before its own drop.
RISE = 1.1


def _tracking(src, key: str = "probe_drop_step"):
    """(summary, closed-loop per_seed, healthy seeds, None), or (..., an inconclusive Check)
    when the run records no probes, or no per-seed `key`, or too few healthy seeds."""
    summ = src.get(TRACKING).summary
    if not summ.get("frequencies"):
        return summ, None, None, Check("inconclusive", "the run records no probe losses")
    per = summ["closed"]["per_seed"]
    if key not in per:
        return summ, per, None, Check("inconclusive", f"the run records no {key}")
    h = _healthy(summ, "closed")
    return summ, per, h, h.inconclusive


@CLAIMS.claim("gb.tracking.staircase_low_to_high", text="tracking sinusoids, the loss falls as "
              "a staircase with one drop per frequency, from low frequencies to high (Fig. 6)",
              expected="every frequency's probe loss drops (x2 or more), in increasing order "
                       "of frequency, in most seeds (95 % Wilson interval above 1/2)")
def _staircase(src) -> Check:
    summ, per, h, stop = _tracking(src)
    if stop:
        return stop
    f = np.asarray(summ["frequencies"])
    order = np.argsort(f)
    flags, shown = [], []
    for drops in h.pick(per["probe_drop_step"]):
        d = [drops[i] for i in order]
        flags.append(all(x is not None for x in d) and all(a < b for a, b in zip(d, d[1:])))
        shown.append(", ".join(f"{f[i]:g} Hz: {'none' if drops[i] is None else drops[i]}"
                               for i in order))
    vote = over_seeds(flags)
    return Check(verdict(vote.ok), f"{vote}; drop epochs, seed {h.idx[0]}: {shown[0]}{h.note}")


@CLAIMS.claim("gb.tracking.eigs_at_frequencies", text="W develops an eigenvalue pair at each "
              "learned frequency (Fig. 6)",
              expected=f"for each learned frequency f, an eigenvalue of (-I + W) / tau with "
                       f"|Im| within {FREQ_TOL:.0%} of 2 pi f at the end, in most seeds")
def _eigs(src) -> Check:
    summ, per, h, stop = _tracking(src, "w_rates_final")
    if stop:
        return stop
    f = summ["frequencies"]
    flags, shown = [], []
    for drops, ims in zip(h.pick(per["probe_drop_step"]), h.pick(per["w_rates_final"])):
        learned = [fj for fj, d in zip(f, drops) if d is not None]
        if not learned:
            flags.append(None)
            continue
        ims = np.abs(np.asarray(ims))
        errs = [float(np.min(np.abs(ims - 2 * np.pi * fj)) / (2 * np.pi * fj)) for fj in learned]
        flags.append(max(errs) <= FREQ_TOL)
        shown.append(", ".join(f"{fj:g} Hz {e:.0%}" for fj, e in zip(learned, errs)))
    vote = over_seeds(flags)
    return Check(verdict(vote.ok), f"{vote}; nearest eigenvalue's relative gap, seed "
                 f"{h.idx[0]}: {shown[0] if shown else 'no learned frequency'}{h.note}")


@CLAIMS.claim("gb.tracking.competition", text="learning one frequency transiently raises "
              "another's loss (Fig. 6)",
              expected=f"some frequency's probe loss climbs >= x{RISE:g} above its running "
                       "minimum before its own drop, in most seeds")
def _competition(src) -> Check:
    summ, per, h, stop = _tracking(src, "probe_rise")
    if stop:
        return stop
    rises = h.pick(per["probe_rise"])
    flags = [max(r) >= RISE for r in rises]
    vote = over_seeds(flags)
    f = summ["frequencies"]
    shown = ", ".join(f"{fj:g} Hz x{r:.2f}" for fj, r in zip(f, rises[0]))
    return Check(verdict(vote.ok), f"{vote}; largest rise before its drop, seed "
                 f"{h.idx[0]}: {shown}{h.note}")


@CLAIMS.claim("gb.tracking.open_loop_worse", text="the open-loop student's deployed loss rises "
              "early and stays above the closed-loop network's for thousands of epochs "
              "(Fig. 6)",
              expected="open-loop deployed loss above the closed-loop one at most records "
                       "after the first 10 epochs, and its peak above its initial value, in "
                       "most seeds")
def _open_worse(src) -> Check:
    summ, _, _, stop = _tracking(src)
    if stop:
        return stop
    if "open" not in summ:
        return Check("inconclusive", "no open-loop phase in this run")
    per = summ["open"]["per_seed"]
    if "above_closed_fraction" not in per:
        return Check("inconclusive", "the run records no closed/open comparison")
    h = _healthy(summ, "closed", "open")
    if h.inconclusive:
        return h.inconclusive
    frac = h.pick(per["above_closed_fraction"])
    peaks = [p / i if p is not None and i else None for p, i in
             zip(h.pick(per["peak_deployed_loss"]), h.pick(per["initial_deployed_loss"]))]
    flags = [fr is not None and fr > 0.5 and pk is not None and pk > PEAK_MARGIN
             for fr, pk in zip(frac, peaks)]
    vote = over_seeds(flags)
    return Check(verdict(vote.ok), f"{vote}; seed {h.idx[0]}: above closed loop at "
                 f"{frac[0]:.0%} of records, peak x{_num(peaks[0])} its initial{h.note}")


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"
