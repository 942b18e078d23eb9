"""Measurements on recorded deep linear runs, and their comparison with the theory.

Times are in updates (steps). The theory's times (tau units, linear.theory) become updates
by dividing by lr (t / tau = lr k).
"""

from __future__ import annotations

import numpy as np

from learndyn.core.stages import loss_stages
from learndyn.core.summaries import finite_median
from learndyn.linear import theory

# The loss is fitted in stages only down to CUT x the last positive plateau (the loss with
# every mode but the weakest learned): the weakest mode is then at 90 % of its value
# ((s - a)^2 = 0.01 s^2), and below it the loss plunges (exponentially in time, 10+ decades)
# to the float32 floor, a plunge that would take the log-log fit's segments for itself.
CUT = 0.01
# A drop (a mode being learned) is a stage steeper than both of its neighbours and steeper
# than -1 decade of loss per decade of updates. On saxe2014-modes (measured, smoke and paper)
# the drops fall at -3.9 or faster and the plateaus between them at -0.47 to -1.59 (the tail
# of the mode learned before), so a fixed threshold alone would call the steepest plateau a
# drop; steeper than both neighbours alone could call a plateau split in three a drop;
# together they separate them.
DROP_SLOPE = -1.0

def crossing(steps, a, level) -> float | None:
    """The first step at which a (a recorded signal) reaches `level`, linearly interpolated
    between the two records around it; None if it never does (or a is not finite there)."""
    steps, a = np.asarray(steps, float), np.asarray(a, float)
    hit = np.flatnonzero(np.isfinite(a) & (a >= level))
    if len(hit) == 0:
        return None
    i = int(hit[0])
    if i == 0 or not np.isfinite(a[i - 1]):
        return float(steps[i])
    frac = (level - a[i - 1]) / (a[i] - a[i - 1])
    return float(steps[i - 1] + frac * (steps[i] - steps[i - 1]))


def mode_times(steps, strength, s, rise=(0.1, 0.9)) -> dict:
    """Per mode (strength: (step, mode)): the half time (a_i reaches s_i / 2), the rise time
    (from rise[0] s_i to rise[1] s_i), rise / half and t_lo (when it reaches rise[0] s_i), in
    updates (None where not reached)."""
    half, rs, ratio, los = [], [], [], []
    for i, si in enumerate(s):
        h = crossing(steps, strength[:, i], 0.5 * si)
        lo = crossing(steps, strength[:, i], rise[0] * si)
        hi = crossing(steps, strength[:, i], rise[1] * si)
        r = None if lo is None or hi is None else hi - lo
        half.append(h)
        los.append(lo)
        rs.append(r)
        ratio.append(None if r is None or not h else r / h)
    return {"t_half": half, "t_rise": rs, "rise_over_half": ratio, "t_lo": los}


def fit_slope(x, t) -> tuple[float | None, float | None]:
    """Least-squares line t = slope x + intercept over the entries where t is known (None
    when fewer than two are)."""
    pts = [(xi, ti) for xi, ti in zip(x, t) if ti is not None and np.isfinite(ti)]
    if len(pts) < 2:
        return None, None
    xs, ts = np.asarray(pts, float).T
    slope, icpt = np.polyfit(xs, ts, 1)
    return float(slope), float(icpt)


def order_of(times) -> list[int] | None:
    """Mode indices sorted by when they were learned (None if some mode never was)."""
    if any(t is None for t in times):
        return None
    return [int(i) for i in np.argsort(np.asarray(times, float), kind="stable")]


def strength_error(strength, predicted, s, window) -> list[float | None]:
    """Per mode, max over the records in `window` (step, mode) of |a_i - a_i^theory| / s_i
    (None for a mode with no record in its window)."""
    err = np.abs(np.asarray(strength, float) - predicted) / np.asarray(s, float)
    out = []
    for i in range(err.shape[1]):
        e = err[window[:, i], i]
        e = e[np.isfinite(e)]
        out.append(float(e.max()) if len(e) else None)
    return out


