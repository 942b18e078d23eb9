"""Two-layer network for group arithmetic (Tian 2025, "Li2"): ``Yhat = sigma(X W) V``.

Input ``x = [e_h1; e_h2] in R^{2M}``; ``X W`` is never formed as a one-hot matmul:
row ``i`` of ``X W`` is the gather ``W[h1_i] + W[M + h2_i]`` (:func:`hidden`).
:func:`onehot_forward` is the literal one-hot formulation, kept only to test
that the two agree.

Shapes: ``W (2M, K)``, ``V (K, M)``, optional residual weights ``R_i (K, K)``.
No biases.

Residual layers (``n_residual > 0``, an extension beyond the paper): with
``h_0 = sigma(X W)`` the hidden representation is updated as
``h_{i+1} = h_i + sigma(h_i R_i)`` (``residual="skip_outside"``, learndyn's form) or
``h_{i+1} = sigma(h_i + h_i R_i)`` (``"skip_inside"``, the authors' code:
``x = act(x + layer(x))``) for ``i = 0..n_residual-1`` and ``F = h_{n_residual}``; the
output is ``F V``.

Complex weights (``complex_weights=True``): ``W``, ``V`` and ``R_i`` are
complex (``complex_init="independent"``: real and imaginary parts drawn independently;
``"real_cast"``: real weights cast to complex, imaginary parts exactly 0, as the authors'
code does), only the polynomial activations ``"x2"`` and ``"quad"`` are allowed
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
    "residual_layers",
    "ridge_V",
    "ridge_V_authors",
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
    complex_init: str = "independent",
    dtype=jnp.float32,
) -> Params:
    """Initial weights: ``W ~ U(+-1/sqrt(2M))``, ``V ~ v_scale * U(+-1/sqrt(K))``, ``R_i ~ U(+-1/sqrt(K))``.

    ``v_scale = 0`` gives a zero-initialised ``V`` (``v_scale`` may be a traced
    scalar). With ``complex_weights`` the dtype becomes the matching complex
    type (float32 -> complex64, float64 -> complex128) and real/imaginary
    parts are each drawn from the bound above divided by sqrt(2)
    (``complex_init="independent"``), or the real weights are drawn as without
    ``complex_weights`` and cast (``"real_cast"``: imaginary parts 0). Compiled once per
    (M, K, complex_weights, n_residual, complex_init, dtype).
    """
    if complex_init not in COMPLEX_INITS:
        raise ConfigError("complex_init", f"{complex_init!r}; allowed: {', '.join(COMPLEX_INITS)}")
    for field, val, lo in (("M", M, 1), ("K", K, 1), ("n_residual", n_residual, 0)):
        if isinstance(val, bool) or not isinstance(val, int) or val < lo:
            raise ConfigError(field, f"must be an integer >= {lo}, got {val!r}")
    dtype = jnp.dtype(dtype)
    if complex_weights and not jnp.issubdtype(dtype, jnp.complexfloating):
        dtype = jnp.dtype(jnp.complex128 if dtype == jnp.float64 else jnp.complex64)
    if complex_weights and complex_init == "real_cast":
        real = jnp.dtype(jnp.float64 if dtype == jnp.complex128 else jnp.float32)
        p = _init_params(key, v_scale, M, K, False, n_residual, real)
        return jax.tree.map(lambda a: a.astype(dtype), p)
    return _init_params(key, v_scale, M, K, bool(complex_weights), n_residual, dtype)


COMPLEX_INITS = ("independent", "real_cast")
RESIDUAL_FORMS = ("skip_outside", "skip_inside")


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


def residual_layers(h: jax.Array, R: tuple, sigma: Callable, form: str = "skip_outside"):
    """The residual layers on ``h``: ``h + sigma(h R_i)`` ("skip_outside") or
    ``sigma(h + h R_i)`` ("skip_inside", the authors' form), for each ``R_i``."""
    if form not in RESIDUAL_FORMS:
        raise ConfigError("residual", f"{form!r}; allowed: {', '.join(RESIDUAL_FORMS)}")
    for Ri in R:
        h = h + sigma(h @ Ri) if form == "skip_outside" else sigma(h + h @ Ri)
    return h


def hidden(params: Params, pairs: jax.Array, act: ActLike,
           residual: str = "skip_outside") -> jax.Array:
    """Hidden activations ``F (n, K)``: ``sigma(W[h1] + W[M + h2])`` then the residual layers.

    ``pairs`` is ``(n, 2)`` int. ``X W`` is a gather (no one-hot matmul).
    """
    sigma = get_activation(act)
    W = params.W
    m = W.shape[0] // 2
    h = sigma(W[pairs[:, 0]] + W[m + pairs[:, 1]])
    return residual_layers(h, params.R, sigma, residual)


def _output(F: jax.Array, V: jax.Array) -> jax.Array:
    out = F @ V
    return jnp.real(out) if jnp.iscomplexobj(out) else out


def forward(params: Params, pairs: jax.Array, act: ActLike,
            residual: str = "skip_outside") -> jax.Array:
    """Network output ``(n, M)`` = ``hidden(params, pairs, act) @ V`` (real part for complex weights)."""
    return _output(hidden(params, pairs, act, residual), params.V)


def onehot_forward(params: Params, pairs: jax.Array, act: ActLike,
                   residual: str = "skip_outside") -> jax.Array:
    """Reference formulation with explicit one-hot ``X (n, 2M)`` and ``X @ W``; for tests only."""
    sigma = get_activation(act)
    W = params.W
    m = W.shape[0] // 2
    X = jnp.concatenate(
        [jax.nn.one_hot(pairs[:, 0], m, dtype=W.dtype), jax.nn.one_hot(pairs[:, 1], m, dtype=W.dtype)], axis=1
    )
    h = sigma(X @ W)
    return _output(residual_layers(h, params.R, sigma, residual), params.V)


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


def ridge_V_authors(F: jax.Array, Y: jax.Array, lam) -> jax.Array:
    """The authors' ridge output layer (their ``set_weight_reg``; github
    yuandong-tian/understanding, ssl/real-dataset/cogo/modular_addition_simple2.py):
    ``V = (F^H F + lam I)^{-1} F^H (Y - 1/M)``, ``(K, M)``, with ``F`` NOT centred over
    samples and the one-hot ``Y (n, M)`` centred over classes. (Their code writes it with
    the SVD ``F = U diag(s) Vt``: ``Vt^H diag(s / (s^2 + lam)) U^H Y``, the same matrix.)"""
    M = Y.shape[-1]
    Yc = (Y - 1.0 / M).astype(F.dtype)
    G = F.conj().T @ F
    K = G.shape[0]
    return jnp.linalg.solve(G + lam * jnp.eye(K, dtype=G.dtype), F.conj().T @ Yc)
