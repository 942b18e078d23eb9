"""Benchmark harness behind `learndyn bench [NAME] [--json]`.

A benchmark compares learndyn with a baseline (a plain PyTorch script) on one unit of work
(a training epoch, a seed-epoch, ...) and reports, per benchmark, one row with exactly

    name, unit          what is measured
    baseline_s          baseline seconds per unit (None when PyTorch is not installed)
    learndyn_s          learndyn seconds per unit
    ratio               baseline_s / learndyn_s (None without a baseline)
    fraction_of_peak    (learndyn FLOPs per unit / learndyn_s) / peak, where peak is this
                        machine's float32 matmul throughput measured by the same command
                        (`measure_matmul_peak`) and the FLOP count is XLA's own cost analysis
                        of the learndyn program (`xla_flops`).

This file and the benchmarks live in the repository's `benchmarks/` folder, outside the
installed package: `learndyn bench` imports the folder as the package `learndyn_benchmarks`
(learndyn/bench_loader.py says where it looks). Every other `*.py` of the folder (names not
starting with "_") is imported once by `discover` and registers its benchmarks with `register`
(a benchmark module imports this harness as `from .harness import ...`).

Timing: every time is the best of a few blocks of repeated units, each block long enough
(`BenchSettings.min_seconds / 3`) that timer and dispatch overheads vanish; learndyn is timed
after a warm-up call that compiles, and with `jax.block_until_ready`. Best-of-blocks keeps the
numbers stable on a machine shared with other work (both sides are treated alike). learndyn
is timed at the matmul precision it trains at (`learndyn.core.precision.float32_matmuls`).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jax_core

from learndyn.core.precision import float32_matmuls
from learndyn.errors import ConfigError

BASELINE_HINT = ("PyTorch is not installed, so the baseline columns are empty: "
                 "pip install -e '.[bench]'")
ROW_KEYS = ("name", "unit", "baseline_s", "learndyn_s", "ratio", "fraction_of_peak")


@dataclass(frozen=True)
class BenchSettings:
    """What a benchmark's `run` is given. quick: shrink sizes and measuring time (smoke
    tests); min_seconds: the measured time each side should accumulate."""

    quick: bool = False
    min_seconds: float = 1.5


@dataclass(frozen=True)
class Benchmark:
    """One benchmark. `run(settings)` returns (baseline_s or None, learndyn_s,
    learndyn FLOPs per unit), optionally followed by a one-line note of what it measured
    besides (shown under the table, e.g. learndyn's own single-run time for a batch row)."""

    name: str
    unit: str
    run: Callable[[BenchSettings], tuple[float | None, float, float]]
    description: str = ""
    notes: str = ""   # shown under the table (e.g. how baseline and learndyn record)


_REGISTRY: dict[str, Benchmark] = {}
_LOADED: set[Path] = set()


def register(bench: Benchmark) -> Benchmark:
    """Add (or replace) a benchmark in the registry; returns it."""
    _REGISTRY[bench.name] = bench
    return bench


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


HERE = Path(__file__).resolve().parent


def discover(dirs: Iterable[Path] | None = None) -> list[str]:
    """Import the benchmark modules of the first folder of `dirs` (default: this harness's
    own folder) that has any, as submodules of this harness's package; returns the names of
    all registered benchmarks."""
    package = __name__.rpartition(".")[0] or "learndyn_benchmarks"
    for d in ([HERE] if dirs is None else dirs):
        files = sorted(p for p in Path(d).glob("*.py")
                       if not p.name.startswith("_") and p.resolve() != Path(__file__).resolve())
        if not files:
            continue
        for path in files:
            path = path.resolve()
            name = f"{package}.{path.stem}"
            if path in _LOADED or getattr(sys.modules.get(name), "__file__", None) == str(path):
                continue   # imported already (by discover, or by name)
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            _LOADED.add(path)
        break
    return list(_REGISTRY)


def available() -> list[str]:
    """Names of all benchmarks (after discovery)."""
    return discover()


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


# -- measuring ----------------------------------------------------------------------------------

def time_torch(make_fn: Callable[[], Callable[[], Any]], settings: "BenchSettings") -> float | None:
    """Seconds per call of the PyTorch baseline function built by make_fn(), the better of
    PyTorch's default thread count and one thread (on a loaded 2-core machine one thread can be
    much faster; the choice favours the baseline); None without PyTorch."""
    if not torch_available():
        return None
    import torch
    default = torch.get_num_threads()
    best = float("inf")
    try:
        for threads in sorted({default, 1}, reverse=True):
            torch.set_num_threads(threads)
            best = min(best, time_per_call(make_fn(), settings.min_seconds))
    finally:
        torch.set_num_threads(default)
    return best


def measure_matmul_peak(seconds: float = 1.5, sizes: tuple[int, ...] = (256, 512, 1024, 2048),
                        dtype=jnp.float32) -> float:
    """This machine's float32 matmul throughput with jax, in FLOP/s.

    For each size n, a jitted (n, n) @ (n, n) is called back to back (2 n^3 FLOPs per call)
    for about `seconds / len(sizes)`, in 3 blocks; the result is the best rate over blocks and
    sizes (XLA:CPU's dense-matmul speed: the attainable peak of dense float32 arithmetic).
    """
    f = jax.jit(lambda a, b: a @ b)
    best = 0.0
    per_size = seconds / len(sizes)
    for n in sizes:
        k1, k2 = jax.random.split(jax.random.PRNGKey(n))
        a = jax.random.normal(k1, (n, n), dtype)
        b = jax.random.normal(k2, (n, n), dtype)
        f(a, b).block_until_ready()
        t = time.perf_counter()
        f(a, b).block_until_ready()
        one = max(time.perf_counter() - t, 1e-7)
        reps = max(1, int(per_size / 3 / one))
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(reps):
                r = f(a, b)
            r.block_until_ready()
            best = max(best, 2.0 * n ** 3 * reps / (time.perf_counter() - t))
    return best


def time_per_call(fn: Callable[[], Any], min_seconds: float = 1.5, warmup: int = 2,
                  blocks: int = 3) -> float:
    """Seconds per call of `fn()` (which must finish its work before returning): the best of
    `blocks` blocks of back-to-back calls, each block about min_seconds / blocks long."""
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t, 1e-7)
    reps = max(1, math.ceil(min_seconds / blocks / one))
    best = math.inf
    for _ in range(blocks):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def _trainer_blocks(problem, n_runs: int, seed: int = 0):
    """(t_adv, steps_for): `t_adv(n)` times `Trainer.advance(state, n)` of `n_runs` vmapped
    runs (compiled on creation), `steps_for(seconds)` the step count whose call takes about
    that long. The trainer has an empty `observe` (see `time_trainer`). `problem.init(key)`
    returns a run's (state, consts) and `problem.step(state, t, consts)` is its update, as
    in a core.world.Phase."""
    from learndyn.core.trainer import Trainer

    tr = Trainer(problem.step, lambda state, consts: {}, takes_consts=True,
                 run_map=getattr(problem, "map_runs", None))
    s0, c0 = jax.vmap(problem.init)(jax.random.split(jax.random.PRNGKey(seed), n_runs))

    def t_adv(n):
        t = time.perf_counter()
        jax.block_until_ready(tr.advance(s0, n, consts=c0))
        return time.perf_counter() - t

    t_adv(1)  # compile (the step count is an argument: one program for every n)

    def steps_for(seconds):
        n, t = 1, t_adv(1)
        while t < seconds / 4:
            n *= 4
            t = t_adv(n)
        return max(1, math.ceil(n * seconds / t))

    return t_adv, steps_for


