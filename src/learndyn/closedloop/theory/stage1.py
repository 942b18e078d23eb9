"""Stage 1: the loss of a pure position policy (W ~ 0), as a function of s_zm.

When s_vm s_zu = 0 the memory mode does not reach the plant and eq. (1) reduces to
u_0 = 0, u_t = s_zm p_t (t >= 1): position feedback with gain s_zm. Then x_1 = A x_0 and
    x_{t+1} = M x_t (t >= 1),  M = [[1, 1], [s_zm, 1]] = I + N,  N = [[0, 1], [s_zm, 0]],     (7)
with eigenvalues 1 +- sqrt(s_zm) (the stage-1 roots). Because N^2 = s_zm I,
    M^j = a_j I + b_j N,  a_j = ((1 + q)^j + (1 - q)^j) / 2,  b_j = ((1 + q)^j - (1 - q)^j) / (2 q),
q = sqrt(s_zm) (imaginary for s_zm < 0; b_j -> j as s_zm -> 0, the Jordan block's linear growth).
The exact loss (authors' normalisation, 1/2 per squared state):                           (8)
    L_exact = 1/2 sum_{t < T} |x_t|^2 = 1/2 |x_0|^2 + 1/2 sum_{j=0}^{T-2} |a_j x_1 + b_j N x_1|^2.
The paper's approximation keeps only the growth factor r = |1 + q|^2 of the dominant mode:  (9)
    L(s_zm) = 1/2 sum_{t=0}^{T} r^t = 1/2 (1 - r^{T+1}) / (1 - r),
dropping the projection of x_0 on the eigenvectors and the Jordan growth near s_zm = 0. It is an
order-of-magnitude formula: across s_zm in [-0.5, 0.3] log L spans ~7 to ~42 at T = 50 and the
formula is within a factor e^2.2 of eq. (8) (tests/test_rankone.py measures it). Note that eq. (9)
has T + 1 terms against the T states of a T-step rollout, as in the authors' code.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from learndyn.closedloop.theory.rankone import plant_matrices


def growth_factor(s_zm: jax.Array) -> jax.Array:
    """r = |1 + sqrt(s_zm)|^2: (1 + sqrt s)^2 for s >= 0, 1 - s for s < 0 (real arithmetic)."""
    pos = (1 + jnp.sqrt(jnp.maximum(s_zm, 0))) ** 2
    return jnp.where(s_zm >= 0, pos, 1 - s_zm)


def stage1_loss_paper(s_zm: jax.Array, horizon: int) -> jax.Array:
    """Eq. (9): 1/2 (1 - r^{T+1}) / (1 - r), with its limit (T + 1)/2 at r = 1."""
    r = growth_factor(s_zm)
    near_one = jnp.abs(r - 1) < 1e-12
    safe = jnp.where(near_one, 2.0 * jnp.ones_like(r), r)
    geo = 0.5 * (1 - safe ** (horizon + 1)) / (1 - safe)
    return jnp.where(near_one, 0.5 * (horizon + 1) * jnp.ones_like(r), geo)


def power_coeffs(s_zm: jax.Array, j: jax.Array):
    """(a_j, b_j) of eq. (7) for integer powers j (K,): real arrays (K,)."""
    s_zm = jnp.asarray(s_zm)
    cdt = jnp.complex128 if s_zm.dtype == jnp.float64 else jnp.complex64
    q = jnp.sqrt(s_zm.astype(cdt))
    jf = j.astype(cdt)
    plus, minus = (1 + q) ** jf, (1 - q) ** jf
    small = jnp.abs(q) < 1e-6
    safe_q = jnp.where(small, jnp.ones_like(q), q)
    b = jnp.where(small, jf, (plus - minus) / (2 * safe_q))
    return jnp.real((plus + minus) / 2), jnp.real(b)


def stage1_trajectory(s_zm: jax.Array, x0: jax.Array, horizon: int) -> jax.Array:
    """x_t (T, 2) for t = 0 .. T-1 of the pure position policy from x0 (2,), eq. (7)."""
    A, _, _ = plant_matrices(x0.dtype)
    x1 = A @ x0
    nx1 = jnp.stack([x1[1], s_zm * x1[0]])
    a, b = power_coeffs(s_zm, jnp.arange(horizon - 1))
    xs = a[:, None] * x1[None, :] + b[:, None] * nx1[None, :]
    return jnp.concatenate([x0[None], xs.astype(x0.dtype)])


def stage1_loss_exact(s_zm: jax.Array, x0: jax.Array, horizon: int) -> jax.Array:
    """Eq. (8): 1/2 sum_{t < T} |x_t|^2 of the pure position policy from x0 (2,)."""
    return 0.5 * jnp.sum(stage1_trajectory(s_zm, x0, horizon) ** 2)
