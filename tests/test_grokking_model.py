"""Tests for learndyn.grokking: data, model, losses, optimisers, observables.

Groups are stand-ins built here (Z_M table (a + b) % M and its real Fourier
projectors), so these tests do not depend on learndyn.groups.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.errors import ConfigError
from learndyn.grokking import (
    ACTIVATIONS,
    LOSSES,
    Activation,
    Params,
    all_pairs,
    conjugate_grads,
    critical_ratio,
    cross_entropy,
    diag_mass,
    diag_mass_node_gram,
    diag_mass_sample_gram,
    forward,
    gf,
    gf_norm_ratio,
    gini,
    hidden,
    init_params,
    ipr,
    key_irreps,
    make_optimizer,
    mse_class_centred,
    mse_sample_centred,
    node_energy,
    one_hot_labels,
    onehot_forward,
    restricted_and_excluded_loss,
    ridge_V,
    split_pairs,
)


def zm_table(M: int) -> np.ndarray:
    a = np.arange(M)
    return (a[:, None] + a[None, :]) % M


def zm_projectors(M: int) -> np.ndarray:
    """Orthogonal projectors (R, M, M) onto the real irreps of Z_M: trivial, (cos, sin) pairs, sign."""
    j = np.arange(M)
    out = []
    for k in range(M // 2 + 1):
        if k == 0 or (M % 2 == 0 and k == M // 2):
            b = np.cos(2 * np.pi * k * j / M)[:, None]
        else:
            b = np.stack([np.cos(2 * np.pi * k * j / M), np.sin(2 * np.pi * k * j / M)], axis=1)
        q, _ = np.linalg.qr(b)
        out.append(q @ q.T)
    return np.stack(out)


_jforward = jax.jit(forward, static_argnums=2)
_jonehot = jax.jit(onehot_forward, static_argnums=2)


@pytest.fixture(autouse=True, scope="module")
def _fast_compile():
    """Compile with XLA optimisations off: these tests are dominated by compile time, not run time."""
    old = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", old)


# Shared sizes so that compiled programs are reused across tests (compile time dominates).
M0, K0 = 5, 12


def _data(M=M0, K=K0, seed=0, n_residual=1, **kw):
    pairs, labels = all_pairs(zm_table(M))
    params = init_params(jax.random.key(seed), M, K, n_residual=n_residual, **kw)
    return pairs, labels, params


# ----------------------------------------------------------------------------- data


def test_all_pairs_order_and_labels():
    M = 5
    pairs, labels = all_pairs(zm_table(M))
    assert pairs.shape == (M * M, 2) and pairs.dtype == np.int32 and labels.dtype == np.int32
    assert np.array_equal(pairs[2 * M + 3], [2, 3])
    assert np.array_equal(labels, (pairs[:, 0] + pairs[:, 1]) % M)


def test_split_seeded_disjoint_covering_sized():
    N = 97 * 97
    tr, te = split_pairs(N, seed=3, ratio=0.3)
    assert len(tr) == math.floor(0.3 * N) and len(tr) + len(te) == N
    assert len(np.intersect1d(tr, te)) == 0
    assert np.array_equal(np.sort(np.concatenate([tr, te])), np.arange(N))
    tr2, te2 = split_pairs(N, seed=3, ratio=0.3)
    assert np.array_equal(tr, tr2) and np.array_equal(te, te2)
    tr3, _ = split_pairs(N, seed=4, ratio=0.3)
    assert not np.array_equal(tr, tr3)
    # key path and n path; pairs array as first argument
    pairs, _ = all_pairs(zm_table(97))
    tr4, te4 = split_pairs(pairs, key=jax.random.key(1), n=10)
    assert len(tr4) == 10 and len(te4) == N - 10


def test_critical_ratio_value():
    M = 97
    expected = 0.5 * 2.7482 * math.log(M) / M  # = 1 - test_size
    assert critical_ratio(M) == pytest.approx(expected, rel=1e-12)
    assert critical_ratio(M, d_max=2, delta=0.5) == pytest.approx((2.7482 - 0.5) * math.log(M) / M, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(seed=0, ratio=0.0), "ratio"),
        (dict(seed=0, ratio=1.0), "ratio"),
        (dict(seed=0, ratio=1.5), "ratio"),
        (dict(seed=0, ratio=float("nan")), "ratio"),
        (dict(seed=0, ratio=1e-6), "ratio"),  # floor(1e-6 * 49) = 0 training pairs
        (dict(seed=0, n=0), "n"),
        (dict(seed=0, n=49), "n"),
        (dict(seed=0, ratio=0.5, n=3), "ratio"),
        (dict(seed=0), "ratio"),
        (dict(ratio=0.5), "seed"),
    ],
)
def test_split_bad_arguments(kwargs, field):
    with pytest.raises(ConfigError) as e:
        split_pairs(49, **kwargs)
    assert e.value.field == field
    msg = str(e.value)
    assert msg.startswith(f"{field}: ") and "\n" not in msg


@pytest.mark.parametrize("args, field", [((1,), "M"), ((97, 0), "d_max"), ((5, 10.0), "d_max")])
def test_critical_ratio_bad(args, field):
    with pytest.raises(ConfigError) as e:
        critical_ratio(*args)
    assert e.value.field == field and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- model


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_gather_equals_onehot(act):
    # float32; tolerance rtol 1e-5, atol 1e-6 (different summation order only).
    # One residual layer: covers the gather and the residual path.
    pairs, _, params = _data()
    a = Activation(act, a=0.7, b=1.3)
    np.testing.assert_allclose(_jforward(params, pairs, a), _jonehot(params, pairs, a), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act", ["x2", "quad"])
def test_gather_equals_onehot_complex(act):
    # complex64 weights, real output; tolerance rtol 1e-5, atol 1e-6
    pairs, _, params = _data(complex_weights=True)
    assert params.W.dtype == jnp.complex64
    out = _jforward(params, pairs, act)
    assert not jnp.iscomplexobj(out)
    np.testing.assert_allclose(out, _jonehot(params, pairs, act), rtol=1e-5, atol=1e-6)
    # real part of the complex product, checked in numpy
    Wn, Vn = np.asarray(params.W), np.asarray(params.V)
    F = jax.jit(hidden, static_argnums=2)(params, pairs, act)
    np.testing.assert_allclose(out, np.real(np.asarray(F) @ Vn), rtol=1e-5, atol=1e-6)
    assert Wn.shape == (2 * M0, K0)


def test_complex_weights_reject_relu():
    pairs, _, params = _data(complex_weights=True)
    with pytest.raises(ConfigError) as e:
        forward(params, pairs, "relu")
    assert e.value.field == "activation"


def test_unknown_activation():
    with pytest.raises(ConfigError) as e:
        Activation("sigmoid")
    assert e.value.field == "activation" and "x2" in str(e.value)


def test_init_shapes_and_bounds():
    M, K = M0, K0
    p = init_params(jax.random.key(0), M, K, v_scale=0.0, n_residual=1)
    assert p.W.shape == (2 * M, K) and p.V.shape == (K, M) and len(p.R) == 1 and p.R[0].shape == (K, K)
    assert np.max(np.abs(np.asarray(p.W))) <= 1 / math.sqrt(2 * M)
    assert np.max(np.abs(np.asarray(p.V))) == 0.0
    p2 = init_params(jax.random.key(0), M, K, v_scale=2.0, n_residual=1)
    assert 1.0 / math.sqrt(K) < np.max(np.abs(np.asarray(p2.V))) <= 2.0 / math.sqrt(K)


def test_ridge_normal_equations():
    # float64; normal equations hold to 1e-9 relative to ||Ftil^T Ytil||
    with jax.enable_x64(True):
        pairs, labels, params = _data(dtype=jnp.float64)
        eta = 0.3

        @jax.jit
        def compute(params):
            F = hidden(params, pairs, "relu")
            Y = one_hot_labels(labels, M0, dtype=jnp.float64)
            V = ridge_V(F, Y, eta)
            # it minimises the sample-centred loss + eta/2 ||V||^2: gradient vanishes
            g = jax.grad(lambda V_: mse_sample_centred(F @ V_, Y) + 0.5 * eta * jnp.sum(V_ * V_))(V)
            return F, Y, V, g

        F, Y, V, g = compute(params)
        Fn, Yn = np.asarray(F), np.asarray(Y)
        Ft, Yt = Fn - Fn.mean(0), Yn - Yn.mean(0)
        lhs = (Ft.T @ Ft + eta * np.eye(K0)) @ np.asarray(V)
        np.testing.assert_allclose(lhs, Ft.T @ Yt, atol=1e-9 * np.linalg.norm(Ft.T @ Yt))
        assert float(jnp.max(jnp.abs(g))) < 1e-10


# ----------------------------------------------------------------------------- losses


def _np_inputs(n=13, M=6, seed=0):
    rng = np.random.default_rng(seed)
    pred = rng.normal(size=(n, M))
    labels = rng.integers(0, M, size=n)
    Y = np.eye(M)[labels]
    return pred, labels, Y


def test_losses_match_numpy():
    # float32 jax vs float64 numpy: rtol 1e-5
    pred, labels, Y = _np_inputs()
    n = pred.shape[0]
    P1 = np.eye(n) - np.ones((n, n)) / n
    ref_mse = 0.5 * np.sum((P1 @ (Y - pred)) ** 2)
    c = lambda A: A - A.mean(axis=1, keepdims=True)
    ref_cls = np.mean(np.sum((c(Y) - c(pred)) ** 2, axis=1))
    z = pred - pred.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    ref_ce = -np.mean(logp[np.arange(n), labels])
    refs = {"mse": ref_mse, "mse_class": ref_cls, "ce": ref_ce}
    assert set(LOSSES) == set(refs)

    @jax.jit
    def compute(pred, Y, labels):
        return dict(
            mse=mse_sample_centred(pred, Y),
            mse_mean=mse_sample_centred(pred, Y, reduction="mean"),
            mse_class=mse_class_centred(pred, Y),
            ce_int=cross_entropy(pred, labels),
            # registry: uniform (pred, one-hot Y) signature
            registry={name: fn(pred, Y) for name, fn in LOSSES.items()},
        )

    out = compute(jnp.asarray(pred, jnp.float32), jnp.asarray(Y, jnp.float32), jnp.asarray(labels))
    assert float(out["mse"]) == pytest.approx(ref_mse, rel=1e-5)
    assert float(out["mse_mean"]) == pytest.approx(ref_mse / n, rel=1e-5)
    assert float(out["mse_class"]) == pytest.approx(ref_cls, rel=1e-5)
    assert float(out["ce_int"]) == pytest.approx(ref_ce, rel=1e-5)
    for name, val in out["registry"].items():
        assert float(val) == pytest.approx(refs[name], rel=1e-5)
    with pytest.raises(ConfigError):
        mse_sample_centred(jnp.asarray(pred), jnp.asarray(Y), reduction="avg")


def test_gf_is_minus_dJ_dF():
    # float64; G_F = -dJ/dF to 1e-10 (exact identity, only round-off)
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        n, K, M = 30, 8, 6
        F = jnp.asarray(rng.normal(size=(n, K)))
        V = jnp.asarray(rng.normal(size=(K, M)))
        Y = jnp.asarray(np.eye(M)[rng.integers(0, M, size=n)])

        @jax.jit
        def compute(F, Y, V):
            minus_grad = -jax.grad(lambda F_: mse_sample_centred(F_ @ V, Y))(F)
            return gf(F, Y, V), minus_grad, gf_norm_ratio(F, Y, V)

        G_F, minus_grad, (norm, ratio) = compute(F, Y, V)
        np.testing.assert_allclose(G_F, minus_grad, atol=1e-10, rtol=0)
        # ratio observable against numpy with explicit n x n matrices
        Fn, Yn, Vn = map(np.asarray, (F, Y, V))
        P1 = np.eye(n) - np.ones((n, n)) / n
        G = P1 @ (Yn - Fn @ Vn) @ Vn.T
        Yt, Ft = P1 @ Yn, P1 @ Fn
        assert float(norm) == pytest.approx(np.linalg.norm(G), rel=1e-10)
        assert float(ratio) == pytest.approx(np.linalg.norm(G) / np.linalg.norm(Yt @ Yt.T @ Ft), rel=1e-10)


# ----------------------------------------------------------------------------- observables


def test_diag_mass_and_sample_gram():
    # float64 exact identities: 1e-10
    with jax.enable_x64(True):
        rng = np.random.default_rng(2)
        F = rng.normal(size=(40, 5))
        P1 = np.eye(40) - 1.0 / 40
        A = P1 @ F @ F.T
        ref = np.sum(np.diag(A) ** 2) / np.sum(A**2)
        dm_A, dm_s, dm_n, dm_eye = jax.jit(
            lambda A, F: (diag_mass(A), diag_mass_sample_gram(F), diag_mass_node_gram(F), diag_mass(jnp.eye(4)))
        )(jnp.asarray(A), jnp.asarray(F))
        assert float(dm_A) == pytest.approx(ref, rel=1e-10)
        assert float(dm_s) == pytest.approx(ref, rel=1e-10)
        Ft = P1 @ F
        B = Ft.T @ Ft
        assert float(dm_n) == pytest.approx(
            np.sum(np.diag(B) ** 2) / np.sum(B**2), rel=1e-10
        )
        assert float(dm_eye) == 1.0


def test_ipr_gini_known_values():
    p = jnp.array([[1.0, 0, 0, 0], [1, 1, 1, 1], [3, 1, 0, 0]])
    ipr_p, gini_p = jax.jit(lambda p: (ipr(p), gini(p)))(p)
    np.testing.assert_allclose(ipr_p, [1.0, 0.25, 10 / 16], rtol=1e-6)
    # gini (normalised by L - 1): one-hot -> 1, uniform -> 0; [3,1,0,0]: the mean absolute
    # difference over twice the mean, times L / (L - 1)
    x = np.array([3.0, 1, 0, 0])
    L = len(x)
    g_ref = np.abs(x[:, None] - x[None, :]).sum() / (2 * L ** 2 * x.mean()) * L / (L - 1)
    np.testing.assert_allclose(gini_p, [1.0, 0.0, g_ref], rtol=1e-6, atol=1e-7)


def test_node_energy_matches_numpy():
    # float32 vs float64 numpy: rtol 1e-5
    M, K = M0, K0
    pairs, labels, params = _data(M=M, K=K)
    Y = np.eye(M)[labels]
    Yt = Y - Y.mean(0)
    n = len(pairs)
    W = np.asarray(params.W, np.float64)
    X = np.concatenate([np.eye(M)[pairs[:, 0]], np.eye(M)[pairs[:, 1]]], axis=1)
    for Wc in (W, W / np.linalg.norm(W, axis=0)):
        F = hidden(Params(jnp.asarray(Wc, jnp.float32), params.V), pairs, "x2")
        E = jax.jit(node_energy)(F, jnp.asarray(Yt, jnp.float32))
        # E = 1/2 ||Ytil^T sigma(X w) / n||^2 (normalised by the n^2 of the squared sum)
        ref = 0.5 * np.sum((Yt.T @ (X @ Wc) ** 2) ** 2, axis=0) / n ** 2
        np.testing.assert_allclose(E, ref, rtol=1e-5)


def test_restricted_and_excluded_loss():
    M, K = M0, K0
    pairs, labels, params = _data(M=M, K=K)
    proj_np = zm_projectors(M)
    np.testing.assert_allclose(proj_np.sum(0), np.eye(M), atol=1e-12)
    proj = jnp.asarray(proj_np, jnp.float32)
    # plant frequency 2 as the dominant one in V's rows
    j = np.arange(M)
    V = np.asarray(params.V) * 0.01 + np.outer(np.ones(K), np.cos(2 * np.pi * 2 * j / M))
    params = params._replace(V=jnp.asarray(V, jnp.float32))

    @jax.jit
    def compute(params):
        idx, Pkeep = key_irreps(params.V, proj, 1)
        logits = forward(params, pairs, "x2")
        full = cross_entropy(logits, labels)
        re_all = restricted_and_excluded_loss(params, pairs, labels, "x2", proj, k=proj.shape[0])
        re_1 = restricted_and_excluded_loss(params, pairs, labels, "x2", proj, k=1, loss=mse_class_centred)
        return idx, Pkeep, logits, full, re_all, re_1

    idx, Pkeep, logits, full, (r_all, e_all), (r1, e1) = compute(params)
    assert int(idx[0]) == 2
    # keeping every irrep reproduces the full loss; removing all non-trivial ones gives log M
    assert float(r_all) == pytest.approx(float(full), rel=1e-5)
    assert float(e_all) == pytest.approx(math.log(M), rel=1e-5)
    Y = np.eye(M)[labels]
    P = np.asarray(Pkeep, np.float64)
    L = np.asarray(logits, np.float64)
    c = lambda A: A - A.mean(1, keepdims=True)
    assert float(r1) == pytest.approx(np.mean(np.sum((c(Y) - c(L @ P)) ** 2, 1)), rel=1e-4)
    assert float(e1) == pytest.approx(np.mean(np.sum((c(Y) - c(L @ (np.eye(M) - P))) ** 2, 1)), rel=1e-4)


# ----------------------------------------------------------------------------- optimisers


def test_unknown_optimizer_and_bad_values():
    with pytest.raises(ConfigError) as e:
        make_optimizer("rmsprop", 1e-3, 0.0)
    assert e.value.field == "optimizer" and "sgd, adam, adamw, muon" in str(e.value) and "\n" not in str(e.value)
    for kw, field in ((dict(lr=-1.0), "lr"), (dict(lr=1e-3, weight_decay=-0.1), "weight_decay")):
        with pytest.raises(ConfigError) as e:
            make_optimizer("adam", **kw)
        assert e.value.field == field


def test_muon_update_is_orthogonalised_on_W_only():
    M, K, lr = M0, K0, 0.1  # W is (10, 12): optax scales by sqrt(max(1, 12/10))
    _, _, params = _data()
    grads = jax.tree.map(lambda x: jax.random.normal(jax.random.key(7), x.shape), params)

    def one_step(g, p, lr):  # lr is traced here
        opt = make_optimizer("muon", lr, 0.0)
        return opt.update(g, opt.init(p), p)[0]

    upd = jax.jit(one_step)(grads, params, jnp.float32(lr))
    shape_scale = math.sqrt(max(1.0, K / (2 * M)))
    U = -np.asarray(upd.W, np.float64) / (lr * shape_scale)
    sv = np.linalg.svd(U, compute_uv=False)
    # The quintic Newton-Schulz map acts on each singular value s of G/||G||_F as
    # p(s) = a s + b s^3 + c s^5 (5 times); it is an approximate orthogonaliser, so
    # singular values are only near 1: documented band [0.5, 1.5] ...
    assert np.all((sv > 0.5) & (sv < 1.5)), sv
    # ... and exactly (float32 round-off, rtol 1e-3) the scalar iteration on G's
    # normalised singular values (step-1 Nesterov momentum is a multiple of G).
    g = np.asarray(grads.W, np.float64)
    s = np.linalg.svd(g, compute_uv=False) / np.linalg.norm(g)
    for _ in range(5):
        s = 3.4445 * s - 4.7750 * s**3 + 2.0315 * s**5
    np.testing.assert_allclose(np.sort(sv), np.sort(s), rtol=1e-3)
    # V and R go through AdamW: first Nesterov-Adam step is (1 + b1(1-b1)/(1-b1^2)) sign(g)
    c = 1 + 0.9 * 0.1 / (1 - 0.81)
    for u, gg in ((upd.V, grads.V), (upd.R[0], grads.R[0])):
        np.testing.assert_allclose(-np.asarray(u) / lr, c * np.sign(np.asarray(gg)), rtol=1e-4)


def test_adam_coupled_l2_vs_adamw_against_numpy():
    # float32 vs float64 numpy: rtol 1e-5; two steps on a fixed gradient
    p0 = np.array([1.0, -2.0, 0.5])
    g = np.array([0.3, 0.1, -0.2])
    lr, wd, b1, b2, eps = 0.1, 0.5, 0.9, 0.999, 1e-8

    def np_adam(coupled: bool):
        p, m, v = p0.copy(), np.zeros(3), np.zeros(3)
        for t in (1, 2):
            gt = g + wd * p if coupled else g
            m = b1 * m + (1 - b1) * gt
            v = b2 * v + (1 - b2) * gt**2
            step = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
            p = p - lr * (step if coupled else step + wd * p)
        return p

    def jax_run(name):
        opt = make_optimizer(name, lr, wd)

        @jax.jit
        def run(p, g):
            s = opt.init(p)
            for _ in range(2):
                u, s = opt.update(g, s, p)
                p = p + u
            return p

        return np.asarray(run(jnp.asarray(p0, jnp.float32), jnp.asarray(g, jnp.float32)))

    adam, adamw = jax_run("adam"), jax_run("adamw")
    np.testing.assert_allclose(adam, np_adam(True), rtol=1e-5)
    np.testing.assert_allclose(adamw, np_adam(False), rtol=1e-5)
    assert np.max(np.abs(adam - adamw)) > 1e-2


def test_sgd_coupled_l2_momentum():
    p0, g, lr, wd, mom = np.array([1.0, -1.0]), np.array([0.2, 0.4]), 0.1, 0.3, 0.9
    p, buf = p0.copy(), np.zeros(2)
    for _ in range(2):
        buf = mom * buf + (g + wd * p)
        p = p - lr * buf
    opt = make_optimizer("sgd", lr, wd, momentum=mom)

    @jax.jit
    def run(q, g):
        s = opt.init(q)
        for _ in range(2):
            u, s = opt.update(g, s, q)
            q = q + u
        return q

    q = run(jnp.asarray(p0, jnp.float32), jnp.asarray(g, jnp.float32))
    np.testing.assert_allclose(q, p, rtol=1e-6)


def _train(params, pairs, Y, lr, name="adam", wd=0.01, steps=3):
    # full-batch train steps with a traced learning rate, as a lax.scan
    opt = make_optimizer(name, lr, wd)
    loss = lambda p: LOSSES["mse"](forward(p, pairs, "x2"), Y)

    def step(carry, _):
        params, state = carry
        l, g = jax.value_and_grad(loss)(params)
        u, state = opt.update(g, state, params)
        return (jax.tree.map(lambda a, b: a + b, params, u), state), l

    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    return params, losses


@pytest.mark.parametrize("name", ["adam"])
def test_vmap_over_learning_rates(name):
    # float32: vmapped vs separate runs agree to 1e-6 (atol, and rtol 1e-6)
    M, K = M0, K0
    pairs, labels, params = _data(M=M, K=K)
    Y = one_hot_labels(labels, M)
    lrs = jnp.array([1e-3, 3e-3, 1e-2], jnp.float32)
    run = jax.jit(lambda lr: _train(params, pairs, Y, lr, name))
    batched = jax.jit(jax.vmap(lambda lr: _train(params, pairs, Y, lr, name)))(lrs)
    for i in range(3):
        single = run(lrs[i])
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched)):
            np.testing.assert_allclose(b[i], a, rtol=1e-6, atol=1e-6)
    # the three runs really differ
    assert float(jnp.max(jnp.abs(batched[0].W[0] - batched[0].W[2]))) > 1e-4


def test_inject_hyperparams_state_holds_values():
    _, _, params = _data()
    opt = make_optimizer("adam", 1e-3, 0.1, inject=True)
    state = opt.init(params)
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(1e-3)
    assert float(state.hyperparams["weight_decay"]) == pytest.approx(0.1)


def test_conjugate_grads_descends_complex_loss():
    M = M0
    pairs, labels, params = _data(M=M, complex_weights=True)
    Y = one_hot_labels(labels, M)
    loss = lambda p: mse_sample_centred(forward(p, pairs, "x2"), Y)
    step = lambda gg: jax.tree.map(lambda a, b: a - 1e-3 * b, params, gg)

    @jax.jit
    def compute(params):
        g = jax.grad(loss)(params)
        return g, conjugate_grads(g), loss(params), loss(step(conjugate_grads(g)))

    g, gc, l0, l1 = compute(params)
    assert float(l1) < float(l0)
    np.testing.assert_array_equal(np.asarray(gc.W), np.conj(np.asarray(g.W)))
    assert isinstance(params, Params)
