"""Gradient descent on (z, u, v) as an exact flow on the Gram matrix of (m, u, v, z).

Why it closes. By eq. (5) the loss of the full model (sampled, eq. 3, or expected, eq. 14) is
a function of the overlaps only: L(z, u, v) = F(s), s = (z.m, z.u, v.m, v.u). The chain rule
gives the gradients with respect to the vectors (m frozen):                               (15)
    dL/dz = F_zm m + F_zu u,   dL/du = F_zu z + F_vu v,   dL/dv = F_vm m + F_vu u,
(F_ab = dF/ds_ab). Every gradient is a combination of (m, u, v, z), so gradient descent keeps
all four vectors in span{m, u_0, v_0, z_0}; with X = [m, u, v, z] (N, 4) one step is X' = X K,
    K = I - eta kappa Gamma,   Gamma = [0 | g_u | g_v | g_z]  (4, 4),                         (16)
with the columns g_u = (0, 0, F_vu, F_zu), g_v = (F_vm, F_vu, 0, 0), g_z = (F_zm, F_zu, 0, 0)
(coefficients in the frame (m, u, v, z)), and kappa the clipping factor of the global
gradient norm |grad|^2 = tr(Gamma^T G Gamma). Hence the Gram matrix G = X^T X (4 x 4,
symmetric: 10 numbers) updates in closed form,
    G' = K^T G K,
and the overlaps are entries of G: s_zm = G_zm, s_zu = G_zu, s_vm = G_vm, s_vu = G_vu.
This is exact (no small-eta expansion: the eta^2 terms of K^T G K are the products of two
gradients) and needs no N: it is GD on the full vectors, written in 10 numbers.

Metric factors. To first order in eta, ds/dt = -M(G) grad F with                         (17)
    M = [[mm, mu, 0, 0], [mu, uu + zz, 0, zv], [0, 0, mm, mu], [0, zv, mu, uu + vv]]
(rows and columns in the order s_zm, s_zu, s_vm, s_vu; M = J J^T, J the Jacobian of s with
respect to (z, u, v)). The paper's reduced model (GD on the four overlaps as free parameters)
sets M = I; at initialisation M ~ diag(1/3, 4/3, 1/3, 2) (|m|^2 ~ |z|^2 ~ 1/3, |u|^2 ~ |v|^2
~ 1), so the free model moves s_zm and s_vm about 3x too fast and s_vu 2x too slowly, and it
clips a different gradient norm.

Clipping follows optax.clip_by_global_norm (the project's convention): the gradient is
scaled by clip / |grad| when |grad| > clip. (torch's clip_grad_norm_ divides by
|grad| + 1e-6, a relative difference of 1e-6 at |grad| ~ 1.)
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from learndyn.closedloop.theory.overlaps import overlaps
from learndyn.closedloop.theory.rankone import RankOne

GRAM_ORDER = ("m", "u", "v", "z")
_M, _U, _V, _Z = range(4)


def clip_factor(g_norm: jax.Array, clip: float | None) -> jax.Array:
    """kappa: clip / |g| if |g| > clip else 1 (optax.clip_by_global_norm); 1 if clip is None."""
    if clip is None:
        return jnp.ones_like(g_norm)
    return jnp.where(g_norm > clip, clip / jnp.where(g_norm > 0, g_norm, 1), 1)


def gram_of(p: RankOne) -> jax.Array:
    """G (4, 4) = X^T X, X = [m, u, v, z]."""
    X = jnp.stack([p.m, p.u, p.v, p.z], axis=1)
    return X.T @ X


def overlaps_from_gram(G: jax.Array) -> jax.Array:
    """s (4,) = (s_zm, s_zu, s_vm, s_vu) read off G."""
    return jnp.stack([G[_Z, _M], G[_Z, _U], G[_V, _M], G[_V, _U]])


def grad_frame(gs: jax.Array) -> jax.Array:
    """Gamma (4, 4) of eq. (16) from gs = grad F (4,) = (F_zm, F_zu, F_vm, F_vu)."""
    f_zm, f_zu, f_vm, f_vu = gs[0], gs[1], gs[2], gs[3]
    zero = jnp.zeros_like(f_zm)
    g_u = jnp.stack([zero, zero, f_vu, f_zu])
    g_v = jnp.stack([f_vm, f_vu, zero, zero])
    g_z = jnp.stack([f_zm, f_zu, zero, zero])
    return jnp.stack([jnp.zeros_like(g_u), g_u, g_v, g_z], axis=1)


def overlap_metric(G: jax.Array) -> jax.Array:
    """M (4, 4) of eq. (17): the first-order induced flow is ds/dt = -M grad F."""
    mm, mu, uu = G[_M, _M], G[_M, _U], G[_U, _U]
    vv, zz, zv = G[_V, _V], G[_Z, _Z], G[_Z, _V]
    zero = jnp.zeros_like(mm)
    return jnp.stack([jnp.stack([mm, mu, zero, zero]),
                      jnp.stack([mu, uu + zz, zero, zv]),
                      jnp.stack([zero, zero, mm, mu]),
                      jnp.stack([zero, zv, mu, uu + vv])])


def gram_step(G: jax.Array, F: Callable, data, lr: float, clip: float | None):
    """One GD step of eq. (16). F(s, data) -> scalar loss of the overlaps. Returns (G', loss)."""
    loss, gs = jax.value_and_grad(F)(overlaps_from_gram(G), data)
    Gam = grad_frame(gs)
    kappa = clip_factor(jnp.sqrt(jnp.trace(Gam.T @ G @ Gam)), clip)
    K = jnp.eye(4, dtype=G.dtype) - (lr * kappa) * Gam
    return K.T @ G @ K, loss


def _scan(step, init, data, steps):
    """Run `step(carry, x) -> (carry, loss)` over `steps` (data: leading axis steps, or None).
    Returns (history (steps + 1, ...) including init, losses (steps,))."""
    def body(c, x):
        c1, loss = step(c, x)
        return c1, (c, loss)
    last, (hist, losses) = jax.lax.scan(body, init, data, length=steps)
    hist = jax.tree.map(lambda h, l: jnp.concatenate([h, l[None]]), hist, last)
    return hist, losses


def gram_gd(G0: jax.Array, F: Callable, steps: int, lr: float = 0.01,
            clip: float | None = 1.0, data=None):
    """`steps` GD steps of eq. (16) from G0 (4, 4). Returns Gs (steps + 1, 4, 4) and the loss
    before each step (steps,). data: per-step argument of F (leading axis steps) or None."""
    return _scan(lambda G, x: gram_step(G, F, x, lr, clip), G0, data, steps)


def full_gd(p0: RankOne, loss_fn: Callable, steps: int, lr: float = 0.01,
            clip: float | None = 1.0, data=None):
    """`steps` GD steps on the full vectors (z, u, v), m frozen, with loss_fn(p, data).
    Returns the RankOne history (each field (steps + 1, N)) and the losses (steps,)."""
    def step(p, x):
        loss, g = jax.value_and_grad(loss_fn)(p, x)
        g = g._replace(m=jnp.zeros_like(g.m))
        norm = jnp.sqrt(sum(jnp.sum(gi ** 2) for gi in g))
        kappa = clip_factor(norm, clip)
        return jax.tree.map(lambda w, gw: w - (lr * kappa) * gw, p, g), loss
    return _scan(step, p0, data, steps)


def free_overlap_gd(s0: jax.Array, F: Callable, steps: int, lr: float = 0.01,
                    clip: float | None = 1.0, data=None):
    """The paper's reduced model: GD on s (4,) as free parameters, F(s, data), clipped on |grad F|.
    Returns ss (steps + 1, 4) and the losses (steps,)."""
    def step(s, x):
        loss, g = jax.value_and_grad(F)(s, x)
        kappa = clip_factor(jnp.sqrt(jnp.sum(g ** 2)), clip)
        return s - (lr * kappa) * g, loss
    return _scan(step, s0, data, steps)


def history_overlaps(hist: RankOne) -> jax.Array:
    """(steps + 1, 4) overlaps along a full_gd history."""
    return jax.vmap(overlaps)(hist)


def history_gram(hist: RankOne) -> jax.Array:
    """(steps + 1, 4, 4) Gram matrices along a full_gd history."""
    return jax.vmap(gram_of)(hist)
