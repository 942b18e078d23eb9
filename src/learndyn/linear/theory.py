"""The exact dynamics of a deep linear network from a decoupled balanced start.

Time is in units of tau (t / tau); update k of gradient descent with learning rate lr sits at
t / tau = lr k (see model.py). Every function is vectorised over modes: s (r,) singular
values, a0 the initial strength of each mode's product (a scalar or (r,)).

From the decoupled balanced initialisation (model.init_balanced) each mode's layers carry the
same scalar c, its strength is u = c^D, and gradient flow reduces to one ODE per mode
(Saxe et al. Sec. 1 for D = 2, Sec. 3 for deeper networks; Eq. numbers unverified):

    tau du/dt = D u^(2 - 2/D) (s - u)                                  (deep, balanced)
    tau du/dt = 2 u (s - u),   u(t) = s e^(2st/tau) / (e^(2st/tau) - 1 + s/u0)     (D = 2)

and the time to go from u0 to u_f (D = 2) is t = tau/(2s) ln(u_f (s - u0) / (u0 (s - u_f))),
so the half time is t_half = tau/(2s) ln(s/u0 - 1) ~ (tau/s) ln(s/u0) / 2.

Gradient descent itself is the exact discrete map of the layer scalar (reduced_map),

    c <- c + lr c^(D-1) (s - c^D),   u = c^D,

which equals GD on the full matrices for the balanced decoupled start up to float rounding.
The Euler map of the u-ODE, u <- u + lr D u^(2-2/D) (s - u) (euler_map), is NOT that map:
it differs from it by O(lr^2) per update (u_{k+1} = u (1 + lr c^(D-2) (s - u))^D).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import quad, solve_ivp


def _f64(*xs):
    return [np.asarray(x, float) for x in xs]


def strength_depth2(t, s, a0):
    """(..., r) u(t) of the two-layer ODE (closed form) at times t (..., 1) or scalar, in
    units of tau: s / (1 + (s/a0 - 1) e^(-2 s t)), the same formula as s e^(2st) /
    (e^(2st) - 1 + s/a0), written so that it does not overflow."""
    t, s, a0 = _f64(t, s, a0)
    return s / (1.0 + (s / a0 - 1.0) * np.exp(-2.0 * s * t))


def time_to_depth2(f, s, a0):
    """Time (tau units) for a two-layer mode to reach the strength f s from a0:
    1/(2s) ln(f (s/a0 - 1) / (1 - f)) (negative where f s < a0)."""
    f, s, a0 = _f64(f, s, a0)
    return np.log(f * (s / a0 - 1.0) / (1.0 - f)) / (2.0 * s)


def rate(u, s, depth: int):
    """tau du/dt = D u^(2 - 2/D) (s - u), the balanced mode's ODE."""
    return depth * u ** (2.0 - 2.0 / depth) * (s - u)


def time_to(f, s, a0, depth: int):
    """(r,) time (tau units) for each mode to go from a0 to f s: the closed form for D = 2,
    else time_to_numeric. f: a scalar in (0, 1)."""
    if depth == 2:
        return time_to_depth2(f, *np.broadcast_arrays(*_f64(s, a0)))
    return time_to_numeric(f, s, a0, depth)


def time_to_numeric(f, s, a0, depth: int):
    """(r,) the integral of du / (D u^(2-2/D) (s - u)) from a0 to f s, by scipy's quad in
    ln u (relative error ~1e-10); any depth, D = 2 included (the tests check it there
    against the closed form)."""
    s, a0 = np.broadcast_arrays(*_f64(s, a0))
    out = np.empty(s.shape)
    for i, (si, ai) in enumerate(zip(s.ravel(), a0.ravel())):
        # in y = ln u: dt = du / rate(u) = u dy / rate(u)
        g = lambda y: np.exp(y) / rate(np.exp(y), si, depth)  # noqa: E731
        val, _ = quad(g, np.log(ai), np.log(f * si), epsabs=0.0, epsrel=1e-10, limit=200)
        out.flat[i] = val
    return out


def half_time(s, a0, depth: int):
    """(r,) time (tau units) to half of each mode's singular value."""
    return time_to(0.5, s, a0, depth)


def rise_time(s, a0, depth: int, lo: float = 0.1, hi: float = 0.9):
    """(r,) time (tau units) from lo s to hi s; for D = 2 it is ln((hi (1-lo)) /
    (lo (1-hi))) / (2 s) (ln 81 / (2s) for 10-90 %), independent of a0."""
    return time_to(hi, s, a0, depth) - time_to(lo, s, a0, depth)


def strength_ode(t, s, a0, depth: int):
    """(len(t), r) u(t) of the balanced ODE at increasing times t >= 0 (tau units): the
    closed form for D = 2, else integrate_ode."""
    if depth == 2:
        t, s = _f64(t, s)
        return strength_depth2(t[:, None], s, np.broadcast_to(np.asarray(a0, float), s.shape))
    return integrate_ode(t, s, a0, depth)


