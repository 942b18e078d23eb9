"""Claims of Tian 2025 (Li2), checked on the recorded li2-* runs."""

from __future__ import annotations

import numpy as np

from learndyn.core.claims import Check, ClaimSet, healthy_runs, majority, over_seeds, setting_check, verdict
from learndyn.core.summaries import finite_median

PAPER = "li2-2025"
CLAIMS = ClaimSet(PAPER)

# G_F "grows before grokking": its peak comes no later than the generalisation step and is at
# least 2x its minimum (a factor 2 is well above the seed-to-seed noise of ||G_F||, a few %).
GF_GROWTH = 2.0
# "Features are irreps": at least 80 % of the active nodes of generalising runs put >= 90 % of
# their non-trivial power in one irrep (analysis.CONCENTRATION, analysis.ACTIVE_NORM; the
# trivial irrep's share is reported apart, as trivial_power_share).
FEATURE_FRACTION = 0.8


def _variants(src, recipe):
    return src.get(recipe).summary["variants"]


def _status(v) -> list[str]:
    """Each seed's status in variant v ("ok" / "diverged"); a summary written before per-seed
    statuses has them from the events' outcomes (or, with no events, counts every seed ok)."""
    per = v["per_seed"]
    if "status" in per:
        return per["status"]
    if "events" in per:
        return ["diverged" if e["outcome"] == "diverged" else "ok" for e in per["events"]]
    return ["ok"] * len(next(iter(per.values())))


def _healthy(vs: dict):
    """(hs, stop, note) for the variants a claim reads: hs, each variant's healthy seeds
    ({name: Healthy}); stop, an inconclusive Check when some variant has too few of them
    (core.claims.healthy_runs), else None; note, text naming the seeds left out ("" if none).
    The variant-level medians and fractions of the summary are over its healthy seeds."""
    hs = {name: healthy_runs(_status(v)) for name, v in vs.items()}
    for name, h in hs.items():
        if h.inconclusive:
            return hs, Check("inconclusive", f"variant {name!r}: {h.inconclusive.measured}"), ""
    notes = [f"{name!r}{h.note}" for name, h in hs.items() if h.note]
    return hs, None, f" [{'; '.join(notes)}]" if notes else ""


def _fmt(x, p=".3g"):
    return "n/a" if x is None else format(x, p)


def _gen_step(v, h) -> float:
    """Median generalisation step of the healthy seeds `h`, counting never-generalising seeds
    as +inf (so that a setting that never groks is slower than any that does)."""
    steps = [e["generalisation_step"] for e in h.pick(v["per_seed"]["events"])]
    steps = [np.inf if s is None else s for s in steps]
    return float(np.median(steps))


@CLAIMS.claim("li2.wd_needed", text="with weight decay the Fig. 3 setup generalises; with eta = 0 it does not",
       expected="eta > 0: most seeds generalise; eta = 0: most do not")
def _wd(src) -> Check:
    vs = _variants(src, "li2-fig3")
    pos = [v for v in vs.values() if v["settings"]["weight_decay"] > 0]
    zero = [v for v in vs.values() if v["settings"]["weight_decay"] == 0]
    if not pos or not zero:
        return Check("inconclusive", "needs variants with eta > 0 and eta = 0")
    _, stop, note = _healthy(vs)
    if stop:
        return stop
    fp = np.mean([v["fraction_generalising"] for v in pos])
    fz = np.mean([v["fraction_generalising"] for v in zero])
    tp = np.median([v["final_test_acc"] for v in pos])
    tz = np.median([v["final_test_acc"] for v in zero])
    return Check(verdict(fp >= 0.5 and fz < 0.5),
                 f"generalising: eta>0 {fp:.0%} (test acc {tp:.3f}), eta=0 {fz:.0%} "
                 f"(test acc {tz:.3f}){note}")


@CLAIMS.claim("li2.gf_grows_before_grokking", text="||G_F|| grows before the network groks (Fig. 3)",
       expected=f"G_F peak >= {GF_GROWTH}x its minimum, at or before the generalisation step")