def time_trainer(problem, n_runs: int = 1, min_seconds: float = 1.5, seed: int = 0,
                 blocks: int = 3) -> float:
    """Seconds per training step (epoch) of `n_runs` runs vmapped together, as learndyn trains:
    `Trainer.advance(state, n)`, one compiled program (a fori_loop over the vmapped step with
    the trainer's divergence checks). The trainer is built with an empty `observe`, so that the
    time is that of training alone (advance records the observables once at its end, and the
    closed-loop observables' eigen-decompositions cost more than an epoch and vary with the
    state). The first call compiles; then the best of `blocks` calls of n steps each.
    """
    t_adv, steps_for = _trainer_blocks(problem, n_runs, seed)
    n = steps_for(min_seconds / blocks)
    return min(t_adv(n) for _ in range(blocks)) / n


def time_batch_against_single(problem, n_runs: int, min_seconds: float,
                              rounds: int = 5) -> tuple[float, float]:
    """learndyn's seconds per run-step for `n_runs` runs vmapped together, and for one run:
    the comparison that "a batch costs no more per run than one run" rests on.

    Each side's time per step is the slope between a call of n steps and one of 3n steps,
    (t(3n) - t(n)) / 2n: a call's fixed cost (its first step runs on freshly mapped
    temporaries; about 15 ms for one Li2 run, 40 ms for 8) cancels, as it vanishes in a
    training run's chunks of hundreds of steps. The two sides alternate (single, batch,
    single, ...) so that both see the same state of a shared machine, with calls of about
    the same length, and each is the median of its `rounds` slopes. (Best-of-k over calls of
    unequal length would favour the shorter calls on a noisy machine.) A slope that is not
    positive (the machine's noise larger than 2n steps' work: tiny problems) is no
    measurement and is left out; a side left with none falls back to t(3n) / 3n.
    Returns (batch per run, single)."""
    unit = min_seconds / (8 * rounds)   # per round and side: calls of n and 3n steps

    def side(n_side):
        t_adv, steps_for = _trainer_blocks(problem, n_side)
        n = steps_for(unit)

        def slope():
            short, long = t_adv(n), t_adv(3 * n)
            return (long - short) / (2 * n * n_side), long / (3 * n * n_side)
        return slope

    single_slope, batch_slope = side(1), side(n_runs)
    single, batch = [], []
    for _ in range(rounds):
        single.append(single_slope())
        batch.append(batch_slope())

    def median(pairs):
        good = [d for d, _ in pairs if d > 0]
        return float(np.median(good if good else [avg for _, avg in pairs]))

    return median(batch), median(single)