def loss_drops(steps, loss, s, windows, n_stages: int | None) -> dict:
    """The loss's stages and drops, against the modes' learning windows.

    The loss is cut at CUT x the last positive plateau, fitted in `n_stages` stages (default
    2 x modes: a plateau and a drop per mode) by core.stages.loss_stages; a drop is a stage
    steeper than its neighbours and than DROP_SLOPE, [start, end] in updates. windows: per
    mode [t_lo, t_hi], the updates over which it rises (the theory's rise window). Returns
    the stages, the drops, `mode_drop` (per mode: the first drop overlapping its window, or
    None) and `drop_modes` (per drop: the modes whose windows it overlaps)."""
    steps, loss = np.asarray(steps, float), np.asarray(loss, float)
    plateaus = theory.plateau_losses(s)
    below = np.flatnonzero(np.isfinite(loss) & (loss < CUT * plateaus[-2]))
    end = int(below[0]) + 1 if len(below) else len(loss)
    n = n_stages or 2 * len(s)
    try:
        st = loss_stages(steps[:end], loss[:end], n)
    except ValueError:           # too few records before the cut for n stages
        return {"boundaries": None, "slopes": None, "drops": None, "mode_drop": None,
                "drop_modes": None, "cut_step": float(steps[end - 1])}
    edges = [float(steps[0])] + [float(b) for b in st.boundaries] + [float(steps[end - 1])]
    sl = st.slopes
    drops = [[edges[k], edges[k + 1]] for k in range(len(sl))
             if sl[k] < DROP_SLOPE and all(sl[k] < sl[j] for j in (k - 1, k + 1)
                                            if 0 <= j < len(sl))]

    def overlap(a, b):
        return a[0] <= b[1] and b[0] <= a[1]
    mode_drop = [next((j for j, d in enumerate(drops) if overlap(d, w)), None) for w in windows]
    drop_modes = [[i for i, w in enumerate(windows) if overlap(d, w)] for d in drops]
    return {"boundaries": st.boundaries, "slopes": sl, "drops": drops, "mode_drop": mode_drop,
            "drop_modes": drop_modes, "cut_step": float(steps[end - 1])}


def seed_median(values):
    """The median over seeds of per-seed values, each a number or a per-mode list, skipping
    missing (None) and non-finite entries element by element; None where nothing is left."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    if not isinstance(vals[0], list):
        return finite_median(vals)
    arr = np.array([[np.nan if e is None else e for e in v] for v in vals], float)
    out = []
    for col in arr.T:
        col = col[np.isfinite(col)]
        out.append(float(np.median(col)) if len(col) else None)
    return out


def predictions(recipe, depth: int, steps) -> dict:
    """The theory for one depth of a balanced recipe, seed independent: the strengths at
    the record steps from the continuous ODE ("continuous": the closed form for D = 2) and
    from GD's exact reduced map ("map"), and the mode times in updates."""
    s, a0, lr = recipe.teacher.values(), recipe.init.a0, recipe.lr
    lo, hi = recipe.theory.rise
    half = theory.half_time(s, a0, depth) / lr
    rise = theory.rise_time(s, a0, depth, lo, hi) / lr
    window = np.stack([theory.time_to(lo, s, a0, depth), theory.time_to(hi, s, a0, depth)], 1) / lr
    out = {"t_half": half.tolist(), "t_rise": rise.tolist(), "window": window.tolist(),
           "rise_over_half": (rise / half).tolist(),
           "plateau_losses": theory.plateau_losses(s).tolist(),
           "order": theory.learning_order(s)}
    if depth == 2:
        x = theory.half_time_scale(s, a0)
        out["slope"] = 1.0 / (2 * lr)
        out["slope_fit"] = fit_slope(x, half)[0]
    curves = {"continuous": theory.strength_ode(lr * np.asarray(steps, float), s, a0, depth),
              "map": np.asarray(theory.reduced_map_at(np.float32(s), a0, lr, depth, steps),
                                float)}
    return {"times": out, "curves": curves}


