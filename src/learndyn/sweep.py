"""Sweeps: one recipe over a grid of its fields, many seeds a cell, on every core or on Ray.

A sweep file (TOML) names a base recipe and the axes to vary:

    name = "li2-ratio"
    recipe = "li2-fig3"              # a shipped recipe's name, or a path to a .toml
    scale = "smoke"                  # the recipe's scale the cells run at (default: smoke)
    seeds = 3                        # seeds a cell (default: the recipe's)
    [set]                            # fields set in every cell
    "train.epochs" = 300
    [grid]                           # every combination (one dimension an axis)
    "data.n" = [100, 200, 300]
    group = ["Z23", "Z29"]
    [zip]                            # axes that move together (one dimension, equal lengths)
    "train.lr" = [1e-3, 2e-3]
    "train.weight_decay" = [1e-4, 2e-4]
    [scales.cpu]                     # optional: `--scale cpu` replaces any of the above
    scale = "paper"
    seeds = 5

Each cell is the base recipe with `set` and its axis values as overrides (exactly what
`learndyn run RECIPE --set ...` would run), validated before anything is trained. A cell is a
job: one run folder under the sweep folder, its seeds one vectorised batch (the recipe's
variants of one shape, too). Jobs run in worker processes, one per core by default
(`LocalExecutor`), or as Ray tasks (`RayExecutor`). The sweep folder's `manifest.json`
records every cell (its recipe hash, status, run folder, seconds, versions, device) and is
rewritten atomically as each job ends: a sweep killed at any moment and started again skips
the cells recorded as finished (each run folder resumes from its own checkpoints, so even the
cells in flight keep what they had recorded). A cell whose run fails is recorded as failed
(with the error) and the sweep goes on; one whose seeds all diverged is recorded as diverged.
At the end, every cell's per-seed results are gathered into one xarray Dataset over the
sweep's axes, the recipe's variants and the seeds (`gather`), saved as `results.zarr`.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from learndyn.errors import ConfigError, LearndynError

SWEEP_KEYS = ("name", "recipe", "description", "scale", "seeds", "pack", "set", "grid", "zip",
              "scales",
              "phase", "table")
PHASE_KEYS = ("rows", "cols", "outcome", "success", "failure")
SCALE_KEYS = ("scale", "seeds", "pack", "set", "grid", "zip")
MANIFEST = "manifest.json"
FINISHED = ("done", "diverged")   # statuses a resumed sweep does not run again


@dataclass(frozen=True)
class Cell:
    """One point of the sweep: `coords` {axis: value}, `index` its position along each
    dimension, `overrides` what the base recipe gets (set, axes, seeds), `recipe` validated."""
    index: tuple[int, ...]
    coords: dict
    overrides: dict
    recipe: Any
    hash: str            # the validated recipe's hash: the cell's identity across resumes

    @property
    def key(self) -> str:
        return "-".join(str(i) for i in self.index) or "0"

    @property
    def folder(self) -> str:
        return f"runs/{self.key}-{self.hash[:8]}"


@dataclass
class Sweep:
    """A resolved sweep: its cells over `dims` (each dimension's axes and their values)."""
    name: str
    recipe: str
    recipe_raw: dict
    scale: str            # the sweep's scale name
    recipe_scale: str     # the recipe's scale each cell runs at
    seeds: int | None
    set: dict
    dims: list[tuple[str, dict[str, list]]]   # (dimension name, {axis: values})
    cells: list[Cell] = field(default_factory=list)
    description: str = ""
    phase: dict = field(default_factory=dict)   # [phase]: rows, cols, outcome, success, failure
    table: list = field(default_factory=list)   # "variant.variable": per-seed distributions
    pack: bool = True     # cells that differ only in their seeds run as one batch (`packs`)

    def text(self) -> str:
        """The resolved sweep as TOML (what the sweep folder records)."""
        import tomli_w
        doc = {"name": self.name, "recipe": self.recipe, "scale": self.recipe_scale,
               "sweep_scale": self.scale, "set": self.set,
               "dims": {d: axes for d, axes in self.dims}}
        if self.seeds is not None:
            doc["seeds"] = self.seeds
        return tomli_w.dumps(doc)


def _table(doc: dict, key: str, where: str) -> dict:
    v = doc.get(key, {})
    if not isinstance(v, dict):
        raise ConfigError(f"{where}{key}", f"must be a table of dotted field names, got {v!r}")
    return v


def _axes(table: dict, where: str) -> dict[str, list]:
    for k, v in table.items():
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{where}.{k}", f"must be a non-empty list of values, got {v!r}")
        if len(v) != len(set(json.dumps(x, sort_keys=True) for x in v)):
            raise ConfigError(f"{where}.{k}", f"lists a value twice: {v!r}")
    return dict(table)


def find_sweep(name_or_path: str | Path) -> Path:
    """The sweep file of a path, or of a name in a recipe directory's sweeps/ folder
    (experiments/sweeps/NAME.toml)."""
    from learndyn.recipes import recipe_dirs
    p = Path(name_or_path)
    if p.is_file() or p.suffix == ".toml" or len(p.parts) > 1:
        return p
    found = {q.stem: q for d in reversed(recipe_dirs()) for q in sorted((d / "sweeps").glob("*.toml"))}
    if str(name_or_path) in found:
        return found[str(name_or_path)]
    raise ConfigError("SWEEP", f"no sweep file {str(name_or_path)!r}; named sweeps: "
                      f"{', '.join(sorted(found)) or '(none found)'}")


def sweep_scales(path: str | Path) -> list[str]:
    """The scales of a sweep file: "default" (its top level), then its [scales] in order."""
    from learndyn.recipes import read_toml
    doc = read_toml(Path(path), "SWEEP")
    scales = doc.get("scales", {})
    return ["default", *(scales if isinstance(scales, dict) else {})]


def finished(sweep: Sweep, out: Path) -> bool:
    """Whether `out` holds this sweep with every cell finished (done or diverged)."""
    try:
        cells = read_manifest(Path(out)).get("cells", {})
    except LearndynError:
        return False
    return all(cells.get(c.key, {}).get("hash") == c.hash
               and cells.get(c.key, {}).get("status") in FINISHED for c in sweep.cells)


def load_sweep(path: str | Path, scale: str | None = None,
               overrides: dict | None = None) -> Sweep:
    """Read and validate a sweep file at `scale` (a table of its [scales]; None: the top
    level); `overrides` (dotted recipe fields) are set in every cell after the file's `set`.
    Every cell's recipe is validated here, so a bad value fails in one line naming the field
    before anything runs."""
    from learndyn.recipes import find_recipe, read_toml, recipe_hash, validate_recipe
    path = Path(path)
    doc = read_toml(path, "SWEEP")
    unknown = sorted(set(doc) - set(SWEEP_KEYS))
    if unknown:
        raise ConfigError(unknown[0], f"is not a sweep field; allowed: {list(SWEEP_KEYS)}")
    for k in ("name", "recipe"):
        if not isinstance(doc.get(k), str) or not doc.get(k):
            raise ConfigError(k, "is required: a non-empty string")
    scales = _table(doc, "scales", "")
    if scale is not None and scale != "default":
        if scale not in scales:
            raise ConfigError("--scale", f"{scale!r} is not a scale of {path.name}; allowed: "
                              f"{['default', *scales]}")
        table = scales[scale]
        bad = sorted(set(table) - set(SCALE_KEYS)) if isinstance(table, dict) else ["(table)"]
        if bad:
            raise ConfigError(f"scales.{scale}.{bad[0]}", f"allowed: {list(SCALE_KEYS)}")
        doc = {**doc, **{k: v for k, v in table.items() if k != "set"},
               "set": {**_table(doc, "set", ""), **_table(table, "set", f"scales.{scale}.")}}
    beside = path.parent / doc["recipe"]   # a recipe path relative to the sweep file
    recipe_path = beside if beside.suffix == ".toml" and beside.is_file() \
        else find_recipe(doc["recipe"])
    raw = read_toml(recipe_path, "recipe")
    rscale = doc.get("scale", "smoke")
    seeds = doc.get("seeds")
    if seeds is not None and (not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1):
        raise ConfigError("seeds", f"must be a whole number >= 1, got {seeds!r}")
    fixed = {**_table(doc, "set", ""), **(overrides or {})}
    grid = _axes(_table(doc, "grid", ""), "grid")
    zipped = _axes(_table(doc, "zip", ""), "zip")
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise ConfigError("zip", f"its lists must have one length, got "
                          f"{ {k: len(v) for k, v in zipped.items()} }")
    phase = _table(doc, "phase", "")
    if phase:
        bad = sorted(set(phase) - set(PHASE_KEYS))
        if bad:
            raise ConfigError(f"phase.{bad[0]}", f"allowed: {list(PHASE_KEYS)}")
        for k in ("rows", "cols"):
            if phase.get(k) not in grid:
                raise ConfigError(f"phase.{k}", f"must name a [grid] axis; got "
                                  f"{phase.get(k)!r}, allowed: {list(grid)}")
    pack = doc.get("pack", True)
    if not isinstance(pack, bool):
        raise ConfigError("pack", f"must be true or false, got {pack!r}")
    table = doc.get("table", [])
    if not isinstance(table, list) or not all(isinstance(x, str) and "." in x for x in table):
        raise ConfigError("table", f"must be a list of 'variant.variable' strings (e.g. "
                          f"\"open.peak_step\"), got {table!r}")
    both = sorted((set(grid) & set(zipped)) | ((set(grid) | set(zipped)) & set(fixed)))
    if both:
        raise ConfigError(both[0], "is set twice (in two of set, grid, zip); give it once")
    if "seeds" in grid or "seeds" in zipped:
        raise ConfigError("seeds", "cannot be an axis: a cell's seeds are one batch "
                          "(set `seeds`)")
    dims: list[tuple[str, dict[str, list]]] = [(_dim(k), {k: v}) for k, v in grid.items()]
    if zipped:
        dims.append((_dim(next(iter(zipped))), zipped))
    sw = Sweep(name=doc["name"], recipe=doc["recipe"], recipe_raw=raw,
               scale=scale or "default", recipe_scale=rscale, seeds=seeds, set=fixed,
               dims=dims, description=str(doc.get("description", "")), phase=dict(phase),
               table=list(table), pack=pack)
    shapes = [range(len(next(iter(axes.values())))) for _, axes in dims]
    for index in itertools.product(*shapes):
        coords = {}
        for (_, axes), i in zip(dims, index):
            coords.update({k: v[i] for k, v in axes.items()})
        over = {**fixed, **coords, **({"seeds": seeds} if seeds is not None else {})}
        where = f"{path.stem} cell {dict(coords)}" if coords else path.stem
        recipe = validate_recipe(raw, rscale, over, where=where)
        sw.cells.append(Cell(tuple(index), coords, over, recipe, recipe_hash(recipe)))
    return sw


def _dim(axis: str) -> str:
    """The Dataset dimension of an axis: its name, except that the recipe's first seed
    (`seed`, the usual way to spread many seeds over cells) is "first_seed", the dimension
    "seed" being the seeds within a cell."""
    return "first_seed" if axis == "seed" else axis


# -- packing: cells that differ only in their seeds, as one vectorised batch ---------------------
# Cells whose recipes are equal but for `seed` and whose seed ranges follow on from one another
# (seed, seed + seeds - 1, then the next cell's seed, ...) run as ONE recipe over all their
# seeds: one compiled program, one vectorised batch (the run of seed k uses the key of seed k
# whatever batch it is in: core/seeds.py, so the numbers are each cell's own, up to float32
# rounding that depends on the batch size). A pack is one job and one run folder
# (runs/pack-<first cell>-<hash8>); the manifest records each packed cell with that folder and
# its slice of the seeds. Packs are split so that every worker gets one: `parts` jobs at most
# per group of packable cells.


@dataclass(frozen=True)
class Pack:
    cells: list            # the packed cells, in seed order
    overrides: dict        # the packed recipe's overrides: the first cell's, with all the seeds
    hash: str

    @property
    def folder(self) -> str:
        return f"runs/pack-{self.cells[0].key}-{self.hash[:8]}"

    def slices(self) -> list[tuple[int, int]]:
        """Each cell's (first index, number of seeds) in the pack's batch."""
        out, at = [], 0
        for c in self.cells:
            out.append((at, c.recipe.seeds))
            at += c.recipe.seeds
        return out


def packs(sweep: Sweep, cells: list, parts: int) -> list:
    """The jobs of `cells`: a Pack for each run of two or more packable cells (above), split
    into at most `parts` near-equal packs per group; every other cell alone."""
    from learndyn.recipes import recipe_hash, validate_recipe
    if not sweep.pack:
        return list(cells)
    groups: dict[str, list] = {}
    for c in cells:
        rest = {k: v for k, v in c.overrides.items() if k not in ("seed", "seeds")}
        key = json.dumps([rest, c.recipe.model_dump(mode="json", exclude={"seed", "seeds",
                                                                         "resolved"})],
                         sort_keys=True, default=str)
        groups.setdefault(key, []).append(c)
    jobs: list = []
    for group in groups.values():
        group.sort(key=lambda c: c.recipe.seed)
        runs, cur = [], [group[0]]
        for c in group[1:]:
            last = cur[-1].recipe
            if c.recipe.seed == last.seed + last.seeds:
                cur.append(c)
            else:
                runs.append(cur)
                cur = [c]
        runs.append(cur)
        for run in runs:
            k = max(1, min(parts, len(run)))
            size = math.ceil(len(run) / k)
            for i in range(0, len(run), size):
                part = run[i:i + size]
                if len(part) == 1:
                    jobs.append(part[0])
                    continue
                over = {**part[0].overrides, "seed": part[0].recipe.seed,
                        "seeds": sum(c.recipe.seeds for c in part)}
                rcp = validate_recipe(sweep.recipe_raw, sweep.recipe_scale, over,
                                      where=f"{sweep.name} pack of {len(part)} cells")
                jobs.append(Pack(part, over, recipe_hash(rcp)))
    return jobs


def _slice_summary(summary: dict, start: int, n: int) -> dict:
    """The summary restricted to seeds [start, start + n): every per_seed table sliced (what
    the sweep reads of a cell: gather, the phase diagram, the statuses)."""
    out = {}
    for k, v in summary.items():
        if k == "per_seed" and isinstance(v, dict):
            out[k] = {kk: (vv[start:start + n] if isinstance(vv, list) else vv)
                      for kk, vv in v.items()}
        elif isinstance(v, dict):
            out[k] = _slice_summary(v, start, n)
        else:
            out[k] = v
    return out


def cell_summary(out: Path, entry: dict) -> dict:
    """A finished cell's summary: its run folder's, or its slice of its pack's."""
    summary = json.loads((Path(out) / entry["run"] / "summary.json").read_text())
    if entry.get("slice"):
        summary = _slice_summary(summary, *entry["slice"])
    return summary


def _statuses(summary: dict) -> dict:
    statuses = [s for _, ps in per_seed_tables(summary) for s in ps.get("status", [])]
    n_div = sum(s == "diverged" for s in statuses)
    return {"status": "diverged" if statuses and n_div == len(statuses) else "done",
            "n_runs": len(statuses), "n_diverged": n_div, "error": None}


def run_pack(recipe_raw: dict, scale: str, overrides: dict, folder: str,
             slices: list) -> dict:
    """Run a pack into `folder` as one recipe over all its cells' seeds; never raises:
    returns {"cells": [each cell's result, as run_cell's]} (a failure fails every cell)."""
    res = run_cell(recipe_raw, scale, overrides, folder)
    if res["status"] == "failed":
        return {"cells": [dict(res) for _ in slices]}
    summary = json.loads((Path(folder) / "summary.json").read_text())
    cells = []
    for start, n in slices:
        r = {**res, **_statuses(_slice_summary(summary, start, n)), "slice": [start, n]}
        cells.append(r)
    return {"cells": cells}


# -- one job: a cell's run (in a worker process, a Ray task, or this process) -------------------

def versions() -> dict:
    import jax

    import learndyn
    dev = jax.devices()[0]
    return {"learndyn": getattr(learndyn, "__version__", "?"), "jax": jax.__version__,
            "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}".rstrip(":"),
            "host": platform.node()}


def run_job(recipe_raw: dict, scale: str, overrides: dict, folder: str,
            slices: list | None = None) -> dict:
    """A sweep's job: one cell (run_cell), or a pack of cells with their seed slices."""
    if slices is None:
        return run_cell(recipe_raw, scale, overrides, folder)
    return run_pack(recipe_raw, scale, overrides, folder, slices)


def run_cell(recipe_raw: dict, scale: str, overrides: dict, folder: str) -> dict:
    """Run one cell into `folder` (resuming what it recorded before); never raises: returns
    {status: done | diverged | failed, seconds, n_seeds, n_diverged, error, versions}."""
    from learndyn.recipes import run_recipe, validate_recipe
    t0 = time.time()
    out: dict[str, Any] = {"versions": None}
    try:
        out["versions"] = versions()
        recipe = validate_recipe(recipe_raw, scale, overrides)
        summary = run_recipe(recipe, Path(folder), scale=scale, figures=False)
        out.update(_statuses(summary))
    except Exception as err:  # noqa: BLE001 -- a failed cell is recorded, the sweep goes on
        out.update(status="failed", n_runs=0, n_diverged=0,
                   error=f"{type(err).__name__}: {' '.join(str(err).split())}"[:500])
    out["seconds"] = round(time.time() - t0, 3)
    return out


# -- executors ---------------------------------------------------------------------------------

def _init_worker(threads: int | None) -> None:
    """A local worker: at most `threads` compute threads (XLA's CPU client and BLAS), and it
    dies with the sweep process (Linux: PR_SET_PDEATHSIG), so a killed sweep leaves no worker
    writing into its folders."""
    if threads:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (f"{flags} --xla_cpu_multi_thread_eigen=false "
                                   f"intra_op_parallelism_threads={threads}").strip()
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class LocalExecutor:
    """Jobs in `workers` processes on this machine (default: one per core), each limited to
    `threads` compute threads (default 1 when there are several workers: on 2 cores, two
    single-threaded processes beat one process using both: benchmarks/sweep.py).
    workers = 1 runs the jobs in this process, with JAX's own threading."""

    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self.threads = threads if threads is not None else (1 if self.workers > 1 else None)

    def map(self, fn: Callable, jobs: list[tuple]) -> Iterable[tuple[int, dict]]:
        """(job index, result) as each job ends, in any order."""
        if self.workers == 1:
            for i, args in enumerate(jobs):
                yield i, fn(*args)
            return
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        ctx = mp.get_context("spawn")   # never fork a process that has started JAX's threads
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(self.threads,)) as pool:
            pending = {pool.submit(fn, *args): i for i, args in enumerate(jobs)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield pending.pop(f), _result(f)


def _result(future) -> dict:
    """A job's result; a worker that died (killed, out of memory) fails its job, recorded."""
    try:
        return future.result()
    except Exception as err:  # noqa: BLE001
        return {"status": "failed", "n_runs": 0, "n_diverged": 0, "seconds": None,
                "versions": None, "error": f"worker died: {type(err).__name__}: {err}"[:500]}


class RayExecutor:
    """Jobs as Ray tasks on a running cluster (`address`, or RAY_ADDRESS; "local" starts a
    private instance on this machine, as the tests do). The run folders must be on a file
    system every node sees (the sweep folder's path is the same on each)."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 threads: int | None = 1):
        try:
            import ray
        except ImportError:
            raise LearndynError("--executor ray: ray is not installed; pip install "
                                "'learndyn[ray]'") from None
        self.ray = ray
        self.address = address or os.environ.get("RAY_ADDRESS")
        self.workers = workers
        self.threads = threads

    def map(self, fn: Callable, jobs: list[tuple]) -> Iterable[tuple[int, dict]]:
        ray = self.ray
        started = False
        if not ray.is_initialized():
            if self.address in (None, "", "local"):
                ray.init(num_cpus=self.workers or os.cpu_count(), include_dashboard=False,
                         log_to_driver=False)
            else:
                ray.init(address=self.address, log_to_driver=False)
            started = True
        env = {}
        if self.threads:
            env = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
                   f"intra_op_parallelism_threads={self.threads}",
                   "OMP_NUM_THREADS": str(self.threads)}
        task = ray.remote(num_cpus=1, max_retries=1)(fn).options(
            runtime_env={"env_vars": env} if env else None)
        try:
            refs = {task.remote(*args): i for i, args in enumerate(jobs)}
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for r in done:
                    yield refs.pop(r), ray.get(r)
        finally:
            if started:
                ray.shutdown()


# -- the manifest ------------------------------------------------------------------------------

def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {"format": 1, "cells": {}}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise LearndynError(f"--out: {path} is corrupt ({err}); delete it to start the "
                            "sweep again (the run folders resume)") from None


def write_manifest(folder: Path, manifest: dict) -> None:
    """Atomically (the run store's write: a temporary file, fsynced, renamed over the old)."""
    from learndyn.core.store import RunStore
    RunStore(folder).write_text(MANIFEST, json.dumps(manifest, indent=1, default=str))


def default_out(sweep: Sweep, runs_dir: Path = Path("runs")) -> Path:
    return Path(runs_dir) / "sweeps" / f"{sweep.name}-{sweep.scale}"


def run_sweep(sweep: Sweep, out: Path, executor=None,
              progress: Callable[[int, int, dict], None] | None = None) -> dict:
    """Run every cell not yet finished (the manifest in `out`); returns the manifest. The
    sweep folder's lock is held throughout (a second sweep into it fails in one line)."""
    from learndyn.core.store import RunStore
    from learndyn.recipes import check_out
    out = Path(out)
    check_out(out)
    executor = executor or LocalExecutor()
    store = RunStore(out)
    with store.lock("--out"):
        store.write_text("sweep.toml", sweep.text())
        manifest = read_manifest(out)
        cells = manifest.setdefault("cells", {})
        manifest.update(name=sweep.name, recipe=sweep.recipe, scale=sweep.scale,
                        dims=[[d, axes] for d, axes in sweep.dims])
        todo = []
        for c in sweep.cells:
            old = cells.get(c.key)
            if old and old.get("hash") == c.hash and old.get("status") in FINISHED:
                continue
            cells[c.key] = {"coords": c.coords, "hash": c.hash, "run": c.folder,
                            "status": "pending"}
            todo.append(c)
        write_manifest(out, manifest)
        n_done = len(sweep.cells) - len(todo)
        if progress:
            progress(n_done, len(sweep.cells), {})
        units = packs(sweep, todo, getattr(executor, "workers", None) or 1)
        jobs = [(sweep.recipe_raw, sweep.recipe_scale, u.overrides, str(out / u.folder))
                + ((u.slices(),) if isinstance(u, Pack) else ()) for u in units]
        for i, res in executor.map(run_job, jobs):
            u = units[i]
            if isinstance(u, Pack):   # a pack's result, or one failure (its worker died)
                done = list(zip(u.cells, res.get("cells") or [dict(res)] * len(u.cells)))
            else:
                done = [(u, res)]
            for c, r in done:
                cells[c.key].update(r, run=u.folder)
            write_manifest(out, manifest)
            for c, _ in done:
                n_done += 1
                if progress:
                    progress(n_done, len(sweep.cells), cells[c.key])
        if any(cells[c.key]["status"] in FINISHED for c in sweep.cells):
            ds = gather(sweep, out)
            save_dataset(ds, out / "results.zarr")
            if sweep.phase:
                analyse_phase(sweep, ds, out)
            if sweep.table:
                rows = seed_table(ds, sweep.table)
                store.write_text("table.md", format_seed_table(rows))
        return manifest


# -- the claims that read a sweep ---------------------------------------------------------------

@dataclass
class _ThisSweep:
    """The claims' run source inside `learndyn sweep`: the sweep just run, by its name; a
    recipe run is not at hand here (`learndyn claims` checks those)."""
    sweep_: Sweep
    out: Path

    @property
    def scale(self) -> str:
        return self.sweep_.recipe_scale

    def get(self, recipe: str, overrides: dict | None = None):
        from learndyn.core.claims import NotRun
        raise NotRun(f"reads runs of {recipe}: checked by learndyn claims, not by a sweep")

    def sweep(self, name: str):
        from learndyn.core.claims import NotRun
        from learndyn.ledger import LoadedSweep
        if name != self.sweep_.name:
            raise NotRun(f"reads the sweep {name}, not {self.sweep_.name}")
        return LoadedSweep.read(self.out, name, self.sweep_.scale)


def sweep_claims(sweep: Sweep, out: Path) -> list:
    """The ledger's claims that read this sweep (by its name), checked on its folder `out`;
    written to claims.json there. Empty when no claim reads it."""
    from learndyn.core.claims import run_claims
    from learndyn.core.store import RunStore
    from learndyn.worlds import all_claims
    mine = [c for c in all_claims() if c.sweep == sweep.name]
    if not mine:
        return []
    results = run_claims(_ThisSweep(sweep, Path(out)), mine)
    RunStore(out).write_text("claims.json", json.dumps([r.as_dict() for r in results],
                                                      indent=1))
    return results


# -- the sweep's Dataset -----------------------------------------------------------------------

def per_seed_tables(summary: dict, prefix: str = "") -> list[tuple[str, dict]]:
    """[(variant label, per_seed table)] of a run summary: every `per_seed` table in it, named
    by where it sits (Li2: "variants.eta=0" -> "eta=0"; Ger & Barak: "closed", "open")."""
    found = []
    for k, v in summary.items():
        if not isinstance(v, dict):
            continue
        if k == "per_seed":
            label = prefix.removeprefix("variants.").removeprefix("phases.")
            found.append((label or "run", v))
        else:
            found.extend(per_seed_tables(v, f"{prefix}.{k}" if prefix else k))
    return found


def _columns(table: dict, n: int) -> dict[str, list]:
    """Scalar columns (length n) of a per_seed table: numbers, bools, strings; a list of
    dicts (events) flattened to event keys; a list of short number lists to one column per
    entry (key[0], key[1], ...)."""
    cols: dict[str, list] = {}
    for k, v in table.items():
        if not isinstance(v, list) or len(v) != n:
            continue
        if all(isinstance(x, dict) for x in v):
            for kk in sorted({kk for x in v for kk in x}):
                cols[kk] = [x.get(kk) for x in v]
        elif all(x is None or isinstance(x, list) for x in v):
            width = max((len(x) for x in v if x is not None), default=0)
            if 0 < width <= 8 and all(isinstance(y, (int, float)) for x in v if x for y in x):
                for j in range(width):
                    cols[f"{k}[{j}]"] = [x[j] if x is not None and j < len(x) else None
                                         for x in v]
        else:
            cols[k] = v
    return cols


def _array(values: list):
    if all(v is None or isinstance(v, (bool, int, float)) for v in values):
        return np.array([math.nan if v is None else float(v) for v in values])
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def gather(sweep: Sweep, out: Path):
    """One xarray Dataset of the sweep: dims (each sweep dimension, variant, seed); a data
    variable per per-seed result; cells not finished are NaN (or ""); `status` per cell."""
    import xarray as xr
    manifest = read_manifest(out)
    rows: dict[tuple, dict] = {}
    variants: list[str] = []
    n_seeds = 0
    for c in sweep.cells:
        entry = manifest["cells"].get(c.key, {})
        if entry.get("hash") != c.hash or entry.get("status") not in FINISHED:
            continue
        summary = cell_summary(out, entry) if "run" in entry else \
            json.loads((out / c.folder / "summary.json").read_text())
        for label, table in per_seed_tables(summary):
            n = len(table.get("status", [])) or max((len(v) for v in table.values()
                                                      if isinstance(v, list)), default=0)
            n_seeds = max(n_seeds, n)
            if label not in variants:
                variants.append(label)
            rows[(c.index, label)] = _columns(table, n)
    shape = [len(next(iter(axes.values()))) for _, axes in sweep.dims]
    dims = [d for d, _ in sweep.dims]
    names = sorted({k for cols in rows.values() for k in cols})
    data = {}
    for name in names:
        sample = next(cols[name] for cols in rows.values() if name in cols)
        kind = _array(sample).dtype
        arr = (np.full((*shape, len(variants), n_seeds), math.nan) if kind != object else
               np.full((*shape, len(variants), n_seeds), "", dtype=object))
        for (index, label), cols in rows.items():
            if name in cols:
                vals = _array(cols[name])
                if vals.dtype == arr.dtype:   # a cell whose column is all None stays empty
                    arr[(*index, variants.index(label), slice(0, len(vals)))] = vals
        data[name] = ([*dims, "variant", "seed"],
                      arr.astype(str) if kind == object else arr)
    status = np.full(shape, "pending", dtype=object)
    for c in sweep.cells:
        entry = manifest["cells"].get(c.key, {})
        if entry.get("hash") == c.hash:
            status[c.index] = entry.get("status", "pending")
    data["cell_status"] = (dims, status.astype(str))
    coords: dict[str, Any] = {"variant": variants, "seed": np.arange(n_seeds)}
    for d, axes in sweep.dims:
        for k, v in axes.items():
            coords[_dim(k)] = (d, _coord(v))
    return xr.Dataset(data, coords=coords,
                      attrs={"sweep": sweep.name, "recipe": sweep.recipe,
                             "scale": sweep.scale, "recipe_scale": sweep.recipe_scale})


def _coord(values: list):
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=float)
    return np.array([v if isinstance(v, str) else json.dumps(v) for v in values]).astype(str)


def save_dataset(ds, path: Path) -> None:
    """The Dataset as Zarr, replacing an older copy (written beside, then renamed)."""
    import shutil
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    import warnings
    with warnings.catch_warnings():   # zarr 3: fixed-length strings have no v3 spec yet; the
        warnings.simplefilter("ignore")   # file is read back by xarray (open_dataset) alike
        ds.to_zarr(tmp, mode="w", consolidated=False)
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def open_dataset(folder: Path):
    import xarray as xr
    return xr.open_zarr(Path(folder) / "results.zarr", consolidated=False).load()


# -- the phase diagram of a sweep ([phase]) ------------------------------------------------------
# [phase] rows = a grid axis whose values give M (a group's name: its order; a number: itself),
# cols = a grid axis of numbers (p); outcome = the per-seed variable read (default "outcome");
# success / failure = its values counted as such (default ["generalises"] / ["memorises",
# "neither"]); any other value (still transitioning: censored by the run's length; diverged)
# is left out of the fractions and fits, not counted as a failure.

def _row_value(v) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    from learndyn.groups import parse_group
    return float(parse_group(str(v)).order)


def phase_outcomes(sweep: Sweep, ds, variant: str | None = None):
    """(M, p, outcomes[i][j] = [True / False / None per run]) of the sweep's [phase] axes
    (every variant's runs together, unless `variant`)."""
    ph = sweep.phase
    rows, cols = ph["rows"], ph["cols"]
    succ = set(ph.get("success", ["generalises"]))
    fail = set(ph.get("failure", ["memorises", "neither"]))
    var = ds[ph.get("outcome", "outcome")]
    if variant is not None:
        var = var.sel(variant=[variant])
    others = [d for d in var.dims if d not in (_dim(rows), _dim(cols))]
    rv = next(ax[rows] for _, ax in sweep.dims if rows in ax)
    cv = next(ax[cols] for _, ax in sweep.dims if cols in ax)
    out = []
    for i in range(len(rv)):
        row = []
        for j in range(len(cv)):
            vals = np.asarray(var.isel({_dim(rows): i, _dim(cols): j}).transpose(*others)
                              .values).ravel()
            row.append([True if v in succ else False if v in fail else None
                        for v in vals if v != ""])
        out.append(row)
    return [_row_value(v) for v in rv], [float(v) for v in cv], out


def analyse_phase(sweep: Sweep, ds, out: Path) -> dict:
    """The phase diagram of the sweep (core.phase), written to phase.json and phase.png."""
    from learndyn.core.phase import phase_diagram
    from learndyn.core.store import RunStore
    M, p, outcomes = phase_outcomes(sweep, ds)
    d = phase_diagram(M, p, outcomes)
    doc = {"rows": sweep.phase["rows"], "cols": sweep.phase["cols"], "M": M, "p": p,
           "fraction": _nan_none(d["fraction"]), "lo": _nan_none(d["lo"]),
           "hi": _nan_none(d["hi"]), "n_decided": _nan_none(d["n"]),
           "n_censored": [[sum(x is None for x in c) for c in row] for row in outcomes],
           "boundary": d["boundary"], "width": d["width"], "best_law": d["best_law"],
           "laws": [{"law": x.name, "params": list(x.params), "rss_log": x.rss, "aic": x.aic}
                    for x in d["laws"]],
           "c_logM_over_M": d["c_logM_over_M"]}
    RunStore(out).write_text("phase.json", json.dumps(doc, indent=1))
    draw_phase(doc, Path(out) / "phase.png", title=f"{sweep.name} ({sweep.scale})")
    return doc


def _nan_none(a):
    return [[None if not np.isfinite(x) else float(x) for x in row] for row in np.asarray(a)]


def draw_phase(doc: dict, path: Path, title: str = "") -> Path:
    """Heat map of the success fraction over (p, M), the boundary per row and the best-fitting
    law with the bootstrap band of c ln M / M."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    M, p = np.asarray(doc["M"]), np.asarray(doc["p"])
    frac = np.array([[np.nan if x is None else x for x in row] for row in doc["fraction"]])
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    im = ax.pcolormesh(np.arange(len(p) + 1), np.arange(len(M) + 1), frac, cmap="viridis",
                       vmin=0, vmax=1, shading="flat")
    fig.colorbar(im, ax=ax, label="fraction generalising")
    ax.set_xticks(np.arange(len(p)) + 0.5, [f"{x:.3g}" for x in p], rotation=60, fontsize=7)
    ax.set_yticks(np.arange(len(M)) + 0.5, [f"{x:g}" for x in M], fontsize=7)
    ax.set_xlabel(f"{doc['cols']} (p)")
    ax.set_ylabel(f"{doc['rows']} (M)")

    def xpos(q):   # p -> the heat map's column coordinate (log-linear between columns)
        return np.interp(np.log(q), np.log(p), np.arange(len(p)) + 0.5)
    b = [(i + 0.5, xpos(q)) for i, q in enumerate(doc["boundary"]) if q is not None]
    if b:
        ax.plot([x for _, x in b], [y for y, _ in b], "wo", ms=5, label="boundary (logistic)")
    boot = doc.get("c_logM_over_M") or {}
    if boot.get("params"):
        c, lo, hi = boot["params"][0], boot["lo"][0], boot["hi"][0]
        yy = np.arange(len(M)) + 0.5
        law = lambda k: xpos(k * np.log(M) / M)  # noqa: E731
        ax.plot(law(c), yy, "r-", label=f"p* = c ln M / M, c = {c:.3g} [{lo:.3g}, {hi:.3g}]")
        ax.fill_betweenx(yy, law(lo), law(hi), color="r", alpha=0.2)
    if b or boot.get("params"):
        ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


# -- per-seed distributions over the whole sweep (`table`) ----------------------------------------

def seed_table(ds, columns: list[str]) -> list[dict]:
    """For each "variant.variable": its values over every seed of every finished cell:
    n (finite values), median, quartiles, min and max."""
    rows = []
    for col in columns:
        variant, _, var = col.partition(".")
        if var not in ds or variant not in list(ds["variant"].values):
            rows.append({"column": col, "n": 0})
            continue
        v = np.asarray(ds[var].sel(variant=variant).values, float).ravel()
        v = v[np.isfinite(v)]
        if not v.size:
            rows.append({"column": col, "n": 0})
            continue
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        rows.append({"column": col, "n": int(v.size), "median": float(med), "q1": float(q1),
                     "q3": float(q3), "min": float(v.min()), "max": float(v.max())})
    return rows


def format_seed_table(rows: list[dict]) -> str:
    lines = ["| quantity | seeds | median | quartiles | range |", "|---|---|---|---|---|"]
    for r in rows:
        if not r["n"]:
            lines.append(f"| {r['column']} | 0 | n/a | | |")
            continue
        lines.append(f"| {r['column']} | {r['n']} | {r['median']:.4g} | "
                     f"{r['q1']:.4g} - {r['q3']:.4g} | {r['min']:.4g} - {r['max']:.4g} |")
    return "\n".join(lines) + "\n"
