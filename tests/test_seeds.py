"""Seeds that reproduce: the run labelled seed k is the run that `seed = k` gives alone.

Every world derives run k's key as fold_in(PRNGKey(0), k) (core/seeds.py), whatever batch the
run is in; the recipes bound seed and seed + seeds - 1 to fold_in's uint32 range.

A batch member and the same seed alone start from the same state (exactly) but are not
computed by the same XLA program: the per-run computations are vmapped, and how XLA:CPU
batches them (or, in cache-sized groups, maps them: core/batching.py) depends on the batch
size, so sums are taken in another order and the numbers differ at float32 rounding, which
training then carries along. The tolerances below bound that, with the measured sizes.
"""

import jax
import numpy as np
import pytest

from learndyn.core.store import RunStore
from learndyn.errors import ConfigError
from learndyn.recipes import load_recipe


class _Stop(Exception):
    pass


class _Seen(list):
    coords = None


def _capture_initial_states(monkeypatch, stop=False):
    """Record (initial state, per-run consts) and the run coordinates of every phase that
    core.study trains (in call order); with `stop`, end the study at its first phase
    (nothing trained)."""
    import learndyn.core.study as study
    from learndyn.core.trainer import Trainer

    seen = _Seen()

    class Capturing(Trainer):
        def run(self, state0, *args, **kwargs):
            seen.append(jax.tree_util.tree_map(np.asarray, (state0, kwargs.get("consts"))))
            seen.coords = kwargs.get("run_coords")
            if stop:
                raise _Stop
            return super().run(state0, *args, **kwargs)

    monkeypatch.setattr(study, "Trainer", Capturing)
    return seen


def _find(tree, name):
    """The leaf (or subtree) called `name` anywhere in a (state, consts) pair of NamedTuples,
    dataclasses and dicts."""
    if isinstance(tree, dict):
        items = tree.items()
    elif hasattr(tree, "_fields"):
        items = ((f, getattr(tree, f)) for f in tree._fields)
    elif isinstance(tree, (tuple, list)):
        items = ((None, x) for x in tree)
    elif hasattr(tree, "__dataclass_fields__"):
        items = ((f, getattr(tree, f)) for f in tree.__dataclass_fields__)
    else:
        return None
    for key, sub in items:
        if key == name:
            return sub
        found = _find(sub, name)
        if found is not None:
            return found
    return None


def _run(name, over, tmp_path, monkeypatch):
    from learndyn.core.study import run_study
    from learndyn.worlds import get_world
    rcp = load_recipe(name, "smoke", over)
    seen = _capture_initial_states(monkeypatch)
    out = tmp_path / f"s{rcp.seed}-n{rcp.seeds}"
    summary = run_study(get_world(rcp.study), rcp, RunStore(out), figures=False)
    recs = {p.parent.name: RunStore(p.parent).load_records()
            for p in sorted(out.glob("*/records.zarr"))}
    return summary, recs, seen


def _run_of(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _assert_trees_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(x, y)


def _max_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    ok = np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok]) / np.abs(b[ok])))


# Float32 rounding bounds for a batch member against the same seed alone (relative), with
# the sizes measured on the 2-core CPU (seed 7 alone vs the last member of batches of 2, 3, 8):
# - gb2025-fig1, smoke (N = 16, 40 + 40 epochs): closed-loop parameters stay bit-identical
#   (the loss is computed run by run, core/batching.py); the recorded losses, evaluated for
#   the runs together, differ by up to 1.5e-7 (closed) and 4.4e-7 (open loop, whose
#   imitation rollouts are vmapped over runs, so its training moves too); first records up to
#   4.3e-7 (open loop, n = 8). Mid scale (N = 100, batch 100, 300 + 300 epochs): closed loop
#   bit-identical, open loop up to 1.6e-6 over the trajectory.
# - li2-fig3, smoke (600 epochs): losses and weights bit-identical; observables evaluated for
#   the runs together (||G_F||, diag F^T F, ...) within 2.5e-7.
# FIRST_RTOL: the first record's state is the same, only an evaluation's summation order
# differs: 4e-6 (33 float32 ulps, 10x the measured 4.3e-7). TRAJ_RTOL: rounding carried
# through training: 1e-4 (60x the largest measured, 1.6e-6, for longer runs or other CPU
# kernels). A different seed (another key) changes the initial deployed loss by about 3 %
# (9542 vs 9827 for seed 2 of a batch and seed 2 alone on b2eb2d6), so both bounds catch a
# mixed-up member or a changed key.
FIRST_RTOL = 4e-6
TRAJ_RTOL = 1e-4
# The summary's fitted gains (least squares u ~ K x over rollouts: the solve amplifies the
# products' rounding by cond(X^T X), about 4e3 at init): measured 2.5e-6 (closed) and 2.3e-5
# (open) at smoke scale, 9e-7 / 6e-6 at mid scale; bounded at 1e-3 (40x the largest), still
# far below a seed's difference (order 1).
GAINS_RTOL = 1e-3


