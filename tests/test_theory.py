"""Theory against simulation (core.theory): exact theories of a toy system read float
precision, a wrong one does not, stage windows and diverged runs, the ODE helper, and the
prediction's storage beside the records (crash-safe, checked, read back, not recomputed)."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import learndyn.core.store as store_mod
from learndyn.core.schedule import record_steps
from learndyn.core.stages import StageFit
from learndyn.core.store import RunStore, StoreError
from learndyn.core.theory import (Theory, compare, draw_overlay, format_report, integrate_ode,
                                  iterate_map, run_theories, stage_windows)
from learndyn.core.trainer import RunResult, Trainer
from learndyn.errors import ConfigError

# The toy system: per run, x_{t+1} = c * x_t elementwise (gradient descent on
# sum_i k_i x_i^2 / 2 with c = 1 - lr k), x0 in [1, 2]^2. Run 3 grows (c > 1) and diverges
# (loss sum x^2 above 100 after a few updates); runs 0-2 decay.
STEPS = record_steps(120, dense_until=20, per_decade=20)
X0 = np.array([[1.0, 2.0], [1.5, 1.2], [2.0, 1.0], [1.0, 1.5]], np.float32)
C = np.array([[0.95, 0.99], [0.97, 0.96], [0.98, 0.95], [1.5, 1.2]], np.float32)
DIVERGED = 3


@pytest.fixture(autouse=True)
def strict_promotion():
    with jax.numpy_dtype_promotion("strict"):
        yield


def step(state, t):
    x = state["x"] * state["c"]
    return {"x": x, "c": state["c"]}, jnp.sum(x ** 2)


def observe(state):
    return {"x": state["x"]}


_TRAINER = []


def trainer():
    """One trainer for the file: its chunk program compiles once."""
    if not _TRAINER:
        _TRAINER.append(Trainer(step, observe, obs_dims={"x": ("coord",)},
                                records_per_chunk=8, diverge_above=100.0))
    return _TRAINER[0]


def state0():
    return {"x": jnp.asarray(X0), "c": jnp.asarray(C)}


@pytest.fixture(scope="module")
def result():
    return trainer().run(state0(), STEPS)


def predict_map(result, consts):
    """Reduced: the map x -> c x iterated from the recorded x at step 0, c read from the
    final state (a constant leaf)."""
    x0 = result.records["x"].isel(step=0).values
    c = np.asarray(result.state["c"])
    ys = iterate_map(lambda y, t, c: y * c, jnp.asarray(x0), result.records.step.values,
                     jnp.asarray(c))
    return {"x": ys}


def predict_closed(result, consts):
    """Closed form: x_t = c^t x_0, in float64 from the recorded x_0."""
    t = result.records.step.values.astype(np.float64)[:, None, None]
    x0 = result.records["x"].isel(step=0).values.astype(np.float64)
    return {"x": x0[None] * C.astype(np.float64)[None] ** t}


def predict_flow(result, consts):
    """Reduced and WRONG: the gradient flow dx/dt = -(1 - c) x (rate lr k, time = step),
    off the map by exp(-(1-c) t) / c^t, about exp(t (1-c)^2 / 2)."""
    x0 = result.records["x"].isel(step=0).values
    ys = integrate_ode(lambda t, y, c: -(1.0 - c) * y, jnp.asarray(x0),
                       result.records.step.values, jnp.asarray(C))
    return {"x": ys}


def predict_log_flow(result, consts):
    """Reduced and exact: the flow dx/dt = log(c) x equals c^t x0 at every integer t."""
    x0 = result.records["x"].isel(step=0).values
    ys = integrate_ode(lambda t, y, lc: lc * y, jnp.asarray(x0), result.records.step.values,
                       jnp.asarray(np.log(np.abs(C))))
    return {"x": ys}


MAP = Theory("decay.map", "decay", ("x",), "reduced", predict_map)
CLOSED = Theory("decay.closed", "decay", ("x",), "closed_form", predict_closed)
FLOW = Theory("decay.flow", "decay", ("x",), "reduced", predict_flow)


def test_exact_theories_reach_float_precision(result):
    assert result.diverged_at[DIVERGED] >= 0 and np.all(np.delete(result.diverged_at, DIVERGED) < 0)
    for th in (MAP, CLOSED):
        rep = compare(th, result, [10, 40])
        e = rep.errors["x"]
        # float32: the simulation rounds once per update, at most 2^-24 relative each, so
        # after T = 120 updates it is within T 2^-24 = 7.2e-6 of c^t x0 (the closed form, in
        # float64); the map repeats the same float32 product per update (the same bits, up
        # to the same bound if XLA reordered anything). Measured: 0 (map) and 6.5e-8 (closed).
        assert e.whole_run < 1e-5 and max(e.stages) < 1e-5, (th.name, e)
        assert rep.healthy_runs == (0, 1, 2)
        assert math.isnan(e.per_run[DIVERGED]) and max(e.per_run[:DIVERGED]) < 1e-5
        assert len(e.stages) == 3 and rep.windows == ((0, 10), (10, 40), (40, 121))
        d = rep.to_dict()
        json.dumps(d, allow_nan=False)   # JSON-able: NaN became null
        assert d["observables"]["x"]["per_run"][DIVERGED] is None
        assert d["max"] == e.whole_run


def test_wrong_theory_error_is_large_and_as_computed(result):
    e = compare(FLOW, result).errors["x"]
    # eq. (1) by hand over the healthy runs, against the exact c^t x0 (the simulation is
    # within 1e-5 of it, the flow within the ODE's tolerance of exp(-(1-c) t) x0)
    t = STEPS.astype(np.float64)[:, None, None]
    exact = X0[None] * C.astype(np.float64)[None] ** t
    flow = X0[None] * np.exp(-(1.0 - C.astype(np.float64))[None] * t)
    h = slice(0, DIVERGED)
    want = np.linalg.norm((flow - exact)[:, h]) / np.linalg.norm(exact[:, h])
    # 0.6% here (the norm weighs the early steps, where the flow is close): 500 times the
    # exact theories' bound, so compare tells the continuous-time approximation apart
    assert e.whole_run > 2e-3
    assert e.whole_run == pytest.approx(want, rel=1e-3)


def test_integrate_ode_matches_exp():
    k = jnp.asarray([0.5, 1.0, 2.0], jnp.float32)
    ts = np.linspace(0.0, 5.0, 11)
    y = integrate_ode(lambda t, y, k: -k * y, jnp.ones((3, 2), jnp.float32), ts, k)
    assert y.shape == (11, 3, 2) and y.dtype == np.float32
    want = np.exp(-np.asarray(k, np.float64)[None, :, None] * ts[:, None, None])
    # the error in units of the tolerance, rtol |y| + atol (defaults 1e-6, 1e-9): each step's
    # local error is within it, and this flow contracts (an early step's error decays with
    # y), so the global error stays a small multiple of it: measured 1.2 (Tsit5) and 2.8
    # (Dopri5; float32 rounding, 6e-8 relative, is below rtol). 10 leaves room; an explicit
    # Euler step at the same step count would be off by 1e-2 relative (1e4 tolerances).
    def in_tolerances(y, want):
        return np.max(np.abs(y - want) / (1e-6 * want + 1e-9))
    assert in_tolerances(y, want) < 10
    d = integrate_ode(lambda t, y, k: -k * y, jnp.ones((3,), jnp.float32), ts, k,
                      solver="dopri5")
    assert in_tolerances(d, want[..., 0]) < 10
    # a solve that cannot finish reads NaN, and does not raise
    bad = integrate_ode(lambda t, y, k: -k * y, jnp.ones((3,), jnp.float32), ts, k, max_steps=2)
    assert np.all(np.isnan(bad))
    with pytest.raises(ConfigError, match="solver"):
        integrate_ode(lambda t, y, k: y, jnp.ones((1,)), ts, solver="euler")


def test_exact_flow_matches_the_map(result):
    th = Theory("decay.logflow", "decay", ("x",), "reduced", predict_log_flow)
    # the flow x' = log(c) x is c^t x0 at integer t: within the ODE's tolerance (a few 1e-6,
    # see above) plus the simulation's float32 drift (< 7.2e-6); measured 1.0e-7
    assert compare(th, result).errors["x"].whole_run < 3e-5


def test_iterate_map_starts_at_t0_and_passes_t():
    # y_{t+1} = y + t: after s updates from y = 0 at t0 = 2, y = sum_{t=2}^{s-1} t
    ys = iterate_map(lambda y, t, p: y + t.astype(jnp.float32), jnp.zeros((2,), jnp.float32),
                     [2, 3, 5, 9], t0=2)
    want = np.array([sum(range(2, s)) for s in [2, 3, 5, 9]], np.float32)
    np.testing.assert_array_equal(ys, np.stack([want, want], 1))
    with pytest.raises(ValueError, match="record_steps"):
        iterate_map(lambda y, t, p: y, jnp.zeros((1,)), [1, 3], t0=2)


def hand_result(sim, diverged_at, steps=None):
    steps = np.arange(sim.shape[0]) if steps is None else steps
    ds = xr.Dataset({"x": (("step", "run"), sim)},
                    coords={"step": steps, "run": np.arange(sim.shape[1])})
    return RunResult(state=None, records=ds, diverged_at=np.asarray(diverged_at))


def given(pred):
    return lambda result, consts: {"x": pred}


def test_stage_windows_are_half_open_at_the_boundaries():
    sim = np.linspace(1.0, 2.0, 20).reshape(10, 2)
    pred = sim.copy()
    pred[3:7] *= 1.1          # wrong on steps 3..6 exactly: the window [3, 7)
    res = hand_result(sim, [-1, -1])
    th = Theory("t", "p", ("x",), "closed_form", given(pred))
    for stages in ([3, 7], StageFit([3, 7], [0.0, 0.0, 0.0])):
        e = compare(th, res, stages).errors["x"]
        # an off-by-one window ((3, 7] or [3, 7]) would see the error in stage 1 or 3
        assert e.stages[0] == 0 and e.stages[2] == 0
        assert e.stages[1] == pytest.approx(0.1, rel=1e-12)
        assert e.whole_run == pytest.approx(
            0.1 * np.linalg.norm(sim[3:7]) / np.linalg.norm(sim), rel=1e-12)
    assert stage_windows(np.arange(10), [3, 7]) == [(0, 3), (3, 7), (7, 10)]
    # a window holding no record step has no error (null), not 0
    e = compare(th, hand_result(sim, [-1, -1], steps=np.arange(0, 20, 2)), [3, 4]).errors["x"]
    assert math.isnan(e.stages[1]) and e.stages[0] == 0


def test_diverged_runs_and_nan_entries_are_excluded():
    rng = np.random.default_rng(0)
    sim = rng.uniform(1, 2, (8, 3))
    pred = sim.copy()
    pred[:, 1] = 1e3          # run 1 diverged: finite but far off, and must not count
    sim[5, 2] = np.nan        # a non-finite entry of a healthy run: not compared
    pred[6, 0] = np.inf
    res = hand_result(sim, [-1, 4, -1])
    e = compare(Theory("t", "p", ("x",), "closed_form", given(pred)), res).errors["x"]
    assert e.whole_run == 0 and e.per_run[0] == 0 and e.per_run[2] == 0
    assert math.isnan(e.per_run[1])
    # the same run counted as healthy: a large error
    e = compare(Theory("t", "p", ("x",), "closed_form", given(pred)),
                hand_result(sim, [-1, -1, -1])).errors["x"]
    assert e.whole_run > 100
    # every run diverged: nothing to compare
    e = compare(Theory("t", "p", ("x",), "closed_form", given(pred)),
                hand_result(sim, [2, 4, 1])).errors["x"]
    assert math.isnan(e.whole_run)
    with pytest.raises(ValueError, match="shape"):
        compare(Theory("t", "p", ("x",), "closed_form", given(pred[:4])), res)


def counting(theory):
    """The theory with its predict counted (calls[0])."""
    calls = [0]

    def predict(result, consts):
        calls[0] += 1
        return theory.predict(result, consts)
    return Theory(theory.name, theory.phase, theory.observables, theory.kind, predict), calls


def test_prediction_is_stored_checked_and_read_back(tmp_path, result):
    run = RunStore(tmp_path / "run")
    res = trainer().run(state0(), STEPS, store=run.child("decay"))
    th, calls = counting(CLOSED)
    reports = run_theories([th, MAP], {"decay": res}, run, {"decay": [10, 40]},
                           figures=tmp_path / "figs")
    assert calls[0] == 1 and set(reports) == {"decay.closed", "decay.map"}
    assert reports["decay.closed"]["observables"]["x"]["whole_run"] < 1e-5
    assert (tmp_path / "figs" / "theory-decay.map.png").stat().st_size > 0
    ph = run.child("decay")
    assert ph.datasets() == ["theory-decay.closed", "theory-decay.map"]
    run.check_run()
    stored = ph.load_dataset("theory-decay.closed")
    np.testing.assert_array_equal(stored["x"].values, predict_closed(res, None)["x"])
    assert stored["x"].dims == ("step", "run", "coord")

    # a finished run read back: its predictions load, nothing is recomputed
    back = trainer().run(state0(), STEPS, store=run.child("decay"))
    th2, calls2 = counting(CLOSED)
    again = run_theories([th2, MAP], {"decay": back}, run, {"decay": [10, 40]})
    assert calls2[0] == 0 and again == reports

    # damaged predictions: one StoreError line naming the file
    folder = ph.path / "theory-decay.closed.zarr"
    victim = next(p for p in sorted(folder.rglob("*")) if p.is_file() and "x" in p.parts)
    data = victim.read_bytes()
    victim.write_bytes(data[:-1])
    with pytest.raises(StoreError) as err:
        run.check_run()
    msg = str(err.value)
    assert "\n" not in msg and str(victim) in msg and "theory-decay.closed" in msg
    victim.unlink()
    with pytest.raises(StoreError, match="missing"):
        ph.load_dataset("theory-decay.closed")
    with pytest.raises(StoreError):       # the phase is refused as a whole, like the records
        trainer().run(state0(), STEPS, store=run.child("decay"))
    victim.write_bytes(data)
    run.check_run()


def test_changed_theory_is_recomputed_and_replaced(tmp_path):
    sim = np.linspace(1.0, 2.0, 20).reshape(10, 2)
    res = hand_result(sim, [-1, -1])
    run = RunStore(tmp_path / "run")
    a = Theory("t", "p", ("x",), "closed_form", given(sim))
    run_theories([a], {"p": res}, run)
    # the same name predicting other steps (records of another length): recomputed, and the
    # old folder goes once the new one is committed
    res2 = hand_result(sim[:6], [-1, -1])
    b, calls = counting(Theory("t", "p", ("x",), "closed_form", given(sim[:6] * 2)))
    rep = run_theories([b], {"p": res2}, run)
    assert calls[0] == 1 and rep["t"]["observables"]["x"]["whole_run"] == pytest.approx(1.0)
    ph = run.child("p")
    assert sorted(p.name for p in ph.path.glob("*.zarr")) == ["theory-t.v1.zarr"]
    assert ph.load_dataset("theory-t")["x"].shape == (6, 2)


class Killed(BaseException):
    """Stands for a SIGKILL in-process (not an Exception: no handler on the way catches it)."""


@pytest.mark.parametrize("point", ["dataset-tmp-written", "dataset-renamed",
                                   "manifest-tmp-written"])
def test_killed_prediction_write_leaves_only_committed_state(tmp_path, monkeypatch, point):
    sim = np.linspace(1.0, 2.0, 20).reshape(10, 2)
    res = hand_result(sim, [-1, -1])
    run = RunStore(tmp_path / "run")
    th = Theory("t", "p", ("x",), "closed_form", given(sim * 1.5))
    real = store_mod._test_point

    def dies(name):
        if name == point:
            raise Killed()
        real(name)
    monkeypatch.setattr(store_mod, "_test_point", dies)
    with pytest.raises(Killed):
        run_theories([th], {"p": res}, run)
    monkeypatch.setattr(store_mod, "_test_point", real)
    ph = run.child("p")
    assert ph.load_dataset("theory-t") is None and ph.datasets() == []   # nothing committed
    run.check_run()
    rep = run_theories([th], {"p": res}, run)        # the rerun clears the leftover, commits
    assert rep["t"]["observables"]["x"]["whole_run"] == pytest.approx(0.5)
    assert sorted(p.name for p in ph.path.iterdir() if "zarr" in p.name) == ["theory-t.zarr"]


def test_theory_fields_are_checked():
    with pytest.raises(ConfigError) as err:
        Theory("t", "p", ("x",), "exact", given(None))
    assert str(err.value) == "Theory.kind: 'exact' is not one of closed_form, reduced"
    with pytest.raises(ConfigError, match="Theory.name"):
        Theory("a/b", "p", ("x",), "reduced", given(None))
    res = hand_result(np.ones((3, 1)), [-1])
    with pytest.raises(ValueError, match="no phase 'q'"):
        run_theories([Theory("t", "q", ("x",), "reduced", given(None))], {"p": res})
    with pytest.raises(ValueError, match="records no"):
        run_theories([Theory("t", "p", ("y",), "reduced", given(None))], {"p": res})


def test_format_report_fits_80_columns():
    rep = {"observables": {"strength": {"whole_run": 2.1e-6, "stages": [1e-6, 3e-6, None],
                                        "per_run": [2e-6]}}}
    lines = format_report("saxe.exact", rep)
    assert lines == ["theory saxe.exact: strength rel. error 2.1e-06 (whole run); stages "
                     "1.0e-06 /", "    3.0e-06 / n/a"]
    many = {"observables": {"x": {"whole_run": 0.5, "stages": [0.25] * 12, "per_run": []},
                            "y": {"whole_run": None, "stages": [], "per_run": []}}}
    lines = format_report("decay.map", many)
    assert all(len(ln) <= 80 for ln in lines) and len(lines) == 4   # 12 stages: 3 lines
    assert lines[-1] == "theory decay.map: y rel. error n/a (whole run)"
    assert " / ".join(["2.5e-01"] * 12) in " ".join(ln.strip() for ln in lines[:3])


def test_draw_overlay_per_run(tmp_path, result):
    png = draw_overlay(MAP, result, predict_map(result, None), tmp_path / "o", per_run=True,
                       stages=[10, 40], log_x=True)
    assert png == tmp_path / "o.png" and png.stat().st_size > 0
    assert (tmp_path / "o.pdf").exists()