def _gf(src) -> Check:
    vs = _variants(src, "li2-fig3")
    hs, stop, note = _healthy(vs)
    if stop:
        return stop
    flags, shown = [], []
    for name, v in vs.items():
        per = v["per_seed"]
        for e, pk in zip(hs[name].pick(per["events"]), hs[name].pick(per["gf_peak_step"])):
            if e["generalisation_step"] is None or pk is None:
                continue
            flags.append(pk <= e["generalisation_step"])
            shown.append((pk, e["generalisation_step"]))
    if not flags:
        return Check("inconclusive", "no seed generalised, so there is no grokking to precede")
    growth = [g for name, v in vs.items()
              for g, e in zip(hs[name].pick(v["per_seed"]["gf_growth"]),
                              hs[name].pick(v["per_seed"]["events"]))
              if e["generalisation_step"] is not None and g is not None]
    vote = over_seeds(flags)
    ok = None if vote.ok is None else vote.ok and np.median(growth) >= GF_GROWTH
    return Check(verdict(ok), f"grokking seeds that peak first: {vote}; "
                 f"median growth x{np.median(growth):.3g}; "
                 f"first: G_F peak at {shown[0][0]}, groks at {shown[0][1]}{note}")


@CLAIMS.claim("li2.v_moves_before_w", text="V moves first, then W (Fig. 3)",
       expected="V reaches half of its final distance from init before W does, in most seeds "
                "(95 % Wilson interval above 1/2)")
def _vw(src) -> Check:
    vs = _variants(src, "li2-fig3")
    hs, stop, note = _healthy(vs)
    if stop:
        return stop
    pairs = [(pv, pw) for name, v in vs.items()
             for pv, pw in zip(hs[name].pick(v["per_seed"]["half_move_step_V"]),
                               hs[name].pick(v["per_seed"]["half_move_step_W"]))
             if pv is not None and pw is not None]
    if not pairs:
        return Check("inconclusive", "no recorded weight movement")
    vote = over_seeds([pv < pw for pv, pw in pairs])
    return Check(verdict(vote.ok),
                 f"{vote}; median half-movement step V "
                 f"{np.median([p[0] for p in pairs]):.0f}, W {np.median([p[1] for p in pairs]):.0f}"
                 f"{note}")


@CLAIMS.claim("li2.features_are_irreps", text="in a generalising solution each hidden node concentrates its power in one irrep",
       expected=f">= {FEATURE_FRACTION:.0%} of active nodes with >= 90 % of their non-trivial "
                "power in one irrep")
def _features(src) -> Check:
    vs = _variants(src, "li2-fig3")
    hs, stop, note = _healthy(vs)
    if stop:
        return stop
    fr = [c for name, v in vs.items()
          for c, e in zip(hs[name].pick(v["per_seed"]["concentrated_node_fraction"]),
                          hs[name].pick(v["per_seed"]["events"]))
          if e["outcome"] == "generalises"]
    if not fr:
        return Check("inconclusive", "no generalising run to inspect")
    # the trivial irrep's share of the active nodes' power (summaries since issue 10)
    triv = [t for name, v in vs.items() if "trivial_power_share" in v["per_seed"]
            for t, e in zip(hs[name].pick(v["per_seed"]["trivial_power_share"]),
                            hs[name].pick(v["per_seed"]["events"]))
            if e["outcome"] == "generalises" and t is not None]
    shown = f"; trivial irrep's share of the power {np.median(triv):.3f}" if triv else ""
    return Check(verdict(np.median(fr) >= FEATURE_FRACTION),
                 f"median concentrated fraction {np.median(fr):.2f} over {len(fr)} generalising "
                 f"runs{shown}{note}")


@CLAIMS.claim("li2.large_lr_memorises", text="a large learning rate memorises while small ones learn features (Fig. 7)",
       expected="largest lr: fewer generalising seeds and higher energy per node than the smallest")
