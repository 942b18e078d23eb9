"""Theory against simulation: a reduced theory's prediction, recorded beside the simulation,
and its relative error per stage window.

A world's ``theories(recipe)`` returns a list of :class:`Theory`. Each predicts some of one
phase's recorded observables, with the same shape as the record, (step, run, ...) at the
recorded steps, from the phase's :class:`~learndyn.core.trainer.RunResult` and its consts:

* ``closed_form``: a function of recorded quantities (the recorded initial value, a rate);
* ``reduced``: a reduced dynamical system integrated from a recorded state, with
  :func:`iterate_map` (a discrete map, one application per update) or :func:`integrate_ode`
  (a flow, integrated by diffrax).

Core (:func:`run_theories`) computes each prediction once, writes it into the phase folder
as the dataset ``theory-<name>`` (``RunStore.write_dataset``: crash-safe, checked by
``RunStore.check``), reads it back instead of recomputing it for a finished run, and reports
its error (:func:`compare`) for the summary's ``theory`` table; :func:`draw_overlay` draws
it over the simulation, :func:`format_report` prints it in the CLI.
"""

from __future__ import annotations

import math
import re
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from learndyn.core.store import RunStore, to_jsonable
from learndyn.core.trainer import RunResult
from learndyn.errors import ConfigError

KINDS = ("closed_form", "reduced")
SOLVERS = ("tsit5", "dopri5")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

