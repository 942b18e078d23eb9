"""The authors' conventions for Li2 (github yuandong-tian/understanding, ssl/real-dataset/cogo,
modular_addition_simple2.py), each against values computed by hand from their formulas."""

import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.grokking.losses import mse_class_centred
from learndyn.grokking.observables import AUTHORS_STATS, authors_statistics

from _presets import PresetRuns, flat


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
    assert load_recipe("li2-fig3", "smoke").authors_stats is True      # the reference preset
    assert load_recipe("li2-fig7", "smoke").authors_stats is False
    assert load_recipe("li2-fig7", "smoke", {"authors_stats": True}).authors_stats is True


# -- ridge V, residual form, complex initialisation (issue 22, step 2) -------------------------

def test_authors_ridge_is_their_svd_formula():
    from learndyn.grokking.model import ridge_V, ridge_V_authors
    F, Y, V = _data(n=40, K=12, M=5)
    lam = 1e-3
    U, s, Vt = np.linalg.svd(F, full_matrices=False)          # their code, in float64
    theirs = Vt.T @ ((U.T @ (Y - 1 / 5)) * (s / (s ** 2 + lam))[:, None])
    ours = np.asarray(ridge_V_authors(jnp.asarray(F, jnp.float32), jnp.asarray(Y), lam))
    # float32 normal equations against a float64 SVD: cond(F^T F + lam I) ~ 1e3 here, so
    # ~1e3 x 6e-8 relative; 1e-3 of the largest entry
    np.testing.assert_allclose(ours, theirs, atol=1e-3 * np.abs(theirs).max())
    # learndyn's form (centred over samples, the same lam) is another matrix
    other = np.asarray(ridge_V(jnp.asarray(F, jnp.float32), jnp.asarray(Y, jnp.float32), lam))
    assert np.abs(other - theirs).max() > 0.1 * np.abs(theirs).max()


@pytest.mark.parametrize("form", ["sample_centred", "authors"])
def test_ridge_run_fits_V_on_the_training_pairs_only(form):
    """With a ridge, V is the ridge solution on the training pairs and the test loss is the
    test pairs' loss under that V (it was fitted on the test pairs themselves before)."""
    import jax
    from learndyn.grokking.config import AuthorsRidge, SampleCentredRidge
    from learndyn.grokking.model import hidden, one_hot_labels
    from learndyn.grokking.problem import Li2Problem
    from learndyn.groups import parse_group
    ridge = (AuthorsRidge() if form == "authors" else SampleCentredRidge()).build()
    prob = Li2Problem(parse_group("Z7"), 8, n_train=20, ridge=ridge)
    state, consts = prob.init(jax.random.PRNGKey(1), 1e-3, 1e-4, 1.0)
    for t in range(3):
        state, _ = prob.step(state, t, consts)
    p = state.params
    tr, te = prob._pairs[consts.train_idx], prob._pairs[consts.test_idx]
    Ytr = one_hot_labels(prob._labels[consts.train_idx], 7)
    Yte = one_hot_labels(prob._labels[consts.test_idx], 7)
    V = ridge(hidden(p, tr, prob.act), Ytr, consts.wd)
    np.testing.assert_allclose(np.asarray(p.V), np.asarray(V), rtol=1e-4, atol=1e-6)
    obs = prob.observe(state, consts)
    want = prob.loss(hidden(p, te, prob.act) @ V, Yte)
    assert float(obs["test_loss"]) == pytest.approx(float(want), rel=1e-5)


def test_ridge_step_loss_uses_the_ridge_V_of_the_current_W():
    """A ridge run solves for V once per step (after the update), not again in the loss: the
    V it holds is the ridge solution of its current W from the first step on (init included),
    so the loss each step reports is the loss under the freshly solved V."""
    import jax
    from learndyn.grokking.config import AuthorsRidge
    from learndyn.grokking.model import hidden, one_hot_labels
    from learndyn.grokking.problem import Li2Problem
    from learndyn.groups import parse_group
    ridge = AuthorsRidge().build()
    prob = Li2Problem(parse_group("Z7"), 8, n_train=20, ridge=ridge)
    state, consts = prob.init(jax.random.PRNGKey(2), 1e-2, 1e-4, 1.0)
    tr = prob._pairs[consts.train_idx]
    Ytr = one_hot_labels(prob._labels[consts.train_idx], 7)
    for t in range(3):
        p = state.params
        V = ridge(hidden(p, tr, prob.act), Ytr, consts.wd)
        # float32 solve of an 8x8 system: agreement to 1e-4 relative
        np.testing.assert_allclose(np.asarray(p.V), np.asarray(V), rtol=1e-4, atol=1e-6)
        state, loss = prob.step(state, t, consts)
        assert float(loss) == pytest.approx(float(prob.loss(hidden(p, tr, prob.act) @ V, Ytr)),
                                            rel=1e-5)