def _lr(src) -> Check:
    vs = _variants(src, "li2-fig7")
    hs, stop, note = _healthy(vs)
    if stop:
        return stop
    by_lr = sorted(vs.values(), key=lambda v: v["settings"]["lr"])
    small, large = by_lr[0], by_lr[-1]
    # a collapsed run (all weights decayed to 0) has no defined node energy: skipped
    energy = {id(v): finite_median(hs[name].pick(v["per_seed"]["energy_mean"]))
              for name, v in vs.items()}
    shown = "generalising / mean node energy: " + ", ".join(
        f"lr {v['settings']['lr']:g}: {v['fraction_generalising']:.0%} / {_fmt(energy[id(v)])} "
        f"(test acc {_fmt(v['final_test_acc'])}, groks at {_fmt(v.get('generalisation_step'))})"
        for v in by_lr) + note
    if not any(v["fraction_generalising"] > 0 for v in by_lr):
        return Check("inconclusive", "no learning rate generalised, so there is nothing to "
                     "contrast; " + shown)
    e_small, e_large = energy[id(small)], energy[id(large)]
    ok = (large["fraction_generalising"] < small["fraction_generalising"]
          and e_small is not None and e_large is not None and e_large > e_small)
    return Check(verdict(ok), shown)


@CLAIMS.claim("li2.zero_init_faster", text="zero-initialised V groks faster than the default init (Figs. 14-16)",
       expected="median generalisation step: zero-init < default")
def _zero(src) -> Check:
    vs = _variants(src, "li2-fig14-16")
    zero = [n for n, v in vs.items() if v["settings"]["v_scale"] == 0]
    default = [n for n, v in vs.items() if v["settings"]["v_scale"] > 0]
    if not zero or not default:
        return Check("inconclusive", "needs zero-init and default-init variants")
    zn, dn = zero[0], default[0]
    hs, stop, note = _healthy({n: vs[n] for n in (zn, dn)})
    if stop:
        return stop
    gz, gd = _gen_step(vs[zn], hs[zn]), _gen_step(vs[dn], hs[dn])
    if np.isinf(gz) and np.isinf(gd):
        return Check("inconclusive", "neither setting generalised")
    return Check(verdict(gz < gd), f"median generalisation step: zero-init {gz:g}, default {gd:g} "
                 f"(inf = never); final test acc {_fmt(vs[zn]['final_test_acc'])} vs "
                 f"{_fmt(vs[dn]['final_test_acc'])}{note}")


def _complex_rows(vs: dict):
    """(flags, rows) of complex against real weights, per group where either generalised; or
    an inconclusive Check."""
    hs, stop, note = _healthy(vs)
    if stop:
        return stop
    by_group: dict = {}
    for name, v in vs.items():
        s = v["settings"]
        by_group.setdefault(s["group"], {})["complex" if s["complex_weights"] else "real"] = \
            (v, hs[name])
    rows, flags = [], []
    for g, d in by_group.items():
        if "complex" not in d or "real" not in d:
            continue
        gc, gr = _gen_step(*d["complex"]), _gen_step(*d["real"])
        if np.isinf(gc) and np.isinf(gr):
            continue
        flags.append(gc < gr)
        rows.append(f"{g}: complex {gc:g} vs real {gr:g}")
    return flags, "; ".join(rows) + note


@CLAIMS.claim("li2.complex_faster", text="complex weights grok faster than real weights (Figs. 10-11)",
       expected="median generalisation step complex < real, for most group sizes, with the "
                "imaginary parts drawn independently (the authors' cast complex weights stay real)")
def _complex(src) -> Check:
    # the authors' code casts real weights to complex: the imaginary parts get no gradient and
    # stay 0, so those runs are the real runs and cannot be faster. The claim needs complex
    # weights with their own imaginary parts: decided on that run, the cast one shown beside.
    recipe = src.get("li2-fig10-11")
    own = recipe.summary["variants"]
    cast = _complex_rows(own)
    if isinstance(cast, Check):
        return cast
    indep = _complex_rows(src.get("li2-fig10-11", {"model.complex_init": "independent"})
                          .summary["variants"])
    if isinstance(indep, Check):
        return Check("inconclusive", f"independent imaginary parts: {indep.measured}")
    (flags, rows), (_, cast_rows) = indep, cast
    if not flags:
        return Check("inconclusive", "no group where either weight type generalised")
    return Check(verdict(majority(flags)), f"independent imaginary parts: {rows}; the authors' "
                 f"cast complex weights (imaginary parts stay 0): {cast_rows or 'none generalised'}")