# predict(result, consts) -> {observable: array (step, run, ...)}
PredictFn = Callable[[RunResult, Any], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Theory:
    """A prediction of some of one phase's recorded observables.

    name: its key in the summary's ``theory`` table and its dataset ``theory-<name>`` in the
        phase folder (letters, digits, '_', '.', '-'; e.g. ``"saxe.exact"``).
    phase: the phase whose records it predicts.
    observables: the names of the recorded variables it predicts.
    kind: ``"closed_form"`` or ``"reduced"`` (see the module docstring).
    predict: ``predict(result, consts) -> {observable: array}``, each array shaped like the
        recorded variable, (step, run, ...) at ``result.records.step``.
    description: one line for the figure's title (optional).
    """

    name: str
    phase: str
    observables: tuple[str, ...]
    kind: str
    predict: PredictFn = field(repr=False)
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.observables, tuple) or not all(
                isinstance(o, str) for o in self.observables):
            raise ConfigError("Theory.observables", f"must be a tuple of names, got "
                              f"{self.observables!r}")
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError("Theory.name", f"{self.name!r} is not allowed (letters, digits, "
                              "'_', '.', '-', starting with a letter or digit)")
        if self.kind not in KINDS:
            raise ConfigError("Theory.kind", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        if not self.observables:
            raise ConfigError("Theory.observables", "empty; name at least one recorded "
                              "variable")

    @property
    def dataset(self) -> str:
        """The name of its prediction's dataset in the phase folder."""
        return f"theory-{self.name}"


# -- reduced systems ------------------------------------------------------------------------
def _check_steps(record_steps, t0: int) -> np.ndarray:
    rec = np.asarray(record_steps, dtype=np.int64)
    if rec.ndim != 1 or len(rec) == 0 or np.any(np.diff(rec) <= 0) or rec[0] < t0:
        raise ValueError(f"record_steps must be a non-empty increasing array of steps >= "
                         f"t0 = {t0}")
    return rec


def _cast_like(new, old):
    return jax.tree_util.tree_map(lambda n, o: jnp.asarray(n).astype(jnp.asarray(o).dtype),
                                  new, old)


def iterate_map(f: Callable, y0, record_steps, params=None, *, t0: int = 0,
                params_axes: Any = 0):
    """Iterate a discrete map y_{t+1} = f(y_t, t, params) (written for ONE run) from the
    state y0 after t0 updates, for a batch of runs, and return its states after each of
    `record_steps` updates: a `lax.scan` over record points, each advancing by the updates
    since the last one (a `lax.fori_loop`), vmapped over runs, as the trainer records.

    y0: pytree with leaves (run, ...); params: pytree with leaves (run, ...) (or shared
    leaves, with `params_axes` the vmap in_axes of params, e.g. None), or None.
    f's result is cast to y's dtypes. Returns a pytree like y0 with NumPy leaves
    (n_records, run, ...); a record step equal to t0 returns y0.
    """
    rec = _check_steps(record_steps, t0)
    counts = jnp.asarray(np.diff(np.concatenate([[t0], rec])), jnp.int32)

    def one(y, p):
        def interval(carry, count):
            y, t = carry
            y = jax.lax.fori_loop(0, count, lambda i, y: _cast_like(f(y, t + i, p), y), y)
            return (y, t + count), y
        _, ys = jax.lax.scan(interval, (y, jnp.int32(t0)), counts)
        return ys

    axes = None if params is None else params_axes
    ys = jax.jit(jax.vmap(one, in_axes=(0, axes)))(y0, params)
    return jax.tree_util.tree_map(lambda a: np.swapaxes(np.asarray(a), 0, 1), ys)


def integrate_ode(f: Callable, y0, ts, params=None, *, t0: float | None = None,
                  rtol: float = 1e-6, atol: float = 1e-9, solver: str = "tsit5",
                  max_steps: int = 100_000, params_axes: Any = 0):
    """Integrate dy/dt = f(t, y, params) (written for ONE run) from y(t0) = y0 for a batch of
    runs, and return y at the times `ts`: diffrax, an adaptive explicit Runge-Kutta solver
    (Tsit5 or Dopri5, both order 5(4)) with a PID step-size controller (relative and
    absolute tolerances rtol, atol on each step's local error estimate), SaveAt(ts=ts).

    y0: pytree with leaves (run, ...); ts: (n,) increasing times shared by the runs (a
    record step times the learning rate, say), t0 <= ts[0] (default ts[0]); params as in
    `iterate_map`. The times and the solve use y0's float dtype. A run whose solve fails
    (more than `max_steps` steps, or a non-finite state) reads NaN at every time.
    Returns a pytree like y0 with NumPy leaves (n, run, ...).
    """
    import diffrax  # imported here: diffrax (and equinox) take a second to import

    if solver not in SOLVERS:
        raise ConfigError("solver", f"{solver!r} is not one of {', '.join(SOLVERS)}")
    leaves = jax.tree_util.tree_leaves(y0)
    dtype = next((jnp.asarray(x).dtype for x in leaves
                  if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)), jnp.float32)
    ts_np = np.asarray(ts, dtype=np.float64)
    if ts_np.ndim != 1 or len(ts_np) == 0 or np.any(np.diff(ts_np) <= 0):
        raise ValueError("ts must be a non-empty increasing array of times")
    start = float(ts_np[0]) if t0 is None else float(t0)
    if start > ts_np[0]:
        raise ValueError(f"t0 = {start} is after the first time ts[0] = {ts_np[0]}")
    ts_j = jnp.asarray(ts_np, dtype)
    end = float(ts_np[-1])
    method = {"tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5}[solver]()

    def one(y, p):
        if end == start:   # a single time at t0: nothing to integrate
            return jax.tree_util.tree_map(lambda a: a[None], y)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, args: _cast_like(f(t, y, args), y)), method,
            t0=jnp.asarray(start, dtype), t1=jnp.asarray(end, dtype), dt0=None, y0=y,
            args=p, saveat=diffrax.SaveAt(ts=ts_j),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            max_steps=max_steps, throw=False)
        ok = sol.result == diffrax.RESULTS.successful
        return jax.tree_util.tree_map(lambda a: jnp.where(ok, a, jnp.nan).astype(a.dtype),
                                      sol.ys)

    axes = None if params is None else params_axes
    ys = jax.jit(jax.vmap(one, in_axes=(0, axes)))(y0, params)
    return jax.tree_util.tree_map(lambda a: np.swapaxes(np.asarray(a), 0, 1), ys)


# -- the error of a prediction --------------------------------------------------------------
@dataclass(frozen=True)
class ObservableError:
    """The relative error of one predicted observable (see `compare`): over the whole run,
    per stage window, and per run (NaN for an excluded, diverged run)."""

    whole_run: float
    stages: tuple[float, ...]
    per_run: tuple[float, ...]
    # an observable with one trailing dim (a mode, a node): (1) over the whole run for each
    # of its components, e.g. each mode's strength; () otherwise
    per_component: tuple[float, ...] = ()
    component_dim: str = ""

    def to_dict(self) -> dict:
        out = {"whole_run": self.whole_run, "stages": list(self.stages),
               "per_run": list(self.per_run)}
        if self.component_dim:
            out["per_component"] = list(self.per_component)
            out["component_dim"] = self.component_dim
        return to_jsonable(out)