def _gb_initial_states(tmp_path, monkeypatch, batches):
    """For each (seed, seeds): the initial batched state of gb2025-fig1 (smoke) and its seed
    labels, from a study stopped before training."""
    from learndyn.core.study import run_study
    from learndyn.worlds import get_world
    out = []
    for seed, seeds in batches:
        rcp = load_recipe("gb2025-fig1", "smoke", {"seed": seed, "seeds": seeds})
        seen = _capture_initial_states(monkeypatch, stop=True)
        with pytest.raises(_Stop):
            run_study(get_world("closedloop"), rcp, RunStore(tmp_path / f"s{seed}"),
                      figures=False)
        out.append((seen[0], list(seen.coords["seed"])))
    return out


def test_closedloop_batch_member_starts_as_the_seed_alone(tmp_path, monkeypatch):
    """Seeds 5, 6, 7 in one batch: the run labelled 7 has the initial state and per-run
    constants (key, weights, evaluation episodes) of seed = 7 alone (the studies are stopped before training)."""
    (sb, lb), (sa, la) = _gb_initial_states(tmp_path, monkeypatch, ((5, 3), (7, 1)))
    assert lb == [5, 6, 7] and la == [7]
    _assert_trees_equal(_run_of(sb, 2), _run_of(sa, 0))
    # the other members are other seeds
    w = _find(sb, "params")["W"]
    assert not np.array_equal(w[1], w[2])


def test_closedloop_batch_member_records_match_the_seed_alone(gb_smoke_run, tmp_path):
    """The smoke run (seeds 0, 1 in one batch; shared fixture) against seed = 1 alone:
    records and fitted gains within the float32 batch-size rounding bounds above."""
    from learndyn.recipes import run_recipe
    out, batch = gb_smoke_run
    alone = run_recipe(load_recipe("gb2025-fig1", "smoke", {"seed": 1, "seeds": 1}),
                       tmp_path / "alone", scale="smoke")
    for mode in ("closed", "open"):
        rb = RunStore(out / mode).load_records()
        ra = RunStore(tmp_path / "alone" / mode).load_records()
        assert list(rb.seed.values) == [0, 1] and list(ra.seed.values) == [1]
        for var in ("loss", "deployed_loss"):
            b, a = rb[var].values[:, 1], ra[var].values[:, 0]
            assert _max_rel(b[:1], a[:1]) <= FIRST_RTOL, (mode, var)
            assert _max_rel(b, a) <= TRAJ_RTOL, (mode, var)
        gb = np.asarray(batch[mode]["per_seed"]["final_gains"][1])
        ga = np.asarray(alone[mode]["per_seed"]["final_gains"][0])
        assert np.linalg.norm(gb - ga) <= GAINS_RTOL * np.linalg.norm(ga), mode
    # seed 0 (the other member) is another run: far outside the bounds
    d0 = RunStore(out / "closed").load_records().deployed_loss.values[0]
    assert _max_rel(d0[:1], d0[1:2]) > 100 * TRAJ_RTOL


# Li2 (li2-fig3, smoke, a smaller net): each variant's seed-k run uses seed k's key for its
# split and init; the same bounds as above (measured numbers there).
LI2_SMALL = {"train.epochs": 30, "model.K": 64}