def integrate_ode(t, s, a0, depth: int):
    """(len(t), r) the balanced ODE integrated numerically at increasing times t >= 0:
    scipy's DOP853 on ln u, d ln u / dt = D u^(1 - 2/D) (s - u), rtol 1e-10 (float64); any
    depth, D = 2 included (the tests check it there against the closed form)."""
    t, s = _f64(t, s)
    a0 = np.broadcast_to(np.asarray(a0, float), s.shape)
    fun = lambda _, y: depth * np.exp(y * (1.0 - 2.0 / depth)) * (s - np.exp(y))  # noqa: E731
    sol = solve_ivp(fun, (0.0, float(t[-1])), np.log(a0), method="DOP853", t_eval=t,
                    rtol=1e-10, atol=1e-12)
    if not sol.success:
        raise RuntimeError(f"the depth-{depth} mode ODE did not integrate: {sol.message}")
    return np.exp(sol.y.T)


def reduced_map(s, a0, lr: float, depth: int, n_steps: int) -> jax.Array:
    """(n_steps + 1, r) strengths u_k = c_k^D of gradient descent's exact reduced map,
    c <- c + lr c^(D-1) (s - c^D) from c_0 = a0^(1/D), as a lax.scan (in jax's default
    float dtype: float32 unless x64 is enabled, the precision of the simulation)."""
    s = jnp.asarray(s)
    c0 = jnp.broadcast_to(jnp.asarray(a0, s.dtype) ** (1.0 / depth), s.shape)

    def one(c, _):
        c = c + lr * c ** (depth - 1) * (s - c ** depth)
        return c, c ** depth

    _, us = jax.lax.scan(one, c0, None, length=n_steps)
    return jnp.concatenate([c0[None] ** depth, us])


def reduced_map_at(s, a0, lr: float, depth: int, steps) -> jax.Array:
    """(len(steps), r) the reduced map's strengths at increasing record steps (>= 0), without
    holding every update: a scan over the records, a fori_loop between them."""
    s = jnp.asarray(s)
    c0 = jnp.broadcast_to(jnp.asarray(a0, s.dtype) ** (1.0 / depth), s.shape)
    steps = np.asarray(steps, np.int64)
    gaps = jnp.asarray(np.diff(np.concatenate([[0], steps])), jnp.int32)

    def update(_, c):
        return c + lr * c ** (depth - 1) * (s - c ** depth)

    def interval(c, n):
        c = jax.lax.fori_loop(0, n, update, c)
        return c, c ** depth

    _, us = jax.lax.scan(interval, c0, gaps)
    return us


def euler_map(s, a0, lr: float, depth: int, n_steps: int) -> jax.Array:
    """(n_steps + 1, r) the Euler map of the u-ODE, u <- u + lr D u^(2-2/D) (s - u): O(lr^2)
    per update from gradient descent (see the module docstring)."""
    s = jnp.asarray(s)
    u0 = jnp.broadcast_to(jnp.asarray(a0, s.dtype), s.shape)

    def one(u, _):
        u = u + lr * depth * u ** (2.0 - 2.0 / depth) * (s - u)
        return u, u

    _, us = jax.lax.scan(one, u0, None, length=n_steps)
    return jnp.concatenate([u0[None], us])


def loss_from_strengths(a, s, off_mode=0.0):
    """1/2 sum_i (s_i - a_i)^2 + 1/2 off_mode^2: the loss of a product with strengths a (...,
    r) on the teacher's modes and Frobenius norm off_mode outside them (whitened data)."""
    a, s, off = _f64(a, s, off_mode)
    return 0.5 * np.sum((s - a) ** 2, axis=-1) + 0.5 * off ** 2


def plateau_losses(s) -> np.ndarray:
    """(r + 1,) the staircase's levels: the loss once the k strongest modes are learned and
    the others not yet started, 1/2 sum of s_j^2 over the r - k weaker modes, k = 0 .. r."""
    sq = np.sort(np.asarray(s, float))[::-1] ** 2
    return 0.5 * np.concatenate([np.cumsum(sq[::-1])[::-1], [0.0]])


def learning_order(s) -> list[int]:
    """Mode indices in the order they are learned: by decreasing s (ties keep their order)."""
    return [int(i) for i in np.argsort(-np.asarray(s, float), kind="stable")]


def half_time_scale(s, a0):
    """(r,) x_i = (1/s_i) ln(s_i/a0): the two-layer half time is x_i tau / 2 up to the
    -1 in ln(s/a0 - 1), so measured half times (in updates) against x have slope 1/(2 lr)."""
    s, a0 = _f64(s, a0)
    return np.log(s / a0) / s