def test_ridge_spellings():
    from learndyn.errors import ConfigError
    from learndyn.recipes import load_recipe
    r = lambda v: load_recipe("li2-fig3", "smoke", {"model.ridge_V": v}).model.ridge_V.type  # noqa: E731
    assert (r(True), r(False), r("authors"), r("sample_centred")) == (
        "sample_centred", "none", "authors", "sample_centred")
    with pytest.raises(ConfigError) as e:
        r("svd")
    assert "ridge_V" in str(e.value) and "authors" in str(e.value)


def test_authors_residual_form():
    import jax
    from learndyn.grokking.model import forward, hidden, init_params, onehot_forward
    p = init_params(jax.random.PRNGKey(0), 5, 6, n_residual=2)
    pairs = jnp.array([[0, 1], [2, 3], [4, 4]])
    h = (p.W[pairs[:, 0]] + p.W[5 + pairs[:, 1]]) ** 2
    for R in p.R:
        h = (h + h @ R) ** 2                                   # their x = act(x + layer(x))
    np.testing.assert_allclose(np.asarray(hidden(p, pairs, "x2", "skip_inside")), np.asarray(h),
                               rtol=1e-6)
    assert not np.allclose(np.asarray(hidden(p, pairs, "x2")), np.asarray(h), rtol=1e-3)
    np.testing.assert_allclose(np.asarray(forward(p, pairs, "x2", "skip_inside")),
                               np.asarray(onehot_forward(p, pairs, "x2", "skip_inside")),
                               rtol=1e-5)


def test_real_cast_complex_weights_stay_real():
    """The authors' complex runs: real weights cast to complex. The loss reads the real part
    of the output, so at real weights the imaginary parts' gradient is exactly 0 and they
    stay 0: such a run is the real run (up to float rounding)."""
    import jax
    from learndyn.grokking.model import init_params
    from learndyn.grokking.problem import Li2Problem
    from learndyn.groups import parse_group
    key = jax.random.PRNGKey(2)
    cast = init_params(key, 7, 8, complex_weights=True, complex_init="real_cast")
    real = init_params(key, 7, 8)
    assert cast.W.dtype == jnp.complex64
    assert float(jnp.abs(cast.W.imag).max()) == 0.0 and float(jnp.abs(cast.V.imag).max()) == 0.0
    np.testing.assert_array_equal(np.asarray(cast.W.real), np.asarray(real.W))
    indep = init_params(key, 7, 8, complex_weights=True)
    assert float(jnp.abs(indep.W.imag).max()) > 0.01
    runs = {}
    for name, kw in (("cast", dict(complex_weights=True, complex_init="real_cast")),
                     ("real", {})):
        prob = Li2Problem(parse_group("Z7"), 8, n_train=20, **kw)
        state, consts = prob.init(key, 1e-2, 1e-4, 1.0)
        for t in range(20):
            state, _ = prob.step(state, t, consts)
        runs[name] = state.params
    assert float(jnp.abs(runs["cast"].W.imag).max()) == 0.0
    # the same trajectory as the real run: complex64 arithmetic rounds like float32 here
    np.testing.assert_allclose(np.asarray(runs["cast"].W.real), np.asarray(runs["real"].W),
                               rtol=1e-4, atol=1e-6)


# -- the authors' Muon (issue 22, step 3) -------------------------------------------------------

def _their_muon_steps(W, V, grads, lr, wd, beta2=0.99):
    """Their update, written out in float64 for W (muon_update with nesterov off, no
    compensation, decay before the update) and V (torch Adam with weight_decay: coupled)."""
    coeffs = [(4.01, -9.22, 5.80), (3.49, -6.38, 3.23), (3.34, -6.21, 3.20),
              (3.64, -7.48, 4.43), (3.46, -5.35, 2.85)]
    mom = np.zeros_like(W)
    m1, m2 = np.zeros_like(V), np.zeros_like(V)
    for t, (gW, gV) in enumerate(grads, start=1):
        W = W * (1 - lr * wd)
        mom = beta2 * mom + (1 - beta2) * gW
        X = mom.T if mom.shape[0] > mom.shape[1] else mom
        X = X / (np.linalg.norm(X) + 1e-7)
        for a, b, c in coeffs:
            A = X @ X.T
            X = a * X + (b * A + c * A @ A) @ X
        X = X.T if mom.shape[0] > mom.shape[1] else X
        W = W - lr * X
        g = gV + wd * V
        m1 = 0.9 * m1 + 0.1 * g
        m2 = 0.999 * m2 + 0.001 * g * g
        V = V - lr * (m1 / (1 - 0.9 ** t)) / (np.sqrt(m2 / (1 - 0.999 ** t)) + 1e-8)
    return W, V


