"""Losses for group arithmetic. All registry entries have the signature ``loss(pred, Y)``.

``pred`` is the ``(n, M)`` network output (logits for cross-entropy) and ``Y`` the
``(n, M)`` one-hot targets; :func:`cross_entropy` also accepts ``(n,)`` integer
labels. All functions are pure ``jnp`` (jit / vmap / grad friendly).

Normalisation (decided here, used everywhere in :mod:`learndyn.grokking`):

* ``"mse"`` (:func:`mse_sample_centred`, paper Eq. 1):
  ``J = 1/2 ||P1 (Y - pred)||_F^2`` with ``P1 = I - 1 1^T / n`` (centring over
  the ``n`` samples of the batch). Default ``reduction="sum"`` follows the
  paper (no ``1/n``), so ``-dJ/dF`` equals the paper's ``G_F`` (Eq. 2) exactly;
  ``reduction="mean"`` divides by ``n``.
* ``"mse_class"`` (:func:`mse_class_centred`, the reference code's variant):
  each row is centred over the ``M`` classes, ``c(v) = v - mean_c(v)``, and
  ``L = (1/n) sum_i ||c(Y_i) - c(pred_i)||_2^2`` (mean over samples of the
  summed squared error; no factor 1/2). ``reduction="sum"`` drops the ``1/n``.
* ``"ce"`` (:func:`cross_entropy`): ``mean_i [-log softmax(pred_i)[label_i]]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from learndyn.errors import ConfigError

__all__ = ["LOSSES", "cross_entropy", "get_loss", "mse_class_centred", "mse_sample_centred"]

_REDUCTIONS = ("sum", "mean")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ConfigError("reduction", f"unknown {reduction!r}; allowed: sum, mean")


def mse_sample_centred(pred: jax.Array, Y: jax.Array, reduction: str = "sum") -> jax.Array:
    """Paper Eq. 1: ``1/2 ||P1 (Y - pred)||_F^2`` (``reduction="sum"``), or that divided by ``n`` ("mean")."""
    _check_reduction(reduction)
    D = Y - pred
    D = D - jnp.mean(D, axis=0, keepdims=True)
    loss = 0.5 * jnp.sum(D * D)
    if reduction == "mean":
        loss = loss / pred.shape[0]
    return loss


def mse_class_centred(pred: jax.Array, Y: jax.Array, reduction: str = "mean") -> jax.Array:
    """Class-centred MSE: ``(1/n) sum_i ||c(Y_i) - c(pred_i)||^2``, ``c`` = centring over the class axis.

    ``reduction="sum"`` returns ``sum_i ||c(Y_i) - c(pred_i)||^2`` (no ``1/n``).
    """
    _check_reduction(reduction)
    D = Y - pred
    D = D - jnp.mean(D, axis=-1, keepdims=True)
    per_sample = jnp.sum(D * D, axis=-1)
    return jnp.sum(per_sample) if reduction == "sum" else jnp.mean(per_sample)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy; ``labels`` are ``(n,)`` ints or ``(n, M)`` one-hot / probability rows."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    if labels.ndim == logits.ndim:
        return -jnp.mean(jnp.sum(labels * logp, axis=-1))
    return -jnp.mean(jnp.take_along_axis(logp, labels[..., None].astype(jnp.int32), axis=-1)[..., 0])


#: Registry: name -> ``loss(pred, Y)`` with one-hot ``Y``.
LOSSES = {
    "mse": mse_sample_centred,
    "mse_class": mse_class_centred,
    "ce": cross_entropy,
}


def get_loss(name: str):
    """Look up :data:`LOSSES`; unknown names raise ``ConfigError("loss", ...)``."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ConfigError("loss", f"unknown {name!r}; allowed: {', '.join(LOSSES)}") from None
