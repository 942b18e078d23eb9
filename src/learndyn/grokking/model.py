"""Two-layer network for group arithmetic (Tian 2025, "Li2"): ``Yhat = sigma(X W) V``.

Input ``x = [e_h1; e_h2] in R^{2M}``; ``X W`` is never formed as a one-hot matmul:
row ``i`` of ``X W`` is the gather ``W[h1_i] + W[M + h2_i]`` (:func:`hidden`).
:func:`onehot_forward` is the literal one-hot formulation, kept only to test
that the two agree.

Shapes: ``W (2M, K)``, ``V (K, M)``, optional residual weights ``R_i (K, K)``.
No biases.

Residual layers (``n_residual > 0``, an extension beyond the paper): with
``h_0 = sigma(X W)`` the hidden representation is updated as
``h_{i+1} = h_i + sigma(h_i R_i)`` for ``i = 0..n_residual-1`` and
``F = h_{n_residual}``; the output is ``F V``.

Complex weights (``complex_weights=True``): ``W``, ``V`` and ``R_i`` are
complex, only the polynomial activations ``"x2"`` and ``"quad"`` are allowed
(they are holomorphic: ``x2`` is ``z * z``, not ``|z|^2``) and
:func:`forward` returns the REAL PART of ``F V``, so the losses and the
logits stay real. NB: for a real loss ``L`` of complex parameters,
``jax.grad`` returns ``dL/dRe - i dL/dIm`` (the conjugate of the ascent
direction); pass gradients through :func:`learndyn.core.optim.conjugate_grads`
before an optax update.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Union

import jax
import jax.numpy as jnp

from learndyn.core.activations import Activation, get_activation
from learndyn.errors import ConfigError

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Params",
    "centre_samples",
    "forward",
    "get_activation",
    "hidden",
    "init_params",
    "one_hot_labels",
    "onehot_forward",
    "ridge_V",
]

#: The activations this model accepts (from the one table, learndyn.core.activations)
ACTIVATIONS = ("x2", "relu", "silu", "relu2", "quad")


ActLike = Union[str, Activation, Callable[[jax.Array], jax.Array]]


class Params(NamedTuple):
    """Network weights (a pytree): ``W (2M, K)``, ``V (K, M)``, ``R`` a tuple of ``(K, K)``."""

    W: jax.Array
    V: jax.Array
    R: tuple = ()


def _uniform(key, shape, bound, dtype, complex_weights):
    if not complex_weights:
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    kr, ki = jax.random.split(key)
    real_dtype = jnp.finfo(dtype).dtype
    # real and imaginary parts each U(+-bound)/sqrt(2): E|w|^2 equals the real case.
    re = jax.random.uniform(kr, shape, real_dtype, -bound, bound)
    im = jax.random.uniform(ki, shape, real_dtype, -bound, bound)
    return (jax.lax.complex(re, im) / jnp.sqrt(2.0)).astype(dtype)


def init_params(
    key: jax.Array,
    M: int,
    K: int,
    *,
    v_scale: float = 1.0,
    complex_weights: bool = False,
    n_residual: int = 0,
    dtype=jnp.float32,
) -> Params:
    """Initial weights: ``W ~ U(+-1/sqrt(2M))``, ``V ~ v_scale * U(+-1/sqrt(K))``, ``R_i ~ U(+-1/sqrt(K))``.

    ``v_scale = 0`` gives a zero-initialised ``V`` (``v_scale`` may be a traced
    scalar). With ``complex_weights`` the dtype becomes the matching complex
    type (float32 -> complex64, float64 -> complex128) and real/imaginary
    parts are each drawn from the bound above divided by sqrt(2). Compiled
    once per (M, K, complex_weights, n_residual, dtype).
    """
    for field, val, lo in (("M", M, 1), ("K", K, 1), ("n_residual", n_residual, 0)):
        if isinstance(val, bool) or not isinstance(val, int) or val < lo:
            raise ConfigError(field, f"must be an integer >= {lo}, got {val!r}")
    dtype = jnp.dtype(dtype)
    if complex_weights and not jnp.issubdtype(dtype, jnp.complexfloating):
        dtype = jnp.dtype(jnp.complex128 if dtype == jnp.float64 else jnp.complex64)
    return _init_params(key, v_scale, M, K, bool(complex_weights), n_residual, dtype)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6))
def _init_params(key, v_scale, M, K, complex_weights, n_residual, dtype) -> Params:
    kw, kv, kr = jax.random.split(key, 3)
    W = _uniform(kw, (2 * M, K), 1.0 / jnp.sqrt(2.0 * M), dtype, complex_weights)
    V = (jnp.asarray(v_scale).astype(dtype)
         * _uniform(kv, (K, M), 1.0 / jnp.sqrt(float(K)), dtype, complex_weights))
    R = tuple(
        _uniform(k, (K, K), 1.0 / jnp.sqrt(float(K)), dtype, complex_weights)
        for k in jax.random.split(kr, n_residual)
    ) if n_residual > 0 else ()
    return Params(W=W, V=V.astype(dtype), R=R)


def hidden(params: Params, pairs: jax.Array, act: ActLike) -> jax.Array:
    """Hidden activations ``F (n, K)``: ``sigma(W[h1] + W[M + h2])`` then the residual layers.

    ``pairs`` is ``(n, 2)`` int. ``X W`` is a gather (no one-hot matmul).
    """
    sigma = get_activation(act)
    W = params.W
    m = W.shape[0] // 2
    h = sigma(W[pairs[:, 0]] + W[m + pairs[:, 1]])
    for R in params.R:
        h = h + sigma(h @ R)
    return h


def _output(F: jax.Array, V: jax.Array) -> jax.Array:
    out = F @ V
    return jnp.real(out) if jnp.iscomplexobj(out) else out


def forward(params: Params, pairs: jax.Array, act: ActLike) -> jax.Array:
    """Network output ``(n, M)`` = ``hidden(params, pairs, act) @ V`` (real part for complex weights)."""
    return _output(hidden(params, pairs, act), params.V)


def onehot_forward(params: Params, pairs: jax.Array, act: ActLike) -> jax.Array:
    """Reference formulation with explicit one-hot ``X (n, 2M)`` and ``X @ W``; for tests only."""
    sigma = get_activation(act)
    W = params.W
    m = W.shape[0] // 2
    X = jnp.concatenate(
        [jax.nn.one_hot(pairs[:, 0], m, dtype=W.dtype), jax.nn.one_hot(pairs[:, 1], m, dtype=W.dtype)], axis=1
    )
    h = sigma(X @ W)
    for R in params.R:
        h = h + sigma(h @ R)
    return _output(h, params.V)


def one_hot_labels(labels: jax.Array, M: int, dtype=jnp.float32) -> jax.Array:
    """Targets ``Y (n, M)`` with ``Y[i, labels[i]] = 1``."""
    return jax.nn.one_hot(labels, M, dtype=dtype)


def centre_samples(A: jax.Array) -> jax.Array:
    """``P1 A = A - 1 (1^T A) / n``: subtract the mean over samples (axis 0)."""
    return A - jnp.mean(A, axis=0, keepdims=True)


def ridge_V(F: jax.Array, Y: jax.Array, eta) -> jax.Array:
    """Ridge-optimal output layer ``V = (Ftil^H Ftil + eta I)^{-1} Ftil^H Ytil``, ``(K, M)``.

    ``Ftil = P1 F`` and ``Ytil = P1 Y`` are centred over samples. With ``eta = 0``
    the Gram matrix must be invertible. ``^H`` is the conjugate transpose (the
    plain transpose for real ``F``).
    """
    Ft = centre_samples(F)
    Yt = centre_samples(Y).astype(Ft.dtype)
    G = Ft.conj().T @ Ft
    K = G.shape[0]
    return jnp.linalg.solve(G + eta * jnp.eye(K, dtype=G.dtype), Ft.conj().T @ Yt)
