"""Tests for benchmarks/li2.py: the PyTorch baseline computes learndyn's loss and gradient, and
the quick mode of the three Li2 benchmarks returns well-formed rows."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.bench_loader import load_harness

bench = load_harness(Path(__file__).resolve().parents[1] / "benchmarks")


@pytest.fixture(scope="module")
def li2():
    names = bench.discover()
    assert {"li2-fig3-step", "li2-fig3-recorded", "li2-fig3-8seeds"} <= set(names)
    return sys.modules["learndyn_benchmarks.li2"]


def test_torch_loss_and_gradient_equal_learndyn(li2):
    pytest.importorskip("torch")
    # the quick benchmarks' problem (Z11, K = 64, n = 48; its compiled init is then shared)
    settings = bench.BenchSettings(quick=True, min_seconds=0.05)
    cfg = li2._cfg(settings)
    runs = li2._runs_for(settings)
    prob = runs.problem
    state, consts = runs.init(jax.random.PRNGKey(3))
    # move away from the initial weights so that every part of the gradient matters
    params = state.params._replace(W=state.params.W * 1.7 + 0.01, V=state.params.V * 3.0)
    loss, grads = jax.value_and_grad(prob.objective)(params, consts)
    pairs = np.asarray(prob._pairs)[np.asarray(consts.train_idx)]
    assert pairs.shape == (cfg["n"], 2)
    # the baseline's labels (h1 + h2) mod M are learndyn's group table for Z_M
    np.testing.assert_array_equal(np.asarray(prob._labels)[np.asarray(consts.train_idx)],
                                  pairs.sum(1) % cfg["M"])
    t_loss, t_dW, t_dV = li2.torch_loss_and_grads(params.W, params.V, pairs, cfg["M"])
    assert t_loss == pytest.approx(float(loss), rel=1e-4)
    for ours, theirs in ((grads.W, t_dW), (grads.V, t_dV)):
        ours = np.asarray(ours)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.float32
        np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-4 * np.abs(ours).max())


def test_torch_loss_is_the_sample_centred_mse(li2):
    """The torch loss on its own: 1/2 ||P1 (Y - pred)||_F^2 / n, written out in numpy."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(9, 5)).astype(np.float32)
    Y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 9)]
    D = Y - pred
    D = D - D.mean(0)
    expected = 0.5 * np.sum(D * D) / 9
    got = float(li2.centred_mse(torch.from_numpy(pred), torch.from_numpy(Y)))
    assert got == pytest.approx(expected, rel=1e-5)
    from learndyn.grokking.losses import mse_sample_centred
    assert float(mse_sample_centred(jnp.asarray(pred), jnp.asarray(Y), reduction="mean")) == \
        pytest.approx(expected, rel=1e-5)


def test_quick_rows(li2):
    names = ["li2-fig3-step", "li2-fig3-recorded", "li2-fig3-8seeds"]
    info = {}
    rows = bench.run_benchmarks(names, quick=True, info=info)
    assert [r["name"] for r in rows] == names
    assert [r["unit"] for r in rows] == ["step", "epoch", "run-epoch"]
    has_torch = bench.torch_available()
    for row in rows:
        assert tuple(row) == bench.ROW_KEYS
        keys = ("baseline_s", "learndyn_s", "ratio", "fraction_of_peak") if has_torch else \
            ("learndyn_s", "fraction_of_peak")
        for k in keys:
            assert isinstance(row[k], float) and np.isfinite(row[k]) and row[k] > 0, (row, k)
        if not has_torch:
            assert row["baseline_s"] is None and row["ratio"] is None
    table = bench.format_table(rows, info["peak_flops"], info["notes"])
    assert "li2-fig3-recorded" in table