def batch_note(name: str, n_runs: int, batch: float, single: float) -> str:
    return (f"{name}: {n_runs} runs in one batch {batch * 1e3:.3g} ms per run against "
            f"{single * 1e3:.3g} ms for one run alone (learndyn, per-step slopes measured "
            f"alternately, median of each): {batch / single:.2f}x")


def _unrolled(jaxpr: jax_core.Jaxpr) -> jax_core.Jaxpr:
    """A copy of `jaxpr` in which every scan (at any depth: inside jit, cond, custom
    derivatives, other scans) is fully unrolled (`unroll` = its length). Nothing else
    changes, and nothing outside the copy (no JAX function is replaced)."""
    eqns = []
    for eqn in jaxpr.eqns:
        params = {k: _unrolled_param(v) for k, v in eqn.params.items()}
        if eqn.primitive.name == "scan":
            params["unroll"] = max(1, int(params["length"]))
        eqns.append(eqn.replace(params=params))
    return jaxpr.replace(eqns=eqns)


def _unrolled_param(value):
    if isinstance(value, jax_core.ClosedJaxpr):
        return jax_core.ClosedJaxpr(_unrolled(value.jaxpr), value.consts)
    if isinstance(value, jax_core.Jaxpr):
        return _unrolled(value)
    if isinstance(value, (tuple, list)) and value and all(
            isinstance(v, (jax_core.ClosedJaxpr, jax_core.Jaxpr)) for v in value):
        return type(value)(_unrolled_param(v) for v in value)
    return value


def xla_flops(fn: Callable, *args, unroll_scans: bool = True) -> float:
    """FLOPs of `fn(*args)` by XLA's own cost analysis (`jax.jit(...).lower(...)`).

    In this jax version `cost_analysis()` is a dict (older versions: a list of one dict per
    program), and the body of a while loop (lax.scan, fori_loop) is counted ONCE, whatever its
    trip count. So the program to count must contain no loops over the unit of work: pass one
    step (e.g. one training epoch, not a fori_loop of epochs). With `unroll_scans` the program
    lowered is fn's jaxpr with every scan fully unrolled (`_unrolled`: an explicit rewrite of
    that copy; e.g. the time loops of a rollout, and a fori_loop of static length, which JAX
    writes as a scan), so that each iteration is counted; a loop of dynamic length (a
    while_loop) is still counted once.
    """
    closed = jax.make_jaxpr(fn)(*args)
    if unroll_scans:
        closed = jax_core.ClosedJaxpr(_unrolled(closed.jaxpr), closed.consts)
    lowered = jax.jit(jax_core.jaxpr_as_fun(closed)).lower(*jax.tree_util.tree_leaves(args))
    ca = lowered.cost_analysis()
    if isinstance(ca, (list, tuple)):
        ca = ca[0] if ca else {}
    return float((ca or {}).get("flops", 0.0))