# -- the paper's text against the authors' code (issue 22) ---------------------------------------
# Each Li2 figure recipe runs on the authors' code by default (its `reference` preset); its
# `paper_text` preset holds the paper's text (and, where the text is silent, learndyn's earlier
# assumptions). Compared by running both, whole and one field at a time: the result is "the
# same" when every variant has the same majority outcome (generalises or not) and, where both
# generalise, median generalisation steps within SAME_STEP_FACTOR. x1.5: at paper scale the
# seeds of one setting grok within a few per cent of each other (Fig. 3: every seed between
# the records at epochs 93 and 99), so a 50 % shift is a real change.
SAME_STEP_FACTOR = 1.5
# recipe -> {setting name: field}; every field on which the two presets differ (a test reads
# the recipes and checks this table against them)
LI2_SETTINGS = {
    "li2-fig3": {"loss": "train.loss", "ridge_V": "model.ridge_V"},
    "li2-fig7": {"loss": "train.loss", "K": "model.K", "weight_decay": "train.weight_decay"},
    "li2-fig10-11": {"loss": "train.loss", "complex_init": "model.complex_init"},
    "li2-fig14-16": {"loss": "train.loss", "K": "model.K", "weight_decay": "train.weight_decay",
                     "group": "group"},
}


def _outcomes(vs: dict):
    """{variant: (generalises in most healthy seeds, median generalisation step)}, or an
    inconclusive Check."""
    hs, stop, _ = _healthy(vs)
    if stop:
        return stop
    return {name: (v["fraction_generalising"] > 0.5, _gen_step(v, hs[name]))
            for name, v in vs.items()}


def _show_outcomes(o: dict) -> str:
    return ", ".join(f"{n}: " + (f"groks at {s:g}" if g else "does not generalise")
                     for n, (g, s) in o.items())


def li2_code_vs(src, recipe: str, overrides: dict, label: str) -> Check:
    """`recipe` on the authors' code (its reference preset) against the run with `overrides`
    on top: "verified" when both give the same result (above)."""
    code = _outcomes(_variants(src, recipe))
    if isinstance(code, Check):
        return code
    if getattr(src, "scale", "paper") != "paper":
        return Check("inconclusive", f"decided at paper scale only (it runs {recipe} once more)")
    other = _outcomes(src.get(recipe, {"preset": "reference", **overrides}).summary["variants"])
    if isinstance(other, Check):
        return Check("inconclusive", f"{label}: {other.measured}")
    if set(code) != set(other):
        return Check("inconclusive", f"the two runs have different variants: {sorted(code)} "
                     f"vs {sorted(other)}")
    same = all(code[n][0] == other[n][0] and (not code[n][0] or max(code[n][1], other[n][1])
                                              <= SAME_STEP_FACTOR * min(code[n][1], other[n][1]))
               for n in code)
    return Check(verdict(same), f"code: {_show_outcomes(code)}; {label}: "
                 f"{_show_outcomes(other)}")


def _li2_preset_claim(recipe: str):
    short = recipe.removeprefix("li2-")

    @CLAIMS.claim(f"li2.reference_vs_paper.{short}", text=f"{recipe}: the paper's text's "
                  "settings give the result of the authors' code",
                  expected=f"every variant: the same outcome; generalisation steps within "
                           f"x{SAME_STEP_FACTOR:g}")
    def check(src) -> Check:
        return li2_code_vs(src, recipe, {"preset": "paper_text"}, "text")
    return check


def _li2_setting_claim(recipe: str, name: str, field: str):
    short = recipe.removeprefix("li2-")

    @CLAIMS.claim(f"li2.reference_vs_paper.{short}.{name}", text=f"{recipe}, {field}: the "
                  "paper's text's setting gives the result of the authors' code's",
                  expected="the run with the text's value alone: every variant the same "
                           f"outcome, generalisation steps within x{SAME_STEP_FACTOR:g}")
    def check(src) -> Check:
        from learndyn.recipes import preset_field

        def read_run():
            ran = _outcomes(_variants(src, recipe))
            return ran if isinstance(ran, Check) else None
        return setting_check(field, preset_field(recipe, "reference", field),
                             preset_field(recipe, "paper_text", field), read_run,
                             lambda over, label: li2_code_vs(src, recipe, over, label))
    return check


