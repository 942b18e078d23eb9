"""The rank-one closed-loop theory (learndyn.closedloop.theory): reduction, stage-1 and stage-2
formulas, exact expected loss, and the exact Gram flow of gradient descent.

float64 (jax.enable_x64) is used where a test claims exactness "to float precision": there the
tolerances are a few hundred float64 ulps. float32 checks carry their own, looser tolerances.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.closedloop.theory import expected_loss as E
from learndyn.closedloop.theory import gram_flow as GF
from learndyn.closedloop.theory import overlaps as O
from learndyn.closedloop.theory import rankone as R
from learndyn.closedloop.theory import stage1 as S1
from learndyn.closedloop.theory import surrogate as SG
from learndyn.errors import ConfigError

N = 100


_init = jax.jit(R.init_rank_one, static_argnums=(1, 2))


def _model(seed, dtype=jnp.float32):
    return _init(jax.random.PRNGKey(seed), N, dtype)


def test_init_rejects_bad_n():
    with pytest.raises(ConfigError, match="^n: "):
        R.init_rank_one(jax.random.PRNGKey(0), 1)


def test_full_matrix_is_the_agent_and_plant_equations():
    # Eq. (1) stepped by hand (agent reads the new position, u_t = z.h_t) against P of eq. (2).
    p = _model(0)
    x0 = R.sample_x0(jax.random.PRNGKey(1), 8)
    T, beta = 20, 0.5
    A, B, C = R.plant_matrices()

    @jax.jit
    def by_hand(p, x):
        def step(carry, _):
            x, h, state, control = carry
            u = h @ p.z
            state = state + jnp.mean(x ** 2) / T
            control = control + jnp.mean(u ** 2)
            x = x @ A.T + u[:, None] * B[None, :]
            h = (h @ p.v)[:, None] * p.u[None, :] + (x @ C)[:, None] * p.m[None, :]
            return (x, h, state, control), None
        zero = jnp.zeros(())
        (_, _, state, control), _ = jax.lax.scan(step, (x, jnp.zeros((8, N)), zero, zero),
                                                 None, length=T)
        return state + beta * control

    # float32 sums over 20 steps of O(10) terms: rtol 1e-5 (~100 ulps).
    np.testing.assert_allclose(R.theory_loss(p, x0, T, beta), by_hand(p, x0), rtol=1e-5)


def test_reduction_exact():
    # Roots of the cubic (eq. 6) == the three nonzero eigenvalues of the full P (eq. 2).
    red_err = jax.jit(O.reduction_error)
    top4 = jax.jit(lambda p: O.top_eigs(R.full_matrix(p), 4))
    with jax.enable_x64(True):
        for seed in range(3):
            p = _model(seed, jnp.float64)
            err = float(red_err(p))
            # float64 eig of a 102x102 matrix: backward error ~ N eps ||P|| ~ 1e-13; measured 1e-14.
            assert err < 1e-12, err
            ev = top4(p)
            assert abs(ev[3]) < 1e-12          # the rest of the spectrum is 0
        # The test can fail: the cubic with s_zm and s_vu swapped has other roots. (Swapping
        # s_zu and s_vm would not: only their product enters eq. 6.)
        s = O.overlaps(p)
        wrong = O.cubic_roots(s[jnp.array([3, 1, 2, 0])])
        assert float(O.match_error(wrong, top4(p)[:3])) > 1e-3
    # float32: the same check at eig's float32 accuracy (N eps ||P|| ~ 3e-5; measured 7e-6).
    for seed in range(2):
        assert float(red_err(_model(seed))) < 5e-5


def test_factorisation_matches_full_polynomial():
    with jax.enable_x64(True):
        # Faddeev-LeVerrier itself against numpy's polynomial of a random matrix (1e-12: float64).
        M = jax.random.normal(jax.random.PRNGKey(0), (4, 4), jnp.float64)
        np.testing.assert_allclose(O.charpoly(M), np.poly(np.asarray(M)), atol=1e-12)
        # charpoly(P_eff) == lambda * [(l^2 - 2l + 1 - zm)(l - vu) - vm zu] over random overlaps
        # far outside the trained range (|s| up to 2): exact polynomial identity, 1e-13 absolute.
        ss = jax.random.uniform(jax.random.PRNGKey(1), (50, 4), jnp.float64, -2, 2)
        errs, coeffs = jax.jit(lambda x: (jax.vmap(O.factorisation_error)(x),
                                          jax.vmap(O.cubic_coeffs)(x)))(ss)
        assert float(jnp.max(errs)) < 1e-13
        # and the expanded cubic of the module docstring (the authors' coefficients)
        zm, zu, vm, vu = np.asarray(ss).T
        expanded = np.stack([np.ones_like(zm), -vu - 2, 2 * vu - zm + 1,
                             vu * zm - vu - vm * zu], axis=1)
        np.testing.assert_allclose(coeffs, expanded, atol=1e-14)


def test_reduced_losses_equal_full_losses():
    p = _model(2)
    x0 = R.sample_x0(jax.random.PRNGKey(3), 64)

    @jax.jit
    def both(p, x0):
        s = O.overlaps(p)
        return (R.theory_loss(p, x0, 50, 0.5),
                R.loop_loss(O.p_eff(s), O.eff_readout(s), x0, 50, 0.5),
                E.expected_loss(p, 50, 0.5), E.expected_loss_eff(s, 50, 0.5))
    full, red, e_full, e_red = both(p, x0)
    # float32, 50 steps: rtol 1e-5 (measured 1e-6)
    np.testing.assert_allclose(full, red, rtol=1e-5)
    np.testing.assert_allclose(e_full, e_red, rtol=1e-5)


S1_PURE = jnp.concatenate([jnp.linspace(-0.5, -0.001, 12), jnp.linspace(0.001, 0.3, 12)])
S1_BAND = jnp.concatenate([jnp.linspace(-0.5, -0.05, 10), jnp.linspace(0.05, 0.3, 6),
                           jnp.array([-0.005])])


@pytest.fixture(scope="module")
def stage1_runs():
    """Rollout losses 1/2 sum_{t<50} |x_t|^2 from the authors' stage-1 start x_0 = (1, -1),
    h_0 = 0, of models built with z.m = s_zm: pure (u = v = 0) on S1_PURE and the authors'
    build (u, v random) on S1_BAND. One jit for all."""
    grid = jnp.concatenate([S1_PURE, S1_BAND])
    keys = jax.random.split(jax.random.PRNGKey(11), grid.shape[0])
    pure = jnp.arange(grid.shape[0]) < S1_PURE.shape[0]
    x0 = jnp.array([[1.0, -1.0]])

    @jax.jit
    def run(keys, grid, pure):
        def one(k, s, is_pure):
            p = R.init_with_szm(k, N, s)
            keep = jnp.where(is_pure, 0.0, 1.0)
            p = p._replace(u=keep * p.u, v=keep * p.v)
            ss = R.rollout(R.full_matrix(p), x0, 50)
            return p.z @ p.m, 0.5 * jnp.sum(ss[:, 0, :2] ** 2)
        return jax.vmap(one)(keys, grid, pure)
    zm, loss = run(keys, grid, pure)
    n = S1_PURE.shape[0]
    return {"pure_zm": zm[:n], "pure": loss[:n], "band": loss[n:]}


def test_stage1_exact_form_equals_rollout(stage1_runs):
    # init_with_szm sets z.m exactly (float32 rounding only)
    np.testing.assert_allclose(stage1_runs["pure_zm"], S1_PURE, rtol=1e-5)
    exact = jax.vmap(lambda s: S1.stage1_loss_exact(s, jnp.array([1.0, -1.0]), 50))(S1_PURE)
    # float32 50-step products with growth up to |lambda|^100 ~ 1e18: rtol 1e-4 (measured 6e-6).
    np.testing.assert_allclose(exact, stage1_runs["pure"], rtol=1e-4)


def test_stage1_paper_formula_band(stage1_runs):
    # Eq. (9) is an order-of-magnitude formula (see stage1.py). On the authors' built models
    # (u, v random, as in their figure) over |s_zm| >= 0.05 in [-0.5, 0.3], T = 50, it stays
    # within 3.5 nats of the rollout (measured max 2.9) while log L itself spans > 30 nats.
    sim = np.log(np.asarray(stage1_runs["band"]))
    paper = np.log(np.asarray(jax.vmap(lambda s: S1.stage1_loss_paper(s, 50))(S1_BAND)))
    assert np.max(np.abs(paper - sim)[:-1]) < 3.5
    assert sim[:-1].max() - sim[:-1].min() > 30
    # the asymmetry that drives s_zm negative: steep for s_zm > 0, gentle for s_zm < 0
    lp = np.log(np.asarray(S1.stage1_loss_paper(jnp.array([-0.1, 0.1]), 50)))
    assert lp[1] - lp[0] > 15
    # Near s_zm = 0 the double root (Jordan growth ~ t^2) is missed: > 4 nats at s_zm = -0.005.
    assert sim[-1] - paper[-1] > 4


def test_expected_loss_equals_monte_carlo():
    p = _model(0)
    beta, T, n = 0.5, 50, 20000
    x0 = R.sample_x0(jax.random.PRNGKey(7), n)
    ls = jax.jit(lambda x: R.per_sample_loss(R.full_matrix(p), R.full_readout(p), x, T, beta))(x0)
    mc, se = float(jnp.mean(ls)), float(jnp.std(ls)) / np.sqrt(n)
    exact = float(E.expected_loss(p, T, beta))
    assert abs(mc - exact) < 3 * se, (mc, exact, se)
    # The check can fail: a wrong start covariance (variance a^2/4 instead of a^2/3) is rejected.
    wrong = float(E.expected_loss(p, T, beta, a=2.0 * (3 / 4) ** 0.5))
    assert abs(mc - wrong) > 10 * se


def test_gram_flow_equals_full_gd_float64():
    T, beta, steps = 50, 0.5, 50
    with jax.enable_x64(True):
        p = _model(3, jnp.float64)
        full_h, full_l = jax.jit(lambda q: GF.full_gd(
            q, lambda r, _: E.expected_loss(r, T, beta), steps))(p)
        gram_h, gram_l = jax.jit(lambda G: GF.gram_gd(
            G, lambda s, _: E.expected_loss_eff(s, T, beta), steps))(GF.gram_of(p))
        G_full = GF.history_gram(full_h)
        # |G| ~ 1, 50 steps: 1e-12 absolute is ~5000 float64 ulps (measured 2e-15).
        assert float(jnp.max(jnp.abs(gram_h - G_full))) < 1e-12
        np.testing.assert_allclose(gram_l, full_l, rtol=1e-12)
        # the flow actually moved (clipped steps): the overlaps changed by more than 0.02
        s_full = GF.history_overlaps(full_h)
        assert float(jnp.max(jnp.abs(s_full[-1] - s_full[0]))) > 0.02
        # every vector stays in span{m, u0, v0, z0}: projection residual at float64 precision
        X0 = jnp.stack([p.m, p.u, p.v, p.z], axis=1)
        Q, _ = jnp.linalg.qr(X0)
        for w in (full_h.z[-1], full_h.u[-1], full_h.v[-1]):
            assert float(jnp.linalg.norm(w - Q @ (Q.T @ w))) < 1e-13
        # the paper's free-overlap model from the same start does not follow it
        free_s, _ = jax.jit(lambda s: GF.free_overlap_gd(
            s, lambda q, _: E.expected_loss_eff(q, T, beta), steps))(O.overlaps(p))
        assert float(jnp.max(jnp.abs(free_s - s_full))) > 0.01       # measured 0.048


def test_gram_flow_equals_full_sgd_on_sampled_batches():
    # The closure needs only L = F(s), so it also holds for SGD on sampled batches (the same
    # batches for both): float64, 20 steps, batch 16; 1e-12 as above (measured 2e-15).
    with jax.enable_x64(True):
        p = _model(6, jnp.float64)
        xs = jax.random.uniform(jax.random.PRNGKey(9), (20, 16, 2), jnp.float64, -2, 2)

        @jax.jit
        def both(p, xs):
            full_h, _ = GF.full_gd(p, lambda r, x: R.theory_loss(r, x, 50, 0.5), 20, data=xs)
            gram_h, _ = GF.gram_gd(GF.gram_of(p), lambda s, x: R.loop_loss(
                O.p_eff(s), O.eff_readout(s), x, 50, 0.5), 20, data=xs)
            return jnp.max(jnp.abs(gram_h - GF.history_gram(full_h)))
        assert float(both(p, xs)) < 1e-12


def test_gram_flow_float32():
    # The same comparison in float32: 1e-5 absolute on G (~100 ulps at |G| ~ 1; measured 7e-7).
    @jax.jit
    def both(p):
        full_h, _ = GF.full_gd(p, lambda r, _: E.expected_loss(r, 50, 0.0), 50)
        gram_h, _ = GF.gram_gd(GF.gram_of(p), lambda s, _: E.expected_loss_eff(s, 50, 0.0), 50)
        return jnp.max(jnp.abs(gram_h - GF.history_gram(full_h)))
    assert float(both(_model(4))) < 1e-5


def test_overlap_metric_is_the_first_order_flow():
    # Eq. (17): (s' - s) / eta -> -M(G) grad F as eta -> 0 (no clipping).
    with jax.enable_x64(True):
        p = _model(5, jnp.float64)
        F = lambda s, _: E.expected_loss_eff(s, 50, 0.0)
        G = GF.gram_of(p)

        @jax.jit
        def finite_step(G):
            g = jax.grad(F)(GF.overlaps_from_gram(G), None)
            eta = 1e-9 / jnp.linalg.norm(g)              # a step of 1e-9 in parameter norm
            G1, _ = GF.gram_step(G, F, None, eta, None)
            ds = (GF.overlaps_from_gram(G1) - GF.overlaps_from_gram(G)) / eta
            return ds, -GF.overlap_metric(G) @ g
        ds, pred = finite_step(G)
        # second-order terms are O(eta |g|^2) = 1e-9 |g| relative; float64 differences of
        # O(0.1) numbers over a 1e-9 step lose ~1e-8 relative: rtol 1e-6.
        np.testing.assert_allclose(ds, pred, rtol=1e-6)
        # and M is far from the free model's identity (|m|^2 ~ 1/3, |u|^2 + |v|^2 ~ 2)
        Mg = GF.overlap_metric(G)
        assert Mg[0, 0] < 0.5 and Mg[3, 3] > 1.5


@pytest.fixture(scope="module")
def stage2_run():
    """Noise-free GD (Gram flow on the expected loss, beta 0, T 50, lr 0.01, clip 1) from one
    init, float64, 250 steps: overlaps (251, 4) and the stabilisation step."""
    with jax.enable_x64(True):
        p = _model(0, jnp.float64)

        @jax.jit
        def run(G):
            hist, _ = GF.gram_gd(G, lambda s, _: E.expected_loss_eff(s, 50, 0.0), 250)
            ss = jax.vmap(GF.overlaps_from_gram)(hist)
            return ss, jnp.max(jnp.abs(jax.vmap(O.cubic_roots)(ss)), axis=1)
        ss, rho = run(GF.gram_of(p))
    stable = np.asarray(rho) < 1
    stab = next(i for i in range(len(stable)) if stable[i:].all())
    return np.asarray(ss), stab


def test_stage2_formulas(stage2_run):
    ss, stab = stage2_run
    assert 20 < stab < 250                              # measured 181
    with jax.enable_x64(True):
        @jax.jit
        def measure(w):
            l1, l3 = jax.vmap(SG.split_roots)(w)
            l3a = jax.vmap(SG.lambda3_approx)(w)
            return (l1, l3, l3a, jax.vmap(SG.lambda1_sq)(w, l3), jax.vmap(SG.lambda1_sq)(w, l3a),
                    jax.vmap(lambda s: SG.gradient_cosine(s, 10))(w))
        l1, l3, l3a, vieta, approx, cos = measure(jnp.asarray(ss[10:stab]))  # stage 2
        assert float(jnp.min(jnp.abs(jnp.imag(l1)))) > 1e-3      # a complex pair throughout
        # Vieta (eq. 11) with the exact real root: exact (1e-12 ~ float64 root accuracy)
        np.testing.assert_allclose(vieta, jnp.abs(l1) ** 2, atol=1e-12)
        # eq. (10) approximation: measured max errors 1.2e-3 (lambda_3), 2.3e-3 (|lambda_1|^2)
        assert float(jnp.max(jnp.abs(l3a - l3))) < 3e-3
        assert float(jnp.max(jnp.abs(approx - jnp.abs(l1) ** 2))) < 5e-3
        # the zig-zag: grad L_inf and grad L_0 nearly opposite (measured cos in [-0.998, -0.927])
        assert float(jnp.max(cos)) < -0.9


def test_loss0_matrix_power_equals_expansion():
    with jax.enable_x64(True):
        ss = jax.random.uniform(jax.random.PRNGKey(2), (40, 4), jnp.float64, -1, 1)
        both = jax.jit(lambda x: (jax.vmap(SG.loss0)(x), jax.vmap(SG.loss0_expanded)(x)))(ss)
        np.testing.assert_allclose(*both, rtol=1e-12)


def test_surrogate_alpha_paths():
    # SGD on L_alpha with the published settings (T_h 10, lr 1e-3, clip 1, 240 steps) from the
    # overlaps after 10 noise-free GD steps of one float32 init (dominant pair 0.9998 + 0.161i,
    # near the authors' epoch-10 0.9997 + 0.164i). The outcome depends on the start: over six
    # inits alpha = 0 never entered the disk, alpha = 0.55 entered in five, alpha = 1 in three.
    @jax.jit
    def paths(G):
        hist, _ = GF.gram_gd(G, lambda s, _: E.expected_loss_eff(s, 50, 0.0), 10)
        s10 = GF.overlaps_from_gram(hist[-1])
        rho = jax.vmap(lambda s: jnp.max(jnp.abs(O.cubic_roots(s))))
        return [rho(SG.optimise_surrogate(s10, a, 10, 1e-3, 240)) for a in (0.0, 0.55, 1.0)]
    r0, r55, r1 = (np.asarray(r) for r in paths(GF.gram_of(_model(0))))
    assert r0.min() > 1.0                        # myopic: never enters the unit disk
    assert r55[-1] < 1.0                         # intermediate alpha: enters and stays
    # alpha = 1 enters early, then leaves through the real axis (s_zm crosses 0, the pair turns
    # real and c + b lambda_3 + lambda_3^2 is no longer |lambda_1|^2): a limit of eq. (11).
    assert r1.min() < 1.0 and r1[-1] > 1.2