@dataclass(frozen=True)
class TheoryReport:
    """A theory's errors: `errors[observable]`, the stage windows [lo, hi) (steps) they were
    taken over, and the healthy runs compared."""

    theory: str
    phase: str
    kind: str
    windows: tuple[tuple[int, int], ...]
    healthy_runs: tuple[int, ...]
    errors: Mapping[str, ObservableError]

    @property
    def max(self) -> float:
        """The largest whole-run error over the observables (NaN when none is defined)."""
        vals = [e.whole_run for e in self.errors.values() if not math.isnan(e.whole_run)]
        return max(vals) if vals else math.nan

    def to_dict(self) -> dict:
        """The JSON form (NaN and inf read null: see `compare`):
        {"phase", "kind", "max", "windows": [[lo, hi], ...], "healthy_runs": [...],
         "observables": {observable: {"whole_run", "stages": [...], "per_run": [...]}}}."""
        return to_jsonable({
            "phase": self.phase, "kind": self.kind, "max": self.max,
            "windows": [list(w) for w in self.windows], "healthy_runs": list(self.healthy_runs),
            "observables": {k: e.to_dict() for k, e in self.errors.items()}})


def stage_windows(record_steps, stages) -> list[tuple[int, int]]:
    """The stage windows [b_k, b_{k+1}) of `stages` (boundaries in steps, the steps where
    stages 2..n begin, or a `StageFit`), the first starting at the first record step and the
    last ending after the last one: n boundaries give n + 1 windows. None or []: none."""
    if stages is None:
        return []
    bounds = [int(b) for b in getattr(stages, "boundaries", stages)]
    if not bounds:
        return []
    rec = np.asarray(record_steps, dtype=np.int64)
    if np.any(np.diff(bounds) <= 0):
        raise ValueError(f"stage boundaries must increase, got {bounds}")
    edges = [min(int(rec[0]), bounds[0])] + bounds + [max(int(rec[-1]) + 1, bounds[-1])]
    return [(edges[k], edges[k + 1]) for k in range(len(edges) - 1)]


def _rel(diff2: np.ndarray, sim2: np.ndarray, axis=None) -> np.ndarray:
    """sqrt(sum diff^2) / sqrt(sum sim^2) over `axis` of masked squares (zeros where
    excluded), NaN where nothing was compared, inf where only the simulation's norm is 0."""
    num, den = np.sum(diff2, axis=axis), np.sum(sim2, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, np.sqrt(num) / np.sqrt(den), np.where(num > 0, np.inf, 0.0))


def compare(theory: Theory, result: RunResult, stages=None, *,
            pred: Mapping[str, np.ndarray] | None = None, consts: Any = None) -> TheoryReport:
    """The relative error of each of the theory's predicted observables against the record:

        rel = ||pred - sim||_2 / ||sim||_2                                          (1)

    with both norms taken over the same entries: every step, run and trailing index of the
    healthy runs (diverged_at < 0) at which both the simulation and the prediction are
    finite, (a) over the whole run, (b) over each stage window [b_k, b_{k+1}) of steps given
    by the stage boundaries `stages` (see `stage_windows`), and (c) per run over the whole
    run, and (d) for an observable with one trailing dim (a mode, say), per component over
    the whole run. rel is NaN (null in JSON) where no entry is compared (an empty window, a diverged
    run) and inf (also null) where ||sim|| = 0 but ||pred - sim|| > 0. Computed in float64.

    pred: the prediction (default: `theory.predict(result, consts)`).
    """
    if pred is None:
        pred = theory.predict(result, consts)
    rec = result.records
    steps = np.asarray(rec["step"].values, dtype=np.int64)
    windows = stage_windows(steps, stages)
    healthy = np.asarray(result.diverged_at) < 0
    errors = {}
    for name in theory.observables:
        sim = np.asarray(rec[name].values, dtype=np.float64)
        p = np.asarray(pred[name], dtype=np.float64)
        if p.shape != sim.shape:
            raise ValueError(f"theory {theory.name}: its prediction of {name!r} has shape "
                             f"{p.shape}, the record {sim.shape}")
        run_mask = healthy.reshape((1, -1) + (1,) * (sim.ndim - 2))
        ok = run_mask & np.isfinite(sim) & np.isfinite(p)
        d2 = np.where(ok, (p - sim) ** 2, 0.0).reshape(sim.shape[0], sim.shape[1], -1)
        s2 = np.where(ok, sim ** 2, 0.0).reshape(d2.shape)
        whole = float(_rel(d2, s2)) if ok.any() else math.nan
        per_run = [float(_rel(d2[:, r], s2[:, r])) if ok[:, r].any() else math.nan
                   for r in range(sim.shape[1])]
        by_stage = []
        for lo, hi in windows:
            w = (steps >= lo) & (steps < hi)
            by_stage.append(float(_rel(d2[w], s2[w])) if ok[w].any() else math.nan)
        per_comp, cdim = (), ""
        if sim.ndim == 3:
            cdim = str(rec[name].dims[2])
            per_comp = tuple(float(_rel(d2[:, :, c], s2[:, :, c])) if ok[:, :, c].any()
                             else math.nan for c in range(sim.shape[2]))
        errors[name] = ObservableError(whole, tuple(by_stage), tuple(per_run), per_comp, cdim)
    return TheoryReport(theory.name, theory.phase, theory.kind, tuple(windows),
                        tuple(int(i) for i in np.flatnonzero(healthy)), errors)