for _recipe, _fields in LI2_SETTINGS.items():
    _li2_preset_claim(_recipe)
    for _name, _field in _fields.items():
        _li2_setting_claim(_recipe, _name, _field)


# "Ftil^T Ftil and P1 F F^T stay nearly diagonal" (Fig. 3), measured as the authors measure it
# (their statistics, recorded by the reference preset): the mean |off-diagonal| entry of each
# Gram matrix at most GRAM_OFFDIAG of its mean |diagonal| entry, "diagonal to within 8 %" as
# issue 22 quotes the paper (our brief gives no number).
GRAM_OFFDIAG = 0.08


@CLAIMS.claim("li2.gram_nearly_diagonal", text="Ftil^T Ftil and P1 F F^T stay nearly diagonal "
              "(Fig. 3), as the authors measure it",
              expected=f"generalising setting, last record: mean |off-diagonal| <= "
                       f"{GRAM_OFFDIAG:g} x mean |diagonal| for both Gram matrices")
def _gram(src) -> Check:
    vs = _variants(src, "li2-fig3")
    hs, stop, note = _healthy(vs)
    if stop:
        return stop
    gen = [n for n, v in vs.items() if v["fraction_generalising"] > 0.5]
    if not gen:
        return Check("inconclusive", "no variant of li2-fig3 generalised")
    v = vs[gen[0]]
    if "authors_gram" not in v:
        return Check("inconclusive", "the run did not record the authors' statistics "
                     "(authors_stats = true, set by the reference preset)")
    g = v["authors_gram"]
    node, sample = g["FtF_offdiag_over_diag"], g["P1FFt_offdiag_over_diag"]
    if node is None or sample is None:
        return Check("inconclusive", f"{gen[0]}: a statistic is missing")
    ok = node <= GRAM_OFFDIAG and sample <= GRAM_OFFDIAG
    return Check(verdict(ok), f"{gen[0]}: off-diagonal / diagonal {node:.3f} (Ftil^T Ftil), "
                 f"{sample:.3f} (P1 F F^T); F F^T from a I + b 11^T: "
                 f"{_fmt(g['FFt_dist_ideal'])} (relative){note}")


# -- Fig. 5: claims about the phase diagram of the li2-fig5 sweep ---------------------------------
# "The data needed scales as log M / M" is read off the sweep's boundaries p*(M) (core.phase):
# the law c ln M / M against c / M and c M^-a by AIC (n log(RSS / n) + 2 k, least squares in
# log p*). An AIC difference above AIC_MARGIN is the usual threshold for "clearly less
# support" (Burnham & Anderson: within 2, both are supported); below it the rows cannot tell
# the laws apart. AIC weighs only the boundaries' scatter about each law, not their own
# uncertainty, so the rows must also span enough M for the laws to differ by more than a
# boundary's error: at least MIN_BOUNDARIES of them over a factor MIN_M_SPAN in M. Over x3
# (M = 23-69, say) ln M / M and 1 / M part by ln 69 / ln 23 = 1.35, above the +-15-20 % of
# a boundary's 95 % interval at 4 seeds a cell (the cpu sweep's c: 3.42-4.85); over the cpu
# sweep's M = 31-53 they part by 1.16, inside it. (The paper's grid, M = 23-127: 1.55.)
AIC_MARGIN, MIN_BOUNDARIES, MIN_M_SPAN = 2.0, 4, 3.0
# "A sharp transition": per M, the cells go from failing (<= core.phase.LOW of the runs
# generalise) to succeeding (>= HIGH) within a factor SHARP_RATIO of p. The paper's grid spans
# p = 0.05-0.7 (x14, 3.8 octaves); one octave of it is sharp, and its columns are spaced
# x1.4-1.6, so the finest width a grid of that spacing can show is ~1.4.
SHARP_RATIO = 2.0
SWEEP = "li2-fig5"


def _phase(src):
    sw = src.sweep(SWEEP)
    if sw.phase is None:
        return sw, None, Check("inconclusive", f"the sweep {SWEEP} ({sw.scale}) has no "
                               "phase diagram")
    return sw, sw.phase, None


