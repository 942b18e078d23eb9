"""The exact expected loss of a linear loop over random starts (no sampling).

For the loop (P, c) of rankone.py, s_t = P^t s_0 with s_0 = (x_0, 0) and x_0 ~ U(-a, a)^2
(independent components, mean 0, variance a^2 / 3), so E[s_0 s_0^T] = Sigma_0 with
    Sigma_0 = (a^2 / 3) diag(1, 1, 0, ..., 0).                                            (13)
Eq. (3) is a quadratic form in s_t, so its expectation is a sum of traces:                (14)
    E[L] = sum_{t < T} tr(P^t Sigma_0 (P^t)^T Q),
    Q = (1 / (2 T)) diag(1, 1, 0, ..., 0) + beta c c^T,
(the state term is the mean over T steps and the 2 plant dimensions; the control term is the
time sum of u_t^2 = (c . s_t)^2 weighted by beta). Since Sigma_0 = G_0 G_0^T with
G_0 = (a / sqrt 3) [e_1, e_2] (D, 2), each term is ||Q^{1/2} P^t G_0||_F^2: it is computed by
pushing the two columns G_t = P^t G_0 forward (D x 2 per step, no D x D covariance).
E[L] is the noise-free limit of the batch loss; gradient descent on it is the noise-free flow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from learndyn.closedloop.theory.overlaps import eff_readout, p_eff
from learndyn.closedloop.theory.rankone import RankOne, full_matrix, full_readout


def x0_variance(a: float) -> float:
    """Variance a^2 / 3 of each component of x_0 ~ U(-a, a)."""
    return a * a / 3.0


def expected_loop_loss(P: jax.Array, c: jax.Array, horizon: int, beta: float = 0.0,
                       a: float = 2.0) -> jax.Array:
    """Eq. (14) for the loop (P (D, D), c (D,)): a scalar."""
    D = P.shape[0]
    G0 = jnp.zeros((D, 2), P.dtype).at[0, 0].set(1).at[1, 1].set(1) * x0_variance(a) ** 0.5

    def body(G, _):
        state = jnp.sum(G[:2] ** 2) / (2 * horizon)
        control = jnp.sum((c @ G) ** 2)
        return P @ G, state + beta * control
    _, terms = jax.lax.scan(body, G0, None, length=horizon)
    return jnp.sum(terms)


def expected_loss(p: RankOne, horizon: int = 50, beta: float = 0.0, a: float = 2.0) -> jax.Array:
    """Eq. (14) for the full (N+2)-dimensional model (no use of the reduction)."""
    return expected_loop_loss(full_matrix(p), full_readout(p), horizon, beta, a)


def expected_loss_eff(s: jax.Array, horizon: int = 50, beta: float = 0.0,
                      a: float = 2.0) -> jax.Array:
    """Eq. (14) for the reduced model (P_eff(s), (0, 0, s_zm, s_zu)); equal to expected_loss of
    any model with overlaps s, because the reduction of eq. (5) is exact."""
    return expected_loop_loss(p_eff(s), eff_readout(s), horizon, beta, a)