# -- running ------------------------------------------------------------------------------------

def run_benchmarks(names: Iterable[str] | str | None = None,
                   progress: Callable[[str], None] | None = None, *, quick: bool = False,
                   min_seconds: float | None = None, peak_flops: float | None = None,
                   info: dict | None = None) -> list[dict]:
    """Run the named benchmarks (default: all registered) and return one row per benchmark
    with exactly the keys ROW_KEYS (see the module docstring).

    progress: called with a one-line message before each stage. quick: small sizes and short
    measurements (a smoke test; the numbers are not meaningful). peak_flops: skip the peak
    measurement and use this value (FLOP/s). info: if given, filled with "peak_flops" and
    "notes" (a list of one-line remarks, e.g. BASELINE_HINT when PyTorch is missing).
    """
    discover()
    allowed = list(_REGISTRY)
    if names is None:
        names = allowed
    elif isinstance(names, str):
        names = [names]
    names = list(names)
    for name in names:
        if name not in _REGISTRY:
            raise ConfigError("bench", f"unknown benchmark {name!r}; allowed: "
                              f"{', '.join(allowed) if allowed else '(none found)'}")
    say = progress or (lambda msg: None)
    settings = BenchSettings(quick=quick, min_seconds=min_seconds if min_seconds is not None
                             else (0.05 if quick else 1.5))
    notes = []
    has_torch = torch_available()
    if not has_torch:
        notes.append(BASELINE_HINT)
        say(BASELINE_HINT)
    if peak_flops is None:
        say("measuring float32 matmul peak")
        with float32_matmuls():
            peak_flops = measure_matmul_peak(seconds=0.2 if quick else 1.5,
                                             sizes=(128, 256) if quick else (256, 512, 1024, 2048))
    rows = []
    for name in names:
        b = _REGISTRY[name]
        say(f"running {name}")
        with float32_matmuls():   # the precision learndyn trains at (run_recipe)
            base, ours, flops, *measured = b.run(settings)
        base = float(base) if base is not None else None
        ours = float(ours)
        if b.notes:
            notes.append(b.notes)
        notes += [m for m in measured if m]
        rows.append({
            "name": b.name,
            "unit": b.unit,
            "baseline_s": base,
            "learndyn_s": ours,
            "ratio": base / ours if base is not None else None,
            "fraction_of_peak": float(flops) / ours / peak_flops,
        })
    if info is not None:
        info["peak_flops"] = peak_flops
        info["notes"] = notes
    return rows


def format_table(rows: list[dict], peak_flops: float | None = None,
                 notes: Iterable[str] = ()) -> str:
    """The human-readable table of `run_benchmarks` rows (plus the peak and any notes)."""
    def fmt_s(v):
        if v is None:
            return "-"
        return f"{v * 1e3:.2f} ms" if v < 1 else f"{v:.2f} s"

    header = ("benchmark", "unit", "baseline", "learndyn", "ratio", "of peak")
    body = [(r["name"], r["unit"], fmt_s(r["baseline_s"]), fmt_s(r["learndyn_s"]),
             "-" if r["ratio"] is None else f"{r['ratio']:.1f}x",
             f"{100 * r['fraction_of_peak']:.0f} %") for r in rows]
    widths = [max(len(x[i]) for x in [header] + body) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(line, widths))) for line in [header] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if peak_flops is not None:
        lines.append(f"peak: {peak_flops / 1e9:.1f} GFLOP/s (float32 matmul, jax, this machine)")
    lines += list(notes)
    return "\n".join(lines)
