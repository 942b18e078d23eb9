"""The Li2 world in core's shape: its phases (one per shape batch), their constants apart from
the evolving state, and a study through core.study that resumes to the same summary
(issue 10)."""

import jax
import numpy as np
import pytest

from learndyn.core.store import RunStore
from learndyn.core.study import run_study
from learndyn.core.world import World
from learndyn.grokking.problem import Li2Consts, Li2State
from learndyn.grokking.world import WORLD
from learndyn.recipes import load_recipe

TINY = {"model.K": 32, "train.epochs": 40, "seeds": 2, "record.dense_until": 5,
        "record.per_decade": 10}


def tiny(name="li2-fig3", **over):
    return load_recipe(name, "smoke", {**TINY, **over})


def test_world_shape():
    assert isinstance(WORLD, World)
    assert WORLD.study == "li2" and WORLD.papers == ("li2-2025",)
    assert WORLD.theories(tiny()) == []
    assert {c.id for c in WORLD.claims()} >= {"li2.wd_needed", "li2.features_are_irreps"}


def test_phases_hold_constants_apart_from_the_state():
    rcp = tiny()                        # Z23, n = 264, 2 variants x 2 seeds: one batch
    (ph,) = list(WORLD.phases(rcp))
    assert (ph.name, ph.label) == ("batch0", "batch 1/1")
    assert isinstance(ph.state0, Li2State) and isinstance(ph.consts, Li2Consts)
    # what evolves: the weights, the optimiser's state and the last step's cosine distances
    assert set(ph.state0._fields) == {"params", "opt_state", "cos_W", "cos_V"}
    R, M, n = 4, 23, 264
    c = ph.consts
    assert c.train_idx.shape == (R, n) and c.test_idx.shape == (R, M * M - n)
    assert c.lr.shape == c.wd.shape == c.v_scale.shape == (R,)
    assert c.init.W.shape == (R, 2 * M, 32) and ph.state0.params.W.shape == (R, 2 * M, 32)
    np.testing.assert_array_equal(c.wd, np.array([5e-4, 5e-4, 0.0, 0.0], np.float32))
    assert list(ph.run_coords["variant"]) == ["eta=5e-4"] * 2 + ["eta=0"] * 2
    assert list(ph.run_coords["seed"]) == [0, 1, 0, 1]
    assert ph.diverge_factor == rcp.train.diverge_factor and ph.run_map is not None
    # seed k has the same split in every variant
    np.testing.assert_array_equal(c.train_idx[0], c.train_idx[2])
    assert not np.array_equal(c.train_idx[0], c.train_idx[1])


def test_variants_of_other_shapes_are_other_phases():
    rcp = tiny("li2-fig10-11")          # real and complex weights: two batches
    phases = list(WORLD.phases(rcp))
    assert [(p.name, p.label) for p in phases] == [("batch0", "batch 1/2"),
                                                    ("batch1", "batch 2/2")]
    assert [list(p.run_coords["variant"]) for p in phases] == [["Z23 real"] * 2,
                                                               ["Z23 complex"] * 2]
    assert np.iscomplexobj(phases[1].state0.params.W)


class _Stop(Exception):
    pass


def test_study_writes_the_summary_and_a_resumed_study_gives_the_same(tmp_path):
    rcp = tiny()
    whole = run_study(WORLD, rcp, RunStore(tmp_path / "whole"), figures=True)
    assert whole["study"] == "li2" and whole["n_batches"] == 1
    assert set(whole["variants"]) == {"eta=5e-4", "eta=0"}
    for key in ("recipe", "paper", "seeds", "seed", "epochs", "stage_boundaries", "backend"):
        assert key in whole
    assert whole["timing"]["train_s"] == pytest.approx(whole["timing"]["batch0_s"])
    assert set(whole["figures"]) == {"curves", "irrep_power_over_time", "final_spectrum",
                                     "energy_per_node"}
    v = whole["variants"]["eta=5e-4"]
    assert v["settings"]["optimizer"] == "adam" and v["settings"]["activation"] == "x2"
    assert len(v["per_seed"]["trivial_power_share"]) == 2

    # killed after its first committed chunk, then run again: it resumes from the checkpoint
    calls = []

    def progress(label):
        def update(done, total):
            calls.append(done)
            if len(calls) == 2:          # the first update is before any chunk
                raise _Stop
        return update
    store = RunStore(tmp_path / "killed")
    with pytest.raises(_Stop):
        run_study(WORLD, rcp, store, progress=progress, figures=False)
    ck = store.child("batch0").load_checkpoint(list(WORLD.phases(rcp))[0].state0)
    assert ck is not None and 0 < ck["step"] < rcp.train.epochs
    # the checkpoint holds the evolving state only (the constants are recomputed)
    assert isinstance(ck["state"], Li2State)
    resumed = run_study(WORLD, rcp, store, figures=False)
    strip = lambda s: {k: v for k, v in s.items() if k not in ("timing", "figures")}  # noqa: E731
    assert strip(resumed) == strip(whole)
    again = run_study(WORLD, rcp, store, figures=False)      # read back, nothing retrained
    assert strip(again) == strip(whole)


def test_table_rows():
    summary = {"variants": {"a": {"fraction_generalising": 1.0, "generalisation_step": 120,
                                  "final_test_acc": 0.99, "n_diverged": 0},
                            "b": {"fraction_generalising": None}}}
    rows = WORLD.table(summary)
    assert rows[0] == ("variant", ["a", "b"])
    got = dict(rows[1:])
    assert got["generalising"] == ["100%", "n/a"]
    assert got["generalisation step"] == ["120", "n/a"]
    assert all(len(vals) == 2 for _, vals in rows[1:])


def test_state_and_consts_are_device_arrays():
    """Every leaf of a phase's state and consts has the run axis first (the trainer vmaps
    both over it)."""
    (ph,) = list(WORLD.phases(tiny()))
    for leaf in jax.tree_util.tree_leaves((ph.state0, ph.consts)):
        assert leaf.shape[0] == 4