def test_authors_muon_against_a_hand_written_update():
    from learndyn.core.optim import make_optimizer
    from learndyn.grokking.model import Params
    rng = np.random.default_rng(0)
    W0, V0 = rng.standard_normal((10, 6)) * 0.3, rng.standard_normal((6, 5)) * 0.3
    grads = [(rng.standard_normal((10, 6)), rng.standard_normal((6, 5))) for _ in range(3)]
    lr, wd = 0.02, 1e-2
    opt = make_optimizer("muon_authors", lr, wd, muon_beta=0.99)
    p = Params(jnp.asarray(W0, jnp.float32), jnp.asarray(V0, jnp.float32))
    state = opt.init(p)
    for gW, gV in grads:
        g = Params(jnp.asarray(gW, jnp.float32), jnp.asarray(gV, jnp.float32))
        u, state = opt.update(g, state, p)
        p = Params(p.W + u.W, p.V + u.V)
    W, V = _their_muon_steps(W0, V0, grads, lr, wd)
    # float32 against float64 through five Newton-Schulz steps (each multiplies errors by
    # up to ~|a| = 4): 1e-5 of the weights' size, far below one update (lr = 0.02)
    np.testing.assert_allclose(np.asarray(p.W), W, atol=1e-5)
    np.testing.assert_allclose(np.asarray(p.V), V, atol=1e-5)
    # optax's Muon (Nesterov 0.95, one triple, sqrt(K / 2M) rescaling) is another update
    other = make_optimizer("muon", lr, wd)
    q = Params(jnp.asarray(W0, jnp.float32), jnp.asarray(V0, jnp.float32))
    u, _ = other.update(Params(jnp.asarray(grads[0][0], jnp.float32),
                               jnp.asarray(grads[0][1], jnp.float32)), other.init(q), q)
    u1, _ = opt.update(Params(jnp.asarray(grads[0][0], jnp.float32),
                              jnp.asarray(grads[0][1], jnp.float32)), opt.init(q), q)
    assert not np.allclose(np.asarray(u.W), np.asarray(u1.W), atol=1e-4)


def test_recipe_takes_the_authors_muon():
    from learndyn.recipes import load_recipe
    r = load_recipe("li2-fig3", "smoke", {"train.optimizer": "muon_authors"})
    assert r.train.optimizer.type == "muon_authors" and r.train.optimizer.beta == 0.99


# -- critical ratio and separate seeds (issue 22, step 4) ---------------------------------------

def test_critical_split_is_the_authors():
    """Their test_size = 1 - c 2.7482 ln(M) / M with c = 1 for modular addition (any Abelian
    group) and d_max / 2 for the non-Abelian collection: Z127 trains on 10.5 % (it was 5.2 %:
    the Abelian d_max = 1 was halved)."""
    import math
    from learndyn.grokking.config import variant_split
    from learndyn.recipes import load_recipe
    for group, c in (("Z127", 1.0), ("Z23", 1.0), ("D5", 1.0)):   # D5: d_max = 2
        r = load_recipe("li2-fig7", "smoke", {"data.critical": True, "data.n": None,
                                               "group": group, "variants": [{"name": "a"}]})
        _, M, n = variant_split(r, r.variants[0])
        assert n == int(c * 2.7482 * math.log(M) / M * M * M), (group, n)
    r = load_recipe("li2-fig7", "smoke", {"data.critical": True, "data.n": None,
                                           "group": "Z127", "variants": [{"name": "a"}]})
    assert abs(variant_split(r, r.variants[0])[2] / 127 ** 2 - 0.1048) < 5e-4


def _first_batch(over):
    from learndyn.grokking.world import batches, build_phase
    from learndyn.recipes import load_recipe
    r = load_recipe("li2-fig3", "smoke", {"seeds": 3, **over})
    b = batches(r)[0]
    ph = build_phase(r, b)
    return np.asarray(ph.consts.train_idx), np.asarray(ph.state0.params.W)


