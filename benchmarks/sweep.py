"""A sweep's throughput on every core against one process (`learndyn sweep`, issue 23).

  sweep-local         the same sweep run twice, from scratch each time, in fresh folders:
                      baseline = every cell in this one process with JAX's own threading
                      (LocalExecutor(workers=1)); learndyn = the local executor's default,
                      one spawned single-threaded worker process per core. The sweep: small
                      Li2 cells, li2-fig7 at smoke scale (Z23, K = 512, n = 264, 600 epochs,
                      3 learning rates as one vmapped batch of 3 x 2 seeds), over the first
                      seed in {0, 2, ..., 8 cores - 2}: 4 cells a core, so the workers' start
                      (a fresh process imports JAX and compiles) is spread over several cells. Unit:
                      run (one seed of one learning rate, trained, recorded and analysed;
                      no figures), wall time of the whole sweep / runs, so start-up,
                      compiling and the sweep's own bookkeeping count on both sides.
                      ratio = throughput with workers / throughput of one process (target:
                      1.7 on 2 cores). The limit: one process is not one core's work (JAX
                      dispatches asynchronously and compiles on other threads), so the note
                      also times the one-process sweep pinned to one core: cores one process
                      uses = pinned time / free time, and the most the workers can gain is
                      cores / that. FLOPs: XLA's count of one training step times the
                      epochs (records and analysis left out, so fraction_of_peak is a lower
                      bound).

quick mode: 60 epochs and 2 cells (a smoke test of the machinery; the numbers mean nothing).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .harness import Benchmark, BenchSettings, register, xla_flops

# pack = false: every cell its own job, as measured on 2026-12-08 (the executor's parallelism;
# packing the seed cells into vectorised batches is a different trade, see docs/sweeps.md)
SWEEP = """
name = "bench"
recipe = "li2-fig7"
scale = "smoke"
pack = false
[set]
"train.epochs" = {epochs}
[grid]
seed = {seeds}
"""


def _sweep(settings: BenchSettings, folder: Path):
    from learndyn.sweep import load_sweep
    cores = os.cpu_count() or 1
    seeds = [0, 2] if settings.quick else list(range(0, 8 * cores, 2))
    path = folder / "bench.toml"
    path.write_text(SWEEP.format(epochs=60 if settings.quick else 600, seeds=seeds))
    return path, load_sweep(path)


# each side in a fresh process with a fresh persistent compilation cache of its own (the
# CLI's default keeps one; a sweep's workers share it): what a user's first sweep of these
# cells costs, whatever ran before it
_DRIVER = """
import json, os, sys, time
from learndyn.sweep import LocalExecutor, load_sweep, run_sweep
path, out, workers, pin = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
if pin:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
sweep = load_sweep(path)
t0 = time.perf_counter()
m = run_sweep(sweep, out, LocalExecutor(workers) if workers else LocalExecutor())
dt = time.perf_counter() - t0
bad = [c for c in m["cells"].values() if c["status"] != "done"]
print(json.dumps({"seconds": dt, "bad": bad[:1]}))
"""


def _time(path: Path, out: Path, workers: int = 0, pin: bool = False) -> float:
    """Wall seconds of the sweep at `path` (workers 0: the executor's default; 1: in the
    driver's own process), in a fresh process."""
    import json
    import subprocess
    import sys
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(Path(out).with_name(
        Path(out).name + "-cache"))}
    res = subprocess.run([sys.executable, "-c", _DRIVER, str(path), str(out), str(workers),
                          "1" if pin else "0"], env=env, capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        raise RuntimeError(f"the sweep benchmark's driver failed: {res.stderr[-2000:]}")
    got = json.loads(res.stdout.strip().splitlines()[-1])
    if got["bad"]:
        raise RuntimeError(f"a benchmark cell did not finish: {got['bad'][0]}")
    return got["seconds"]


def _runs(sweep) -> int:
    return sum(c.recipe.seeds * len(c.recipe.variants) for c in sweep.cells)


def _flops_per_run(recipe) -> float:
    import jax

    from learndyn.grokking.world import batches
    prob = batches(recipe)[0].problem
    state, consts = prob.init(jax.random.PRNGKey(0), 1e-3, 0.0, 1.0)
    return xla_flops(prob.step, state, 0, consts) * recipe.train.epochs


def run_sweep_local(settings: BenchSettings):
    from learndyn.sweep import LocalExecutor
    with tempfile.TemporaryDirectory(prefix="learndyn-bench-sweep-") as tmp:
        tmp = Path(tmp)
        path, sweep = _sweep(settings, tmp)
        n = _runs(sweep)
        one = _time(path, tmp / "one", workers=1) / n
        many = _time(path, tmp / "many") / n
        pinned = _time(path, tmp / "pinned", workers=1, pin=True) / n
        flops = _flops_per_run(sweep.cells[0].recipe)
    workers = LocalExecutor().workers
    used = pinned / one
    note = (f"sweep-local: {len(sweep.cells)} cells, {n} runs; one process {one:.3g} s a run "
            f"({pinned:.3g} s pinned to one core: it uses {used:.2f} cores), {workers} "
            f"single-threaded workers {many:.3g} s a run: {one / many:.2f}x the throughput "
            f"of one process, where {workers / used:.2f}x is the most {workers} cores allow")
    return one, many, flops, note


register(Benchmark("sweep-local", "run", run_sweep_local,
                   "a sweep of small Li2 cells: one process vs one worker per core",
                   notes="sweep-local: baseline = the sweep in one process (JAX's threads); "
                         "learndyn = one single-threaded worker process per core"))