def test_li2_batch_member_is_the_seed_alone(tmp_path, monkeypatch):
    _, rb, s_batch = _run("li2-fig3", {**LI2_SMALL, "seed": 5, "seeds": 3},
                          tmp_path, monkeypatch)
    _, ra, s_alone = _run("li2-fig3", {**LI2_SMALL, "seed": 7, "seeds": 1},
                          tmp_path, monkeypatch)
    (db,), (da,) = rb.values(), ra.values()
    assert list(db.seed.values) == [5, 6, 7, 5, 6, 7]
    assert list(da.seed.values) == [7, 7]
    assert list(db.variant.values[[2, 5]]) == list(da.variant.values)
    (sb,), (sa,) = s_batch, s_alone
    for ib, ia in ((2, 0), (5, 1)):   # (variant 0, seed 7), (variant 1, seed 7)
        rb_, ra_ = _run_of(sb, ib), _run_of(sa, ia)
        np.testing.assert_array_equal(_find(rb_, "train_idx"), _find(ra_, "train_idx"))
        np.testing.assert_array_equal(_find(rb_, "test_idx"), _find(ra_, "test_idx"))
        _assert_trees_equal(_find(rb_, "params"), _find(ra_, "params"))
        _assert_trees_equal(rb_, ra_)
        for var in ("train_loss", "test_loss"):
            b, a = db[var].values[:, ib], da[var].values[:, ia]
            assert _max_rel(b[:1], a[:1]) <= FIRST_RTOL, var
            assert _max_rel(b, a) <= TRAJ_RTOL, var
    # a variant's seed has the same split and init in the other variant
    np.testing.assert_array_equal(_find(_run_of(sb, 2), "train_idx"),
                                  _find(_run_of(sb, 5), "train_idx"))
    _assert_trees_equal(_find(_run_of(sb, 2), "params"), _find(_run_of(sb, 5), "params"))
    # seeds 5 and 6 have other splits than seed 7
    assert not np.array_equal(_find(_run_of(sb, 0), "train_idx"),
                              _find(_run_of(sb, 2), "train_idx"))


def test_keys_of_seed_zero_batches_are_unchanged():
    """Every shipped recipe has seed = 0: its run i keeps the key fold_in(PRNGKey(0), i) it
    had before the keys depended on the seed label alone (so its numbers are unchanged)."""
    from learndyn.core.seeds import run_key, run_keys
    old = np.stack([np.asarray(jax.random.fold_in(jax.random.PRNGKey(0), i)) for i in range(5)])
    np.testing.assert_array_equal(np.asarray(run_keys(0, 5)), old)
    np.testing.assert_array_equal(np.asarray(run_keys(5, 3))[2], np.asarray(run_key(7)))


@pytest.mark.parametrize("over", [{"seed": 2**32}, {"seed": 2**64}, {"seed": -1},
                                  {"seed": 2**32 - 2, "seeds": 3},
                                  {"seed": 2**63 - 1, "seeds": 2}])
@pytest.mark.parametrize("name", ["gb2025-fig1", "li2-fig3"])
def test_seed_beyond_the_key_range_is_one_line(name, over):
    with pytest.raises(ConfigError) as err:
        load_recipe(name, "smoke", over)
    msg = str(err.value)
    assert "\n" not in msg and "seed" in err.value.field
    assert str(2**32 - 1) in msg or ">= 0" in msg or "greater than or equal to 0" in msg


def test_largest_seed_is_allowed_and_reproduces(tmp_path, monkeypatch):
    """seed + seeds - 1 = 2**32 - 1 is allowed; the run labelled 2**32 - 1 in a batch of 2 has
    the initial state of that seed alone (the studies are stopped before training)."""
    top = 2**32 - 1
    (sb, lb), (sa, la) = _gb_initial_states(tmp_path, monkeypatch, ((top - 1, 2), (top, 1)))
    assert lb == [top - 1, top] and la == [top]
    _assert_trees_equal(_run_of(sb, 1), _run_of(sa, 0))
    assert not np.array_equal(_find(_run_of(sb, 0), "key"), _find(_run_of(sb, 1), "key"))
