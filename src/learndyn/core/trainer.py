"""The training loop shared by every world.

A world supplies two pure functions for ONE run:

    step(state, t)  -> (state, loss)        # one parameter update; t is the update's index
    observe(state)  -> {name: array}        # observables of the current state

or, with `takes_consts=True` (what core's orchestration uses for every World phase), the
same two functions with the run's constants as their last argument:

    step(state, t, consts) -> (state, loss);   observe(state, consts) -> {name: array}

`consts` (a pytree with the run axis, passed to `Trainer.run`) holds what does not evolve:
teacher weights, data indices, evaluation sets, per-run hyper-parameters. The divergence
guard, the freeze and the checkpoint touch only `state`.

The trainer vmaps both over a leading "run" axis (seeds, hyper-parameters, ...), and compiles
one *chunk* of the run into a single XLA program: a `lax.scan` over record points, each of
which advances the runs by a (dynamic) number of steps with a `lax.fori_loop` and then
records the observables (written for one run, and vmapped over runs as a whole: a problem can
pass `run_map` to loop over its runs instead, each taking all of the chunk's steps in turn).
Every chunk has the same shape, so the program compiles once per
problem shape; chunks are the unit of progress reporting and of checkpointing, which is what
lets an interrupted run resume from its last record.

A run whose loss or state becomes non-finite (or whose loss exceeds its `diverge_above`
limit: one number for every run, or one per run, e.g. a multiple of each run's initial loss
from `divergence_limits`) is frozen at its last finite state, its observables read NaN from
then on, and `diverged_at` holds the index of the update that diverged; the other runs in the
batch continue.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from learndyn.core.store import RunStore, StoreError

StepFn = Callable[[Any, jax.Array], tuple[Any, jax.Array]]
ObserveFn = Callable[[Any], Mapping[str, jax.Array]]
ProgressFn = Callable[[int, int], None]


@dataclass
class RunResult:
    """What a training run leaves: the final (batched) state and the recorded trajectory.

    records: xr.Dataset with dims (step, run, ...); `diverged_at` (run,) is -1 for runs that
    never diverged. train_s: wall seconds spent in `Trainer.run` on these runs (compiling
    included), summed over every invocation that trained them (an interrupted run that
    resumed counts both parts; a finished run read back from its store reports its stored
    total).
    """

    state: Any
    records: xr.Dataset
    diverged_at: np.ndarray
    resumed_from_step: int = 0
    train_s: float = 0.0

    @property
    def status(self) -> list[str]:
        return ["diverged" if d >= 0 else "ok" for d in self.diverged_at]


def _all_finite(tree) -> jax.Array:
    """Whether every float leaf is finite, from the sum of each leaf: a sum is inf or nan
    when any term is (inf - inf = nan), and it is one streaming reduction, where isfinite +
    all measured 3.5x slower on the Li2 Fig. 3 state (7 MB per run). A leaf whose finite
    values sum past the float range (about 3e38 in float32) also counts as non-finite:
    such a run has diverged in every sense but the letter."""
    leaves = [jnp.isfinite(jnp.sum(x)) for x in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def divergence_limits(step: StepFn, state0, factor: float,
                      above: float = math.inf, consts=None,
                      takes_consts: bool = False) -> np.ndarray:
    """Each run's loss limit for `Trainer(diverge_above=...)`: min(above, factor x the run's
    initial loss), the initial loss being the loss that the run's first update (t = 0)
    returns from `state0`. It is a function of the initial state alone, so a resumed run
    computes the same limits again (nothing is stored). A run whose initial loss is not
    positive and finite gets `above` only (a relative limit of 0 would flag every update;
    a non-finite first loss diverges on its own)."""
    if takes_consts:
        _, loss0 = jax.jit(jax.vmap(step, in_axes=(0, None, 0)))(state0, jnp.int32(0), consts)
    else:
        _, loss0 = jax.jit(jax.vmap(step, in_axes=(0, None)))(state0, jnp.int32(0))
    loss0 = np.asarray(loss0, np.float64)
    rel = np.where(np.isfinite(loss0) & (loss0 > 0), factor * loss0, math.inf)
    return np.minimum(rel, above)


@dataclass
class Trainer:
    """Compile-once, vmapped, chunked training with scheduled recording.

    step, observe: per-run pure functions (see module docstring).
    obs_dims: names of each observable's trailing dims, e.g. {"eig": ("eigen",)}.
    records_per_chunk: records per compiled chunk (None: about `n_chunks` chunks per run).
    diverge_above: a loss above this marks the run as diverged: a number (every run), or an
        array with one limit per run (see `divergence_limits`).
    run_map: optional transform of the per-run chunk (every step, divergence check, freeze
        and record of one run between two checkpoints) before it is vmapped over runs; a
        problem whose runs are best computed one (or a few) at a time passes its own (e.g.
        `Li2Problem.map_runs`, a loop over runs): each run then takes all of its steps of
        the chunk while its state is in cache, as a run trained alone does.
    takes_consts: step and observe take the run's constants (`Trainer.run(consts=...)`) as
        their last argument.
    """

    step: StepFn
    observe: ObserveFn
    obs_dims: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    records_per_chunk: int | None = None
    n_chunks: int = 10
    diverge_above: float | np.ndarray = math.inf
    run_map: Callable | None = None
    takes_consts: bool = False

    def __post_init__(self):
        self._chunk = jax.jit(self._chunk_impl)

    # -- compiled pieces ---------------------------------------------------------------
    def _step(self, state, t, consts):
        return self.step(state, t, consts) if self.takes_consts else self.step(state, t)

    def _observe(self, state, consts):
        return self.observe(state, consts) if self.takes_consts else self.observe(state)

    def _guarded_step(self, carry, t, limit=None, consts=None):
        """One run's step, its divergence check, and the freeze: a run whose loss or new
        state is not finite (or whose loss exceeds `limit`, the run's diverge_above) keeps its
        old state, and `dat` (diverged at) takes the index of the step that diverged."""
        state, alive, dat = carry
        new, loss = self._step(state, t, consts)
        limit = self.diverge_above if limit is None else limit
        finite = jnp.isfinite(loss) & (loss <= limit) & _all_finite(new)
        ok = alive & finite
        state = jax.tree_util.tree_map(lambda n, o: jnp.where(ok, n, o), new, state)
        return state, ok, jnp.where(alive & ~finite, t, dat)

    def _run_chunk(self, state, consts, alive, dat, limit, t0, counts):
        """ONE run's chunk: advance by counts[i] steps then record, for each i (a scan over
        record points); `limit` is the run's diverge_above. Observables of a run that has
        diverged read NaN."""
        def interval(carry, count):
            state, alive, dat, t = carry
            state, alive, dat = jax.lax.fori_loop(
                0, count, lambda i, c: self._guarded_step(c, t + i, limit, consts),
                (state, alive, dat))
            obs = {k: jnp.where(alive, v, jnp.nan).astype(v.dtype)
                   if jnp.issubdtype(v.dtype, jnp.inexact) else v
                   for k, v in self._observe(state, consts).items()}
            return (state, alive, dat, t + count), obs
        (state, alive, dat, _), obs = jax.lax.scan(interval, (state, alive, dat, t0), counts)
        return state, alive, dat, obs

    def _chunk_impl(self, state, consts, alive, dat, t0, counts):
        """The chunk of every run: the per-run chunk (through `run_map` if given) vmapped
        over runs. Returns ((state, alive, dat, t), obs) with obs (record, run, ...)."""
        per_run = self.run_map(self._run_chunk) if self.run_map else self._run_chunk
        # each run's loss limit (a constant of the program; a scalar applies to every run)
        limit = jnp.broadcast_to(jnp.asarray(self.diverge_above), alive.shape)
        state, alive, dat, obs = jax.vmap(per_run, in_axes=(0, 0, 0, 0, 0, None, None))(
            state, consts, alive, dat, limit, t0, counts)
        obs = {k: jnp.swapaxes(v, 0, 1) for k, v in obs.items()}
        return (state, alive, dat, t0 + jnp.sum(counts)), obs

    def advance(self, state, n_steps: int, t0: int = 0, consts=None):
        """Advance a batched state by n_steps with nothing recorded (benchmarks use this).
        Returns (state, alive, diverged_at)."""
        n_runs = jax.tree_util.tree_leaves(state)[0].shape[0]
        alive = jnp.ones((n_runs,), bool)
        dat = -jnp.ones((n_runs,), jnp.int32)
        (state, alive, dat, _), _ = self._chunk(
            state, consts, alive, dat, jnp.int32(t0), jnp.array([n_steps], jnp.int32))
        return state, alive, dat

    # -- the run ------------------------------------------------------------------------
    def run(self, state0, record_steps: np.ndarray, *, store: RunStore | None = None,
            progress: ProgressFn | None = None,
            run_coords: Mapping[str, np.ndarray] | None = None, consts=None) -> RunResult:
        """Train a batch of runs (leading axis of every leaf of `state0`) through
        `record_steps[-1]` updates, recording at each of `record_steps`.

        With a `store`, every chunk's records and a checkpoint are committed together (see
        `learndyn.core.store`) before the next chunk starts; a store that already holds a
        checkpoint resumes after its last committed chunk, and a complete store is read back
        without recomputing anything. The store's phase lock is held throughout. `consts`:
        the runs' constants (leading run axis; see the module docstring), never checkpointed.
        """
        if store is None:
            return self._run(state0, record_steps, store=None, progress=progress,
                             run_coords=run_coords, consts=consts)
        with store.writing():
            return self._run(state0, record_steps, store=store, progress=progress,
                             run_coords=run_coords, consts=consts)

    def _run(self, state0, record_steps, *, store, progress, run_coords, consts) -> RunResult:
        rec = np.asarray(record_steps, dtype=np.int64)
        if rec.ndim != 1 or len(rec) == 0 or np.any(np.diff(rec) <= 0) or rec[0] < 0:
            raise ValueError("record_steps must be a non-empty increasing array of steps >= 0")
        n_runs = jax.tree_util.tree_leaves(state0)[0].shape[0]
        per = self.records_per_chunk or max(1, math.ceil(len(rec) / self.n_chunks))
        chunks = [rec[i:i + per] for i in range(0, len(rec), per)]
        total = int(rec[-1])

        t_call = time.perf_counter()
        if store is not None and store.is_complete():
            ck = store.load_checkpoint(state0)
            return RunResult(ck["state"], store.load_records(), ck["diverged_at"], total,
                             float(store.meta().get("train_s", 0.0)))

        state, alive = state0, jnp.ones((n_runs,), bool)
        dat = -jnp.ones((n_runs,), jnp.int32)
        first_chunk, t, spent_before = 0, 0, 0.0
        if store is not None:
            ck = store.load_checkpoint(state0)
            if ck is not None:
                spent_before = float(store.meta().get("train_s", 0.0))
                state = ck["state"]
                alive = jnp.asarray(ck["diverged_at"] < 0)
                dat = jnp.asarray(ck["diverged_at"], jnp.int32)
                first_chunk, t = ck["chunk"] + 1, ck["step"]
                if first_chunk > len(chunks) or int(chunks[first_chunk - 1][-1]) != t:
                    raise StoreError(f"{store.path}: the committed chunk {ck['chunk']} (step "
                                     f"{t}) does not match this run's record steps; use a "
                                     "fresh --out folder")
        resumed_from = t
        coords = {"run": np.arange(n_runs)}
        for k, v in (run_coords or {}).items():
            coords[k] = ("run", np.asarray(v))
        if progress:
            progress(t, total)
        datasets = []
        for ci in range(first_chunk, len(chunks)):
            steps = chunks[ci]
            counts = np.zeros(per, np.int32)
            counts[:len(steps)] = np.diff(np.concatenate([[t], steps]))
            (state, alive, dat, _), obs = self._chunk(
                state, consts, alive, dat, jnp.int32(t), jnp.asarray(counts))
            t = int(steps[-1])
            ds = self._to_dataset(obs, steps, coords)
            if store is not None:
                store.append_records(ds)
                store.save_checkpoint(state, chunk=ci, step=t, diverged_at=np.asarray(dat),
                                      train_s=spent_before + time.perf_counter() - t_call)
            else:
                datasets.append(ds)
            if progress:
                progress(t, total)
        if store is not None:
            store.mark_complete()
            records = store.load_records()
        else:
            records = xr.concat(datasets, dim="step") if datasets else xr.Dataset()
        train_s = spent_before + time.perf_counter() - t_call
        if store is not None:
            store.set_train_seconds(train_s)
        return RunResult(state, records, np.asarray(dat), resumed_from, train_s)

    def _to_dataset(self, obs, steps, coords) -> xr.Dataset:
        n = len(steps)
        data = {}
        for name, val in obs.items():
            arr = np.asarray(val)[:n]
            trailing = self.obs_dims.get(name, tuple(f"{name}_dim{i}" for i in range(arr.ndim - 2)))
            if len(trailing) != arr.ndim - 2:
                raise ValueError(f"observable {name!r} has {arr.ndim - 2} trailing dims, "
                                 f"obs_dims names {len(trailing)}")
            data[name] = (("step", "run") + tuple(trailing), arr)
        return xr.Dataset(data, coords={"step": np.asarray(steps), **coords})