def test_data_seed_and_init_seed_hold_one_part_fixed():
    idx, W = _first_batch({})
    assert not np.array_equal(idx[0], idx[1]) and not np.array_equal(W[0], W[1])
    idx_d, W_d = _first_batch({"data.seed": 7})
    assert all(np.array_equal(idx_d[0], i) for i in idx_d)      # one split for every seed
    np.testing.assert_array_equal(W_d, W)                        # initialisations as before
    idx_i, W_i = _first_batch({"model.init_seed": 7})
    assert all(np.array_equal(W_i[0], w) for w in W_i)            # one initialisation
    np.testing.assert_array_equal(idx_i, idx)                    # splits as before
    # the fixed split is the one seed 7 draws by default
    idx7, W7 = _first_batch({"seed": 7, "seeds": 1})
    np.testing.assert_array_equal(idx_d[0], idx7[0])
    np.testing.assert_array_equal(W_i[0], W7[0])


# -- li2.reference_vs_paper (issue 22, step 5) --------------------------------------------------

def test_li2_settings_table_is_every_difference_of_the_presets():
    import tomllib
    from pathlib import Path
    from learndyn.grokking.claims import CLAIMS, LI2_SETTINGS
    repo = Path(__file__).resolve().parents[1]
    ids = {c.id for c in CLAIMS}
    for recipe, fields in LI2_SETTINGS.items():
        presets = tomllib.loads((repo / "experiments" / f"{recipe}.toml").read_text())["presets"]
        code, text = flat(presets["reference"]), flat(presets["paper_text"])
        differ = {k for k in set(code) | set(text) if code.get(k) != text.get(k)}
        differ.discard("authors_stats")    # what is recorded, not a convention
        assert differ == set(fields.values()), (recipe, differ)
        short = recipe.removeprefix("li2-")
        assert f"li2.reference_vs_paper.{short}" in ids
        assert all(f"li2.reference_vs_paper.{short}.{n}" in ids for n in fields)


def _li2_summary(**variants):
    """variants: name -> (fraction generalising, generalisation step per seed or None)."""
    out = {}
    for name, (frac, step) in variants.items():
        out[name] = {"fraction_generalising": frac, "settings": {},
                     "per_seed": {"status": ["ok"] * 3,
                                  "events": [{"generalisation_step": step, "outcome": "x"}] * 3}}
    return {"variants": out}


def test_li2_reference_vs_paper_claims():
    by_id = {c.id: c for c in __import__("learndyn.grokking.claims", fromlist=["CLAIMS"]).CLAIMS}
    code = _li2_summary(**{"eta=2e-4": (1.0, 99), "eta=0": (0.0, None)})
    runs = PresetRuns({"reference": code,
                     "paper_text": _li2_summary(**{"eta=2e-4": (1.0, 120), "eta=0": (0.0, None)}),
                     "train.loss": _li2_summary(**{"eta=2e-4": (1.0, 400), "eta=0": (0.0, None)}),
                     "model.ridge_V": _li2_summary(**{"eta=2e-4": (0.0, None),
                                                      "eta=0": (0.0, None)})})
    r = by_id["li2.reference_vs_paper.fig3"].check(runs)
    assert r.verdict == "verified" and "eta=2e-4: groks at 120" in r.measured
    r = by_id["li2.reference_vs_paper.fig3.loss"].check(runs)
    assert r.verdict == "refuted" and "code train.loss = 'mse_class'" in r.measured
    r = by_id["li2.reference_vs_paper.fig3.ridge_V"].check(runs)
    assert r.verdict == "refuted" and "model.ridge_V = 'none'" in r.measured
    runs.scale = "smoke"
    assert by_id["li2.reference_vs_paper.fig3.loss"].check(runs).verdict == "inconclusive"


def test_gram_claim_reads_the_authors_statistics():
    from learndyn.grokking.claims import CLAIMS
    claim = next(c for c in CLAIMS if c.id == "li2.gram_nearly_diagonal")
    s = _li2_summary(**{"eta=2e-4": (1.0, 99), "eta=0": (0.0, None)})
    runs = PresetRuns({"reference": s})
    r = claim.check(runs)
    assert r.verdict == "inconclusive" and "authors_stats" in r.measured
    g = s["variants"]["eta=2e-4"]["authors_gram"] = {
        "FtF_offdiag_over_diag": 0.005, "P1FFt_offdiag_over_diag": 0.05, "FFt_dist_ideal": 0.2}
    assert claim.check(runs).verdict == "verified"
    g["P1FFt_offdiag_over_diag"] = 0.14
    r = claim.check(runs)
    assert r.verdict == "refuted" and "0.140 (P1 F F^T)" in r.measured