# -- storage and orchestration -------------------------------------------------------------
def prediction_dataset(theory: Theory, result: RunResult,
                       pred: Mapping[str, np.ndarray]) -> xr.Dataset:
    """The prediction as an xarray Dataset shaped (and coordinated) like the records of its
    observables; attrs name the theory, its phase and kind."""
    data = {}
    for name in theory.observables:
        sim = result.records[name]
        arr = np.asarray(pred[name])
        if arr.shape != sim.shape:
            raise ValueError(f"theory {theory.name}: its prediction of {name!r} has shape "
                             f"{arr.shape}, the record {sim.shape}")
        data[name] = xr.DataArray(arr, dims=sim.dims, coords=sim.coords)
    return xr.Dataset(data, attrs={"theory": theory.name, "phase": theory.phase,
                                   "kind": theory.kind})


def _matches(ds: xr.Dataset, theory: Theory, result: RunResult) -> bool:
    """Whether a stored prediction is one of this theory for these records (its variables,
    steps and shapes)."""
    if set(ds.data_vars) != set(theory.observables):
        return False
    steps = np.asarray(result.records["step"].values)
    if "step" not in ds.coords or not np.array_equal(np.asarray(ds["step"].values), steps):
        return False
    return all(ds[k].shape == result.records[k].shape for k in theory.observables)


def predict_or_load(theory: Theory, result: RunResult, store: RunStore | None = None,
                    consts: Any = None) -> dict[str, np.ndarray]:
    """The theory's prediction for `result`: read back from the phase folder `store` when it
    holds one for these records, otherwise computed (`theory.predict(result, consts)`),
    checked (every observable, the record's shape) and, with a store, committed there as the
    dataset ``theory-<name>`` under the phase lock."""
    missing = [k for k in theory.observables if k not in result.records]
    if missing:
        raise ValueError(f"theory {theory.name}: phase {theory.phase!r} records no "
                         f"{missing} (it records {sorted(result.records.data_vars)})")
    if store is not None:
        ds = store.load_dataset(theory.dataset)
        if ds is not None and _matches(ds, theory, result):
            return {k: np.asarray(ds[k].values) for k in theory.observables}
    pred = dict(theory.predict(result, consts))
    absent = [k for k in theory.observables if k not in pred]
    if absent:
        raise ValueError(f"theory {theory.name}: predict returned no {absent}")
    ds = prediction_dataset(theory, result, pred)
    if store is not None:
        with store.writing():
            store.write_dataset(theory.dataset, ds)
    return {k: np.asarray(ds[k].values) for k in theory.observables}


def run_theories(theories: Sequence[Theory], results: Mapping[str, RunResult],
                 store: RunStore | None = None,
                 stages_by_phase: Mapping[str, Any] | None = None, *,
                 consts_by_phase: Mapping[str, Any] | None = None,
                 figures: str | Path | None = None) -> dict[str, dict]:
    """Compute (or read back) each theory's prediction, record it in its phase's folder
    (`store` is the run folder; its phase folders are ``store.child(phase)``), and report its
    error: returns ``{theory name: TheoryReport.to_dict()}``, the summary's ``theory`` table.

    stages_by_phase: each phase's stage boundaries (steps) or StageFit, for the per-stage
    windows; consts_by_phase: each phase's consts, passed to ``predict``; figures: a folder
    to draw each overlay into (``theory-<name>.png`` / ``.pdf``).
    """
    names = [t.name for t in theories]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"theories: the names {dup} are used more than once")
    stages_by_phase = stages_by_phase or {}
    consts_by_phase = consts_by_phase or {}
    reports = {}
    for th in theories:
        if th.phase not in results:
            raise ValueError(f"theory {th.name}: no phase {th.phase!r} was trained (phases: "
                             f"{', '.join(results) or 'none'})")
        result = results[th.phase]
        ph = None if store is None else store.child(th.phase)
        pred = predict_or_load(th, result, ph, consts_by_phase.get(th.phase))
        stages = stages_by_phase.get(th.phase)
        report = compare(th, result, stages, pred=pred)
        reports[th.name] = report.to_dict()
        if figures is not None:
            draw_overlay(th, result, pred, Path(figures) / th.dataset, stages=stages)
    return reports


