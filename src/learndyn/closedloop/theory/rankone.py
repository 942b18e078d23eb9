"""The rank-one linear closed loop of Ger & Barak 2025 (the "theory model" of Figs. 3-5).

Plant: the double integrator with dt = 1 (authors' ``k_integrator_torch(k=2, dt=1)``),
    x = (position, velocity),  x_{t+1} = A x_t + B u_t,  A = [[1, 1], [0, 1]],  B = [0, 1]^T,
    y = C x,  C = [1, 0]  (only position is observed).
Agent: linear, W = u v^T (rank one, no random bulk), input vector m frozen, readout z:
    u_t = z . h_t,   h_{t+1} = u (v . h_t) + m y_{t+1},   h_0 = 0,                      (1)
and since C B = 0, y_{t+1} = C A x_t = x_t[0] + x_t[1] (the agent reads the new position).
Joint state s = (x, h) in R^{N+2}, s_{t+1} = P s_t with                                   (2)
    P = [[A, B z^T], [m C A, u v^T + m C B z^T]] = [[1, 1, 0], [0, 1, z^T], [m, m, u v^T]].
Init (authors' ``P_Model``): m, z ~ U(+-1/sqrt N), u, v ~ N(0, 1/N); (z, u, v) trained.

Loss (authors' ``loss_function``), for a batch of starts x_0 (B, 2) and T steps:           (3)
    L = mean_{t < T, i in {1,2}, b} x_{t,i,b}^2 + beta * mean_b sum_{t < T} u_{t,b}^2,
x_0 ~ U(-2, 2)^2, h_0 = 0 (so u_0 = 0 and x_0 itself is in the sum). The authors train with
beta = 0 (Figs. 3-4) and beta in {0, 0.5, 2, 5} in stage 3 (Fig. 5).

Everything here works for any linear loop given as (P, c): P (D, D) with the plant's (position,
velocity) in coordinates 0 and 1, and c (D,) the readout row (u_t = c . s_t). The full model is
(P, (0, 0, z)); the reduced model of overlaps.py is (P_eff, (0, 0, s_zm, s_zu)).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from learndyn.errors import ConfigError


class RankOne(NamedTuple):
    """The four vectors of the rank-one agent, each (N,)."""
    m: jax.Array   # input vector (frozen)
    z: jax.Array   # readout
    u: jax.Array   # left recurrent vector, W = u v^T
    v: jax.Array   # right recurrent vector


def init_rank_one(key: jax.Array, n: int, dtype=jnp.float32) -> RankOne:
    """m, z ~ U(+-1/sqrt n); u, v ~ N(0, 1/n) (authors' P_Model, g = 0, rank 1)."""
    if not isinstance(n, int) or n < 2:
        raise ConfigError("n", f"must be an integer >= 2, got {n!r}")
    km, kz, ku, kv = jax.random.split(key, 4)
    b = 1.0 / n ** 0.5
    return RankOne(m=jax.random.uniform(km, (n,), dtype, -b, b),
                   z=jax.random.uniform(kz, (n,), dtype, -b, b),
                   u=b * jax.random.normal(ku, (n,), dtype),
                   v=b * jax.random.normal(kv, (n,), dtype))


def init_with_szm(key: jax.Array, n: int, s_zm: float, perp: float = 0.1,
                  dtype=jnp.float32) -> RankOne:
    """As init_rank_one but with z.m = s_zm exactly (authors' ``P_Model(over=s_zm)``):
    z = (s_zm / |m|^2) m + z_perp, z_perp orthogonal to m with |z_perp| = perp |z_par|."""
    p = init_rank_one(key, n, dtype)
    mm = p.m @ p.m
    z_par = (s_zm / mm) * p.m
    r = p.z - (p.z @ p.m / mm) * p.m
    z_perp = r / jnp.linalg.norm(r) * (perp * jnp.linalg.norm(z_par))
    return p._replace(z=z_par + z_perp)


def plant_matrices(dtype=jnp.float32):
    """A (2, 2), B (2,), C (2,) of the dt = 1 double integrator (B, C as vectors)."""
    A = jnp.array([[1, 1], [0, 1]], dtype)
    B = jnp.array([0, 1], dtype)
    C = jnp.array([1, 0], dtype)
    return A, B, C


def full_matrix(p: RankOne) -> jax.Array:
    """P (N+2, N+2) of eq. (2)."""
    n, dt = p.m.shape[0], p.m.dtype
    A, B, C = plant_matrices(dt)
    top = jnp.concatenate([A, jnp.outer(B, p.z)], axis=1)                       # (2, N+2)
    bottom = jnp.concatenate([jnp.outer(p.m, C @ A),
                              jnp.outer(p.u, p.v) + (C @ B) * jnp.outer(p.m, p.z)], axis=1)
    return jnp.concatenate([top, bottom], axis=0)


def full_readout(p: RankOne) -> jax.Array:
    """c (N+2,) with u_t = c . s_t: (0, 0, z)."""
    return jnp.concatenate([jnp.zeros((2,), p.z.dtype), p.z])


def sample_x0(key: jax.Array, batch: int, a: float = 2.0, dtype=jnp.float32) -> jax.Array:
    """x_0 (batch, 2) ~ U(-a, a)^2."""
    return jax.random.uniform(key, (batch, 2), dtype, -a, a)


def rollout(P: jax.Array, x0: jax.Array, horizon: int) -> jax.Array:
    """States s_t (horizon, B, D) for t = 0 .. horizon - 1 from s_0 = (x0, 0). x0: (B, 2)."""
    s0 = jnp.zeros((x0.shape[0], P.shape[0]), P.dtype).at[:, :2].set(x0)

    def body(s, _):
        return s @ P.T, s
    _, ss = jax.lax.scan(body, s0, None, length=horizon)
    return ss


def per_sample_loss(P: jax.Array, c: jax.Array, x0: jax.Array, horizon: int,
                    beta: float = 0.0) -> jax.Array:
    """(B,) per-start terms of eq. (3): mean_{t, i} x_{t,i}^2 + beta sum_t u_t^2."""
    ss = rollout(P, x0, horizon)
    state = jnp.mean(ss[:, :, :2] ** 2, axis=(0, 2))          # mean over t and the 2 dims
    control = jnp.sum((ss @ c) ** 2, axis=0)                  # time sum of u_t^2
    return state + beta * control


def loop_loss(P: jax.Array, c: jax.Array, x0: jax.Array, horizon: int,
              beta: float = 0.0) -> jax.Array:
    """Eq. (3) for the linear loop (P, c) on the batch x0 (B, 2): the batch mean, a scalar."""
    return jnp.mean(per_sample_loss(P, c, x0, horizon, beta))


def theory_loss(p: RankOne, x0: jax.Array, horizon: int = 50, beta: float = 0.0) -> jax.Array:
    """Eq. (3) for the full (N+2)-dimensional model."""
    return loop_loss(full_matrix(p), full_readout(p), x0, horizon, beta)
