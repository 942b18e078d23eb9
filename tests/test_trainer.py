"""The shared trainer and store: compile once, determinism, divergence, resume.

The problem here is a small closed-loop controller (stochastic: every update draws its own
batch from the run's key, so resuming must replay the keys); core's orchestration and theory
layer are tested through the deep linear world in test_core_world.py."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.closedloop.agents import RNNAgent
from learndyn.closedloop.plants import k_integrator
from learndyn.closedloop.tasks import Regulation
from learndyn.closedloop.training import ControlProblem
from learndyn.core.batching import runs_in_groups
from learndyn.core.schedule import Schedule, record_steps
from learndyn.core.store import RunStore
from learndyn.core.optim import make_optimizer
from learndyn.core.trainer import Trainer as _Trainer

SMALL = dict(n=8, horizon=10, batch=8)


def small_problem(lr=0.01, clip=1.0):
    plant = k_integrator(2, 1.0)
    agent = RNNAgent(n=SMALL["n"], activation="tanh")
    task = Regulation(nx=2, horizon=SMALL["horizon"], beta=0.005)
    return ControlProblem(agent, plant, task, make_optimizer("sgd", lr, clip=clip), "closed",
                          batch=SMALL["batch"], eval_batch=8)


def Trainer(step, observe, **kw):
    """The trainer of a ControlProblem: its step and observe take the run's constants."""
    return _Trainer(step, observe, takes_consts=True, **kw)


def init(prob, ks, lr_scale=None):
    """(state0, consts) of the runs of keys `ks` (lr_scale: each run's rate multiplier)."""
    if lr_scale is None:
        return jax.vmap(prob.init)(ks)
    return jax.vmap(prob.init)(ks, None, None, lr_scale)


def run(tr, state_consts, steps, **kw):
    """tr.run of the (state0, consts) pair that `init` returns."""
    return tr.run(state_consts[0], steps, consts=state_consts[1], **kw)


def keys(n, seed=0):
    return jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(np.arange(n))


def test_schedule_dense_then_log():
    s = record_steps(1000, dense_until=20, per_decade=10)
    assert s[0] == 0 and s[-1] == 1000
    np.testing.assert_array_equal(s[:21], np.arange(21))
    gaps = np.diff(s[20:])
    assert np.all(gaps >= 1) and gaps[-1] > gaps[0]  # sparser later
    assert np.all(np.diff(s) > 0)
    assert Schedule(dense_until=5, every=100).steps(1000)[-2] == 905  # 5, 105, ..., 905, 1000


def test_step_compiles_once():
    prob = small_problem()
    tr = Trainer(prob.step, prob.observe, obs_dims=prob.obs_dims, records_per_chunk=4)
    s0, c0 = init(prob, keys(2))
    res = tr.run(s0, record_steps(40, 4, 5), consts=c0)  # several chunks, varying step counts
    assert res.records.sizes["step"] == len(record_steps(40, 4, 5))
    assert tr._chunk._cache_size() == 1
    tr.run(s0, record_steps(40, 4, 5), consts=c0)
    assert tr._chunk._cache_size() == 1


def test_same_seed_same_numbers_and_seed_independent_of_batch():
    prob = small_problem()
    tr = Trainer(prob.step, prob.observe, obs_dims=prob.obs_dims)
    a = run(tr, init(prob, keys(2)), record_steps(15, 5, 5)).records
    b = run(tr, init(prob, keys(2)), record_steps(15, 5, 5)).records
    np.testing.assert_array_equal(a.loss.values, b.loss.values)
    np.testing.assert_array_equal(a.eig.values, b.eig.values)
    c = run(tr, init(prob, keys(3)), record_steps(15, 5, 5)).records
    # run 1 is the same seed with 2 or 3 runs in the batch; batched matmuls may group
    # differently, so allow float32 rounding (1e-5 relative)
    np.testing.assert_allclose(a.loss.values[:, 1], c.loss.values[:, 1], rtol=1e-5)
    assert not np.allclose(a.loss.values[:, 0], a.loss.values[:, 1])


def test_diverging_run_is_recorded_and_others_complete(tmp_path):
    prob = small_problem(lr=1e-4, clip=None)   # no clipping; run 2 gets a 1e6 x larger rate
    s0, c0 = init(prob, keys(3), jnp.array([1.0, 1.0, 1e6]))
    tr = Trainer(prob.step, prob.observe, obs_dims=prob.obs_dims, diverge_above=1e12)
    store = RunStore(tmp_path / "run")
    res = tr.run(s0, record_steps(30, 10, 5), store=store, consts=c0)
    assert res.status == ["ok", "ok", "diverged"]
    assert 0 <= res.diverged_at[2] < 30
    rec = store.load_records()  # saved and readable
    assert np.all(np.isfinite(rec.loss.values[:, :2]))
    after = rec.step.values > res.diverged_at[2]
    assert np.all(np.isnan(rec.loss.values[after, 2]))
    ck = store.load_checkpoint(s0)
    assert np.all(np.isfinite(np.asarray(ck["state"].params["W"])))  # frozen at last finite state


