"""Stage 2: the near-real root, the dominant pair, and the short- vs long-term surrogate.

Write the cubic of eq. (6) as p(lambda) = q(lambda)(lambda - s_vu) - s_vm s_zu with
q(lambda) = lambda^2 - 2 lambda + 1 - s_zm. For small coupling s_vm s_zu one root stays near
s_vu; one Newton step from lambda = s_vu (first order in s_vm s_zu) gives                 (10)
    lambda_3 ~ s_vu + s_vm s_zu / q(s_vu) = s_vu + s_vm s_zu / (s_vu^2 - 2 s_vu - s_zm + 1).
Vieta on the monic cubic lambda^3 + b lambda^2 + c lambda + d, with roots (lambda_1, conj
lambda_1, lambda_3):  b = -(s_vu + 2),  c = 2 s_vu - s_zm + 1,  2 Re lambda_1 = -b - lambda_3 and
|lambda_1|^2 + 2 Re(lambda_1) lambda_3 = c, so                                              (11)
    |lambda_1|^2 = c + b lambda_3 + lambda_3^2,
exact with the exact real root and approximate with eq. (10) (the paper's form; checked).
Surrogate (short-term cost vs long-term stability):                                      (12)
    L_0 = ||(P_eff^3)_xx||_F^2
        = (s_zm + 1)^2 + (s_zm + 3)^2 + (s_vm s_zu + 2 s_zm)^2 + (s_vm s_zu + 3 s_zm + 1)^2,
    L_inf = (|lambda_1|^2)^{T_h}  with lambda_3 from eq. (10),
    L_alpha = alpha L_inf + (1 - alpha) L_0.                                              (13)
Authors' published settings (figures.ipynb cell 6): T_h = 10, alpha in {0, 0.48, 0.52, 0.55, 1},
SGD lr 1e-3, clip 1, ~240 steps from the overlaps of epoch 10; theory.ipynb uses T_h = 20.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from learndyn.closedloop.theory.gram_flow import clip_factor
from learndyn.closedloop.theory.overlaps import cubic_roots, p_eff


def vieta_bc(s: jax.Array):
    """(b, c) of eq. (11): b = -(s_vu + 2), c = 2 s_vu - s_zm + 1."""
    return -(s[3] + 2), 2 * s[3] - s[0] + 1


def lambda3_approx(s: jax.Array) -> jax.Array:
    """Eq. (10)."""
    zm, zu, vm, vu = s[0], s[1], s[2], s[3]
    return vu + vm * zu / (vu ** 2 - 2 * vu - zm + 1)


def lambda1_sq(s: jax.Array, lam3: jax.Array) -> jax.Array:
    """Eq. (11): |lambda_1|^2 = c + b lambda_3 + lambda_3^2 for a given (real) lambda_3."""
    b, c = vieta_bc(s)
    return c + b * lam3 + lam3 ** 2


def split_roots(s: jax.Array):
    """Exact roots of eq. (6) split as (lambda_1 with Im >= 0 of the complex pair, real lambda_3):
    lambda_3 is the root of smallest |Im|. Meaningful when the cubic has one real root and a
    complex pair (stage 2)."""
    r = cubic_roots(s)
    i3 = jnp.argmin(jnp.abs(jnp.imag(r)))
    others = jnp.where(jnp.arange(3) == i3, 0, jnp.imag(r))
    i1 = jnp.argmax(others)
    return r[i1], jnp.real(r[i3])


def loss0(s: jax.Array) -> jax.Array:
    """Eq. (12), L_0 = ||(P_eff^3)_xx||_F^2 from the matrix power."""
    P = p_eff(s)
    return jnp.sum((P @ P @ P)[:2, :2] ** 2)


def loss0_expanded(s: jax.Array) -> jax.Array:
    """Eq. (12), the expanded polynomial (the paper's form)."""
    zm, zu, vm = s[0], s[1], s[2]
    k = vm * zu
    return (zm + 1) ** 2 + (zm + 3) ** 2 + (k + 2 * zm) ** 2 + (k + 3 * zm + 1) ** 2


def loss_inf(s: jax.Array, t_h: int = 10) -> jax.Array:
    """(|lambda_1|^2)^{T_h} with lambda_3 from eq. (10)."""
    return lambda1_sq(s, lambda3_approx(s)) ** t_h


def surrogate(s: jax.Array, alpha: float, t_h: int = 10) -> jax.Array:
    """Eq. (13)."""
    return alpha * loss_inf(s, t_h) + (1 - alpha) * loss0(s)


def gradient_cosine(s: jax.Array, t_h: int = 10) -> jax.Array:
    """cos of the angle between grad L_inf and grad L_0 at s (-1: exactly opposite)."""
    g_inf = jax.grad(loss_inf)(s, t_h)
    g_0 = jax.grad(loss0)(s)
    return g_inf @ g_0 / (jnp.linalg.norm(g_inf) * jnp.linalg.norm(g_0))


def optimise_surrogate(s0: jax.Array, alpha: float, t_h: int = 10, lr: float = 1e-3,
                       steps: int = 240, clip: float | None = 1.0) -> jax.Array:
    """SGD on L_alpha over the four overlaps as free parameters, clipped on |grad|.
    Returns the path (steps + 1, 4) including s0."""
    grad = jax.grad(surrogate)

    def body(s, _):
        g = grad(s, alpha, t_h)
        s1 = s - (lr * clip_factor(jnp.sqrt(jnp.sum(g ** 2)), clip)) * g
        return s1, s
    last, path = jax.lax.scan(body, s0, None, length=steps)
    return jnp.concatenate([path, last[None]])