@CLAIMS.claim("li2.scaling_log_m_over_m", sweep=SWEEP,
              text="the training ratio needed to generalise falls as log M / M (Fig. 5)",
              expected=f"c ln M / M has the lowest AIC among c ln M / M, c / M, c M^-a (a "
                       f"rival ahead by more than {AIC_MARGIN:g}: refuted; within it: "
                       f"inconclusive), over >= {MIN_BOUNDARIES} group sizes with a "
                       f"boundary spanning x{MIN_M_SPAN:g} in M; c against the reference "
                       "code's 2.7482")
def _scaling(src) -> Check:
    from learndyn.grokking.data import CRITICAL_CONSTANT
    sw, ph, stop = _phase(src)
    if stop:
        return stop
    rows = [(m, b) for m, b in zip(ph["M"], ph["boundary"]) if b is not None]
    where = sw.where
    laws = {x["law"]: x for x in ph["laws"]}
    ours = laws.get("c ln M / M")
    if ours is None:
        return Check("inconclusive", f"{where}: {len(rows)} group size(s) with a boundary: "
                     "too few to fit a law")
    rivals = {k: x["aic"] - ours["aic"] for k, x in laws.items() if k != "c ln M / M"}
    best = min(rivals.values(), default=0.0)   # < 0: a rival fits better
    ok = True if best > 0 else (False if best < -AIC_MARGIN else None)
    span = max(m for m, _ in rows) / min(m for m, _ in rows) if rows else 0.0
    short = None
    if len(rows) < MIN_BOUNDARIES or span < MIN_M_SPAN:
        ok, short = None, (f"too few to decide: {len(rows)} group sizes with a boundary over "
                           f"x{span:.2f} in M (needs {MIN_BOUNDARIES} over x{MIN_M_SPAN:g}); ")
    boot = ph.get("c_logM_over_M") or {}
    band = (f" (95 % bootstrap {boot['lo'][0]:.3g}-{boot['hi'][0]:.3g})"
            if boot.get("lo") else "")
    c = ours["params"][0]
    bounds = ", ".join(f"{b:.3g} at M={m:g}" for m, b in rows)
    shown = "; ".join(f"{k} {d:+.1f}" for k, d in sorted(rivals.items()))
    power = laws.get("c M^-a")
    extra = f"; free exponent a = {power['params'][1]:.2f}" if power else ""
    return Check(verdict(ok), f"{where}: {short or ''}boundaries {bounds}; c = {c:.3g}{band} vs the "
                 f"code's {CRITICAL_CONSTANT} (x{c / CRITICAL_CONSTANT:.2f}); AIC of each rival "
                 f"minus ln M / M's: {shown}{extra}")


@CLAIMS.claim("li2.sharp_transition", sweep=SWEEP,
              text="the transition from memorising to generalising is sharp (Fig. 5)",
              expected=f"per group size, the cells go from <= 10 % to >= 90 % generalising "
                       f"within a factor {SHARP_RATIO:g} of p, in every group size whose "
                       "transition lies inside the grid (at least 2 of them)")
def _sharp(src) -> Check:
    sw, ph, stop = _phase(src)
    if stop:
        return stop
    where = sw.where
    widths = ph.get("width")
    if widths is None:
        return Check("inconclusive", f"{where}: the phase diagram has no transition widths "
                     "(written by an older learndyn: run the sweep again, nothing retrains)")
    done = [(m, w) for m, w in zip(ph["M"], widths) if w is not None]
    shown = "; ".join(f"M={m:g}: x{w['ratio']:.2f} ({w['p_lo']:g} -> {w['p_hi']:g})"
                      for m, w in done)
    rest = [f"{m:g}" for m, w in zip(ph["M"], widths) if w is None]
    tail = f"; not complete inside the grid: M = {', '.join(rest)}" if rest else ""
    if len(done) < 2:
        return Check("inconclusive", f"{where}: {len(done)} group size(s) cross from "
                     f"<= 10 % to >= 90 % inside the grid{': ' + shown if shown else ''}{tail}")
    ok = all(w["ratio"] <= SHARP_RATIO for _, w in done)
    return Check(verdict(ok), f"{where}: width {shown}{tail}")