def test_run_map_gives_the_vmapped_records_and_divergence():
    """A run_map that takes the runs one at a time (each run's steps, checks and records of a
    chunk in turn) records what the vmapped trainer records, diverged run included."""
    prob = small_problem(lr=1e-4, clip=None)
    s0, c0 = init(prob, keys(3), jnp.array([1.0, 1.0, 1e6]))
    steps = record_steps(30, 10, 5)
    kw = dict(obs_dims=prob.obs_dims, diverge_above=1e12, records_per_chunk=4)
    plain = Trainer(prob.step, prob.observe, **kw).run(s0, steps, consts=c0)
    one_at_a_time = lambda fn: runs_in_groups(fn, 1)   # noqa: E731  (a loop over the runs)
    mapped = Trainer(prob.step, prob.observe, run_map=one_at_a_time, **kw).run(s0, steps, consts=c0)
    assert mapped.status == plain.status == ["ok", "ok", "diverged"]
    np.testing.assert_array_equal(mapped.diverged_at, plain.diverged_at)
    # the same per-run arithmetic, batched or not: float32 rounding only (1e-5 relative);
    # NaN (after the divergence) in the same places
    np.testing.assert_allclose(mapped.records.loss.values, plain.records.loss.values, rtol=1e-5)
    np.testing.assert_allclose(mapped.records.eig.values, plain.records.eig.values,
                               rtol=1e-4, atol=1e-6)
    assert np.isnan(mapped.records.loss.values[-1, 2])


SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import jax, numpy as np
    sys.path.insert(0, {tests!r})
    from test_trainer import small_problem, keys, Trainer
    from learndyn.core.store import RunStore
    from learndyn.core.schedule import record_steps
    prob = small_problem()
    tr = Trainer(prob.step, prob.observe, obs_dims=prob.obs_dims, records_per_chunk=5)
    def progress(done, total):
        if done >= 12:   # after the third chunk's records and checkpoint are on disk
            os.kill(os.getpid(), signal.SIGKILL)
    s0, c0 = jax.vmap(prob.init)(keys(2))
    tr.run(s0, record_steps(60, 10, 8), store=RunStore({path!r}), progress=progress, consts=c0)
""")


def test_interrupted_run_resumes_to_the_same_numbers(tmp_path):
    import os
    path = str(tmp_path / "killed")
    tests = os.path.dirname(__file__)
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=tests, path=path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    store = RunStore(path)
    partial = store.load_records()  # what was recorded before the kill stays readable
    assert 0 < partial.sizes["step"] < len(record_steps(60, 10, 8))
    assert not store.is_complete()
    spent_killed = store.meta()["train_s"]  # the killed process's time to its last checkpoint
    assert spent_killed > 0

    prob = small_problem()
    tr = Trainer(prob.step, prob.observe, obs_dims=prob.obs_dims, records_per_chunk=5)
    s0, c0 = init(prob, keys(2))
    resumed = tr.run(s0, record_steps(60, 10, 8), store=store, consts=c0)
    assert resumed.resumed_from_step > 0
    full = tr.run(s0, record_steps(60, 10, 8), consts=c0)
    np.testing.assert_array_equal(resumed.records.step.values, full.records.step.values)
    # the resumed run replays exactly the same per-step keys and updates
    np.testing.assert_allclose(resumed.records.loss.values, full.records.loss.values, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(resumed.state.params["W"]),
                               np.asarray(full.state.params["W"]), rtol=1e-6, atol=1e-7)
    # and a complete store is read back without training
    again = tr.run(s0, record_steps(60, 10, 8), store=store, consts=c0)
    np.testing.assert_array_equal(again.records.loss.values, resumed.records.loss.values)
    # training time adds up over the two invocations and is read back with the run
    assert resumed.train_s > spent_killed
    assert again.train_s == resumed.train_s


def test_records_have_named_dims():
    prob = small_problem()
    tr = Trainer(prob.step, prob.observe, obs_dims=prob.obs_dims)
    rec = run(tr, init(prob, keys(2)), record_steps(5, 5, 5),
                 run_coords={"seed": np.array([10, 11])}).records
    assert rec.eig.dims == ("step", "run", "eigen")
    assert rec.gains.dims == ("step", "run", "ctrl", "state")
    assert list(rec.seed.values) == [10, 11]


def test_bad_record_steps():
    prob = small_problem()
    tr = Trainer(prob.step, prob.observe)
    with pytest.raises(ValueError, match="record_steps"):
        run(tr, init(prob, keys(1)), np.array([0, 5, 3]))


def test_all_finite_flags_any_non_finite_element():
    """The divergence guard's per-run check (a sum per leaf) flags one bad element anywhere."""
    from learndyn.core.trainer import _all_finite
    good = {"W": jnp.ones((50, 40)), "n": jnp.arange(3), "z": jnp.ones(4, jnp.complex64)}
    assert bool(_all_finite(good))
    for leaf, bad in [("W", jnp.inf), ("W", -jnp.inf), ("W", jnp.nan), ("z", jnp.nan)]:
        tree = dict(good)
        tree[leaf] = tree[leaf].at[(3,) * tree[leaf].ndim].set(bad)
        assert not bool(_all_finite(tree)), (leaf, bad)
    both = dict(good, W=good["W"].at[0, 0].set(jnp.inf).at[1, 1].set(-jnp.inf))
    assert not bool(_all_finite(both))   # inf - inf = nan, still flagged