# -- the overlay and the CLI line -----------------------------------------------------------
def _lines(a: np.ndarray, runs: np.ndarray, per_run: bool, max_lines: int, dims=()):
    """(label, curve (step,)) of a record or prediction (step, run, ...): the median over the
    healthy runs (or each healthy run) of each trailing index (flattened; labelled by the
    trailing dim's name when there is one), at most max_lines."""
    a = np.asarray(a, dtype=np.float64)[:, runs].reshape(a.shape[0], len(runs), -1)
    idx = (lambda j: f"{dims[0]} {j}") if len(dims) == 1 else (lambda j: f"[{j}]")
    out = []
    if per_run:
        for j in range(a.shape[2]):
            for r in range(a.shape[1]):
                out.append((f"run {runs[r]}" + (f", {idx(j)}" if a.shape[2] > 1 else ""),
                            a[:, r, j]))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # an all-NaN step: NaN
            med = np.nanmedian(a, axis=1) if a.shape[1] else np.full(
                (a.shape[0], a.shape[2]), np.nan)
        for j in range(a.shape[2]):
            out.append((idx(j) if a.shape[2] > 1 else "median", med[:, j]))
    return out[:max_lines]


def draw_overlay(theory: Theory, result: RunResult, pred: Mapping[str, np.ndarray],
                 path: str | Path, *, stages=None, log_y: bool | None = None,
                 log_x: bool = False, per_run: bool = False, max_lines: int = 8) -> Path:
    """Draw each predicted observable against step: simulation solid, theory dashed, in the
    same colour per line: the median over the healthy runs (or each healthy run with
    `per_run`) of each trailing index, at most `max_lines` lines per panel. log_y: None
    chooses log when the simulation is positive and spans more than three decades. Stage
    windows are shaded when `stages` is given. Saves path.png and path.pdf (report.style);
    returns the PNG's path."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from learndyn.report.style import save, shade_stages

    steps = np.asarray(result.records["step"].values)
    runs = np.flatnonzero(np.asarray(result.diverged_at) < 0)
    n = len(theory.observables)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 2.9), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes[0], theory.observables):
        trailing = result.records[name].dims[2:]
        sim_lines = _lines(result.records[name].values, runs, per_run, max_lines, trailing)
        th_lines = _lines(pred[name], runs, per_run, max_lines, trailing)
        for i, ((label, s), (_, p)) in enumerate(zip(sim_lines, th_lines)):
            c = colors[i % len(colors)]
            ax.plot(steps, s, color=c, lw=1.4, label=label)
            ax.plot(steps, p, color=c, lw=1.4, ls="--")
        sim = np.asarray(result.records[name].values, dtype=np.float64)[:, runs]
        fin = sim[np.isfinite(sim)]
        use_log = log_y if log_y is not None else bool(
            fin.size and fin.min() > 0 and fin.max() / fin.min() > 1e3)
        if use_log:
            ax.set_yscale("log")
        if log_x:
            ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        if stages is not None:
            shade_stages(ax, list(getattr(stages, "boundaries", stages)))
        handles = [Line2D([], [], color="k", lw=1.4, label="simulation"),
                   Line2D([], [], color="k", lw=1.4, ls="--", label="theory")]
        if len(sim_lines) > 1:
            handles += [Line2D([], [], color=colors[i % len(colors)], lw=1.4, label=lbl)
                        for i, (lbl, _) in enumerate(sim_lines)]
        ax.legend(handles=handles, fontsize=7, frameon=False)
    fig.suptitle(f"theory {theory.name}" + (f": {theory.description}"
                                            if theory.description else ""), fontsize=9)
    fig.tight_layout()
    return save(fig, Path(path))


def _num(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return "inf" if math.isinf(x) else f"{x:.1e}"


def format_report(name: str, report: TheoryReport | Mapping, width: int = 80) -> list[str]:
    """The CLI's lines for one theory's report (a TheoryReport or its dict): one line per
    observable, wrapped at `width` columns onto indented lines when it does not fit:

        theory saxe.exact: strength rel. error 2.1e-06 (whole run); stages 1.0e-06 / ...
    """
    d = report.to_dict() if isinstance(report, TheoryReport) else report
    out = []
    for obs, e in d["observables"].items():
        text = f"theory {name}: {obs} rel. error {_num(e['whole_run'])} (whole run)"
        stages = [_num(s) for s in e.get("stages", [])]
        if stages:
            text += "; stages " + " / ".join(stages)
        if e.get("per_component"):
            text += f"; per {e['component_dim']} " + " / ".join(_num(c) for c in
                                                                e["per_component"])
        out += textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False)
    return out
