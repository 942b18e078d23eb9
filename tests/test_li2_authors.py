"""The authors' conventions for Li2 (github yuandong-tian/understanding, ssl/real-dataset/cogo,
modular_addition_simple2.py), each against values computed by hand from their formulas."""

import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.grokking.losses import mse_class_centred
from learndyn.grokking.observables import AUTHORS_STATS, authors_statistics


def _data(n=37, K=9, M=5, seed=0):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, K)) ** 2          # x^2 features: positive, not centred
    V = 0.3 * rng.standard_normal((K, M))
    Y = np.eye(M)[rng.integers(0, M, n)]
    return F, Y, V


def test_mse_class_is_the_authors_compute_loss():
    """Their MSE, written out as in their compute_loss: per sample, with o the output centred
    over classes, sum_c o_c^2 - 2 o_label + 1 - 1/M, averaged over samples (no 1/2)."""
    F, Y, V = _data()
    out = F @ V
    M = out.shape[1]
    o = out - out.mean(axis=1, keepdims=True)
    label = Y.argmax(axis=1)
    theirs = np.mean((o ** 2).sum(axis=1) - 2 * o[np.arange(len(o)), label] + 1 - 1 / M)
    ours = float(mse_class_centred(jnp.asarray(out), jnp.asarray(Y)))
    # ours in float32 (jax default) against float64: a sum of 37 x 5 terms, rel 1e-6 ~ 8 ulps
    assert ours == pytest.approx(theirs, rel=1e-6)
    # the paper's Eq. 1 (sample-centred, 1/2, no 1/n) is another loss: not equal here
    from learndyn.grokking.losses import mse_sample_centred
    assert float(mse_sample_centred(jnp.asarray(out), jnp.asarray(Y))) != pytest.approx(theirs)


def _dense_authors(F, Y, V):
    """Their statistics with the n x n matrix formed, as their forward does."""
    n, M = Y.shape
    out = {"gf_norm_authors": np.linalg.norm((Y - 1 / M - F @ V) @ V.T)}
    Ft = F - F.mean(axis=0)
    C = np.abs(Ft.T @ Ft)
    K = C.shape[0]
    out["FtF_diag_avg"] = np.diag(C).mean()
    out["FtF_offdiag_avg"] = (C.sum() - np.trace(C)) / (K * (K - 1))
    A = F @ F.T
    d = np.diag(A).mean()
    o = (A.sum() - np.trace(A)) / (n * (n - 1))
    ideal = (d - o) * np.eye(n) + o
    out["FFt_dist_ideal"] = np.linalg.norm(ideal - A) / np.linalg.norm(A)
    A2 = np.abs(A - A.mean(axis=0, keepdims=True))
    out["P1FFt_diag_avg"] = np.diag(A2).mean()
    out["P1FFt_offdiag_avg"] = (A2.sum() - np.trace(A2)) / (n * (n - 1))
    return out


@pytest.mark.parametrize("n", [37, 256, 300])     # under, at and over one block of rows
def test_authors_statistics_match_their_dense_formulas(n):
    F, Y, V = _data(n=n)
    want = _dense_authors(F, Y, V)
    got = authors_statistics(*(jnp.asarray(a, jnp.float32) for a in (F, Y, V)))
    assert set(got) == set(AUTHORS_STATS)
    for k in AUTHORS_STATS:
        # float32 sums of up to n^2 = 9e4 terms against float64: relative 1e-5 is ~100 ulps
        assert float(got[k]) == pytest.approx(want[k], rel=1e-5), k


def test_authors_gf_norm_is_not_ours():
    """Theirs has no centring over samples: on features with a large common mean the two
    differ (ours is P1 (Y - F V) V^T)."""
    from learndyn.grokking.observables import gf_norm_ratio
    F, Y, V = _data()
    F32 = [jnp.asarray(a, jnp.float32) for a in (F, Y, V)]
    ours = float(gf_norm_ratio(*F32)[0])
    theirs = float(authors_statistics(*F32)["gf_norm_authors"])
    assert abs(theirs - ours) > 0.05 * ours


def test_a_run_records_the_authors_statistics_only_when_asked():
    import jax
    from learndyn.grokking.model import hidden, one_hot_labels
    from learndyn.grokking.problem import Li2Problem
    from learndyn.groups import parse_group
    plain = Li2Problem(parse_group("Z7"), 8, n_train=20)
    theirs = Li2Problem(parse_group("Z7"), 8, n_train=20, authors_stats=True)
    state, consts = theirs.init(jax.random.PRNGKey(3), 1e-3, 1e-4, 1.0)
    for t in range(3):
        state, _ = theirs.step(state, t, consts)
    assert not set(AUTHORS_STATS) & set(plain.observe(state, consts))
    obs = theirs.observe(state, consts)
    pairs, labels = theirs._pairs[consts.train_idx], theirs._labels[consts.train_idx]
    F = hidden(state.params, pairs, theirs.act)
    want = authors_statistics(F, one_hot_labels(labels, 7), state.params.V)
    for k in AUTHORS_STATS:
        assert float(obs[k]) == pytest.approx(float(want[k]), rel=1e-6), k


def test_recipe_field_authors_stats():
    from learndyn.recipes import load_recipe
    assert load_recipe("li2-fig3", "smoke").authors_stats is False
    assert load_recipe("li2-fig3", "smoke", {"authors_stats": True}).authors_stats is True