def analyse_phase(recipe, depth: int, records, diverged_at) -> dict:
    """Per-seed measurements of one trained phase (records: xr.Dataset with dims step, run,
    mode), the theory's values, and the medians over healthy seeds."""
    steps = records.step.values
    s = recipe.teacher.values()
    balanced = recipe.init.type == "balanced"
    pred = predictions(recipe, depth, steps) if balanced else None
    th = pred["times"] if pred else {}
    strength = records.strength.values            # (step, run, mode)
    aligned = ((records.align_in.values >= recipe.theory.align_min) &
               (records.align_out.values >= recipe.theory.align_min))
    x = theory.half_time_scale(s, recipe.init.a0)
    keys = ("t_half", "t_rise", "rise_over_half", "order", "slope", "intercept",
            "strength_error", "strength_error_map", "decoupled_fraction", "stage_boundaries",
            "stage_slopes", "drops", "mode_drop", "drop_modes", "final_loss")
    per: dict[str, list] = {k: [] for k in keys}
    for r in range(strength.shape[1]):
        a = strength[:, r]
        times = mode_times(steps, a, s, recipe.theory.rise)
        for k in ("t_half", "t_rise", "rise_over_half"):
            per[k].append(times[k])
        per["order"].append(order_of(times["t_half"]))
        slope, icpt = fit_slope(x, times["t_half"]) if depth == 2 else (None, None)
        per["slope"].append(slope)
        per["intercept"].append(icpt)
        win = aligned[:, r]
        per["decoupled_fraction"].append(win.mean(0).tolist())
        if pred:
            per["strength_error"].append(strength_error(a, pred["curves"]["continuous"], s, win))
            per["strength_error_map"].append(strength_error(a, pred["curves"]["map"], s, win))
        else:
            per["strength_error"].append(None)
            per["strength_error_map"].append(None)
        # the theory's rise windows (random init: the measured ones)
        windows = th.get("window") or [[lo, lo + rs] if lo is not None and rs is not None
                                       else [np.inf, np.inf]
                                       for lo, rs in zip(times["t_lo"], times["t_rise"])]
        st = loss_drops(steps, records.loss.values[:, r], s, windows, recipe.theory.n_stages)
        per["stage_boundaries"].append(st["boundaries"])
        per["stage_slopes"].append(st["slopes"])
        per["drops"].append(st["drops"])
        per["mode_drop"].append(st["mode_drop"])
        per["drop_modes"].append(st["drop_modes"])
        fl = float(records.loss.values[-1, r])
        per["final_loss"].append(fl if np.isfinite(fl) else None)
    per["status"] = ["diverged" if d >= 0 else "ok" for d in diverged_at]
    per["diverged_at"] = [int(d) if d >= 0 else None for d in diverged_at]
    ok = [i for i, st in enumerate(per["status"]) if st == "ok"]

    median = {k: seed_median([per[k][i] for i in ok]) for k in ("t_half", "t_rise", "rise_over_half", "slope", "intercept",
                                  "strength_error", "strength_error_map", "final_loss")}
    return {"depth": depth, "lr": recipe.lr, "a0": recipe.init.a0, "s": s.tolist(),
            "init": recipe.init.type, "per_seed": per, "median": median, "theory": th}


def depth_comparison(phases: dict) -> dict:
    """Across the depths of a recipe (phases: {name: analyse_phase output}, each seed in each):
    per seed, whether every mode's half time grows with depth ("later") and its rise / half
    ratio falls ("sharper"), judged on the seeds healthy at every depth."""
    names = sorted(phases, key=lambda n: phases[n]["depth"])
    depths = [phases[n]["depth"] for n in names]
    n_runs = len(phases[names[0]]["per_seed"]["status"])
    later, sharper = [], []
    for r in range(n_runs):
        halves = [phases[n]["per_seed"]["t_half"][r] for n in names]
        ratios = [phases[n]["per_seed"]["rise_over_half"][r] for n in names]
        if any(v is None for h in halves + ratios for v in h):
            later.append(None)
            sharper.append(None)
            continue
        h, q = np.asarray(halves, float), np.asarray(ratios, float)   # (depth, mode)
        later.append(bool(np.all(np.diff(h, axis=0) > 0)))
        sharper.append(bool(np.all(np.diff(q, axis=0) < 0)))
    status = ["ok" if all(phases[n]["per_seed"]["status"][r] == "ok" for n in names)
              else "diverged" for r in range(n_runs)]
    return {"phases": names, "depths": depths, "later": later, "sharper": sharper,
            "status": status,
            "t_half": [phases[n]["median"]["t_half"] for n in names],
            "rise_over_half": [phases[n]["median"]["rise_over_half"] for n in names],
            "theory_t_half": [phases[n]["theory"].get("t_half") for n in names],
            "theory_rise_over_half": [phases[n]["theory"].get("rise_over_half")
                                      for n in names]}
