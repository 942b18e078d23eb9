"""The closed-loop world in core's shape: its phases, their constants, and a study through
core.study (issue 10)."""

import jax
import numpy as np

from learndyn.closedloop.training import RunConsts, TrainState
from learndyn.closedloop.world import WORLD
from learndyn.core.store import RunStore
from learndyn.core.study import run_study
from learndyn.core.world import World
from learndyn.recipes import load_recipe

TINY = {"train.epochs": 12, "agent.n": 8, "task.horizon": 8, "train.batch": 8,
        "train.eval_batch": 8, "seeds": 2, "record.dense_until": 4, "gain_map.resolution": 8}


def tiny():
    return load_recipe("gb2025-fig1", "smoke", TINY)


def test_world_shape():
    assert isinstance(WORLD, World)
    assert WORLD.study == "closedloop" and WORLD.papers == ("ger-barak-2025",)


def test_phases_hold_constants_apart_from_the_state():
    rcp = tiny()
    plan = WORLD.phases(rcp)
    closed = next(plan)
    assert closed.name == "closed" and isinstance(closed.state0, TrainState)
    assert isinstance(closed.consts, RunConsts)
    # what never changes is not in the evolving state (the guard and checkpoint skip it)
    assert set(closed.state0._fields) == {"params", "opt_state"}
    assert closed.consts.eval_x0.shape == (2, 8, 2)

    class Done:   # the closed phase's result, as core sends it back
        state = closed.state0
    opened = plan.send(Done)
    assert opened.name == "open"
    for k, v in closed.state0.params.items():
        # the student starts from the teacher's initial weights; the teacher is a constant
        np.testing.assert_array_equal(opened.state0.params[k], v)
        np.testing.assert_array_equal(opened.consts.teacher[k], v)


def test_study_through_core_resumes_to_the_same_summary(tmp_path):
    rcp = tiny()
    store = RunStore(tmp_path / "run")
    first = run_study(WORLD, rcp, store, figures=False)
    assert first["study"] == "closedloop"
    assert set(first) >= {"closed", "open", "over_seeds", "gain_regions", "stage_boundaries"}
    assert first["closed"]["per_seed"]["status"] == ["ok", "ok"]
    again = run_study(WORLD, rcp, store, figures=False)   # read back, nothing retrained
    strip = lambda s: {k: v for k, v in s.items() if k not in ("timing",)}  # noqa: E731
    assert strip(again) == strip(first)
    rows = WORLD.table(first)
    assert rows[0] == ("quantity", ["closed loop", "open loop"])
    assert all(len(vals) == 2 for _, vals in rows[1:])


def test_a_cart_pole_study_runs(tmp_path):
    """A plant with no gain plane (nx = 4): the same world, no gain map."""
    rcp = load_recipe("gb2025-fig1", "smoke", {**TINY, "plant.type": "cart_pole",
                                               "open_loop.enabled": False})
    summ = run_study(WORLD, rcp, RunStore(tmp_path / "cp"), figures=True)
    assert "gain_regions" not in summ and "open" not in summ
    assert set(summ["figures"]) == {"loss", "eigen"}
    assert np.isfinite(summ["closed"]["initial_deployed_loss"])
