"""Observables of the Li2 picture (Tian 2025), as pure ``jnp`` functions (jit / vmap friendly).

Notation: ``F = sigma(X W)`` ``(n, K)``, ``Y`` one-hot ``(n, M)``, ``V (K, M)``,
``P1 = I - 1 1^T / n`` (centring over samples), ``Ftil = P1 F``, ``Ytil = P1 Y``.
Nothing here forms an ``n x n`` matrix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from learndyn.grokking.losses import get_loss
from learndyn.grokking.model import Params, centre_samples, forward, get_activation, one_hot_labels

__all__ = [
    "accuracy",
    "cosine_distance",
    "diag_mass",
    "diag_mass_node_gram",
    "diag_mass_sample_gram",
    "gf",
    "gf_norm_ratio",
    "gini",
    "ipr",
    "irrep_power_of_rows",
    "key_irreps",
    "node_energy",
    "restricted_and_excluded_loss",
]


def gf(F: jax.Array, Y: jax.Array, V: jax.Array) -> jax.Array:
    """Back-propagated gradient ``G_F = -dJ/dF = P1 (Y - F V) V^T``, ``(n, K)`` (paper Eq. 2).

    ``J`` is the sample-centred loss with ``reduction="sum"`` (no ``1/n``).
    """
    return centre_samples(Y - F @ V) @ V.T


def gf_norm_ratio(F: jax.Array, Y: jax.Array, V: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(||G_F||_F, ||G_F||_F / ||Ytil Ytil^T Ftil||_F)``.

    The denominator is evaluated as ``Ytil (Ytil^T Ftil)`` (no ``n x n`` matrix).
    """
    G = gf(F, Y, V)
    Ft = centre_samples(F)
    Yt = centre_samples(Y)
    ref = Yt @ (Yt.T @ Ft)
    g = jnp.linalg.norm(G)
    return g, g / jnp.linalg.norm(ref)


def diag_mass(Mat: jax.Array) -> jax.Array:
    """Fraction of the squared Frobenius mass on the diagonal: ``sum_i |A_ii|^2 / sum_ij |A_ij|^2``."""
    d = jnp.diagonal(Mat, axis1=-2, axis2=-1)
    return jnp.sum(jnp.abs(d) ** 2, axis=-1) / jnp.sum(jnp.abs(Mat) ** 2, axis=(-2, -1))


def diag_mass_node_gram(F: jax.Array) -> jax.Array:
    """``diag_mass(Ftil^T Ftil)`` (the ``K x K`` node Gram matrix)."""
    Ft = centre_samples(F)
    return diag_mass(Ft.T @ Ft)


def diag_mass_sample_gram(F: jax.Array) -> jax.Array:
    """``diag_mass(P1 F F^T)`` exactly, without forming the ``n x n`` matrix.

    With ``A = P1 F F^T = Ftil F^T``: ``A_ii = <Ftil_i, F_i>`` and
    ``||A||_F^2 = tr(F Ftil^T Ftil F^T) = sum((Ftil^T Ftil) * (F^T F))`` (``K x K``).
    Real ``F`` only.
    """
    Ft = centre_samples(F)
    diag = jnp.sum(Ft * F, axis=-1)
    total = jnp.sum((Ft.T @ Ft) * (F.T @ F))
    return jnp.sum(diag * diag) / total


def _flatten(x) -> jax.Array:
    leaves = jax.tree.leaves(x)
    return jnp.concatenate([jnp.ravel(leaf) for leaf in leaves])


def cosine_distance(a, b) -> jax.Array:
    """``1 - Re<a, b> / (||a|| ||b||)`` of the flattened arrays (or pytrees of arrays).

    A zero array (e.g. a zero-initialised V) has no direction: the distance is then 0 if both
    are zero and 1 otherwise (never NaN, which the trainer would read as divergence)."""
    fa, fb = _flatten(a), _flatten(b)
    na, nb = jnp.linalg.norm(fa), jnp.linalg.norm(fb)
    cos = jnp.real(jnp.vdot(fa, fb)) / jnp.maximum(na * nb, jnp.finfo(na.dtype).tiny)
    both_zero = (na == 0) & (nb == 0)
    return jnp.where(both_zero, 0.0, 1.0 - cos)


def node_energy(W: jax.Array, pairs: jax.Array, Ytil: jax.Array, act) -> tuple[jax.Array, jax.Array]:
    """Energy ``E(w) = 1/2 ||Ytil^T sigma(X w)||_2^2`` of every hidden node (Thm 1).

    Each column ``w_j`` of ``W (2M, K)`` is a node; ``pairs (n, 2)`` and
    ``Ytil = P1 Y (n, M)`` must refer to the same samples. Returns
    ``(E_raw, E_unit)``, each ``(K,)``: ``E_raw`` uses the column as is and
    ``E_unit`` the unit-normalised column ``w_j / ||w_j||_2`` (``E`` is not
    scale-invariant for non-homogeneous activations, and for homogeneous ones
    ``E_unit`` removes the trivial norm growth). Residual layers are ignored.
    """
    sigma = get_activation(act)
    m = W.shape[0] // 2

    def energy(Wc):
        Fn = sigma(Wc[pairs[:, 0]] + Wc[m + pairs[:, 1]])  # (n, K)
        proj = Ytil.T.astype(Fn.dtype) @ Fn  # (M, K)
        return 0.5 * jnp.sum(jnp.abs(proj) ** 2, axis=0)

    norms = jnp.linalg.norm(W, axis=0, keepdims=True)
    return energy(W), energy(W / norms)


def ipr(powers: jax.Array) -> jax.Array:
    """Inverse participation ratio over the last axis, ``sum p^2 / (sum p)^2``.

    1 for a single non-zero entry, ``1/L`` for ``L`` equal entries; NaN for an all-zero row.
    """
    s = jnp.sum(powers, axis=-1)
    return jnp.sum(powers * powers, axis=-1) / (s * s)


def gini(powers: jax.Array) -> jax.Array:
    """Gini coefficient over the last axis of non-negative ``powers``.

    With ``x`` sorted ascending and ``i = 1..L``:
    ``G = 2 sum_i i x_i / (L sum_i x_i) - (L + 1) / L``; 0 for equal entries,
    ``(L - 1) / L`` for a single non-zero entry, NaN for an all-zero row.
    """
    x = jnp.sort(powers, axis=-1)
    L = x.shape[-1]
    i = jnp.arange(1, L + 1, dtype=x.dtype)
    return 2.0 * jnp.sum(i * x, axis=-1) / (L * jnp.sum(x, axis=-1)) - (L + 1.0) / L


def accuracy(pred: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows whose argmax over the class axis equals ``labels``."""
    return jnp.mean((jnp.argmax(pred, axis=-1) == labels).astype(jnp.float32))


def irrep_power_of_rows(V: jax.Array, projectors: jax.Array, *, centre: bool = True) -> jax.Array:
    """Power of the rows of ``V (K, M)`` in each irrep: ``p_r = sum_j ||P_r v_j||^2``, ``(R,)``.

    ``projectors (R, M, M)`` are the orthogonal (symmetric, idempotent) projectors
    of the real irreps acting on the class axis. With ``centre=True`` each row
    is first centred over the classes, which removes the trivial irrep
    (constant vectors), so it gets power 0.
    """
    Vc = V - jnp.mean(V, axis=-1, keepdims=True) if centre else V
    VP = jnp.einsum("km,rml->rkl", Vc, projectors.astype(Vc.dtype))
    return jnp.sum(jnp.abs(VP) ** 2, axis=(-2, -1))


def key_irreps(V: jax.Array, projectors: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """Top-``k`` irreps by :func:`irrep_power_of_rows` (centred): ``(indices (k,), Pkeep (M, M))``."""
    power = irrep_power_of_rows(V, projectors, centre=True)
    _, idx = jax.lax.top_k(power, k)
    Pkeep = jnp.sum(projectors[idx], axis=0)
    return idx, Pkeep


def restricted_and_excluded_loss(
    params: Params,
    pairs: jax.Array,
    labels: jax.Array,
    act,
    projectors: jax.Array,
    k: int = 1,
    *,
    loss: str = "ce",
) -> tuple[jax.Array, jax.Array]:
    """Restricted / excluded loss (after Nanda et al. 2023), on the class axis of the logits.

    Key irreps = the ``k`` irreps with the largest power of ``V``'s (class-centred)
    rows (:func:`key_irreps`, the trivial irrep is never chosen);
    ``Pkeep = sum of their projectors``. Restricted loss: ``loss(logits @ Pkeep)``
    (only the key irreps kept); excluded loss: ``loss(logits @ (I - Pkeep))``
    (key irreps removed). ``loss`` is a :data:`~learndyn.grokking.losses.LOSSES` name.
    ``k`` is static (a Python int).
    """
    loss_fn = get_loss(loss)
    logits = forward(params, pairs, act)
    M = logits.shape[-1]
    _, Pkeep = key_irreps(params.V, projectors, k)
    Pkeep = jnp.real(Pkeep).astype(logits.dtype)
    Y = one_hot_labels(labels, M, dtype=logits.dtype)
    restricted = loss_fn(logits @ Pkeep, Y)
    excluded = loss_fn(logits @ (jnp.eye(M, dtype=logits.dtype) - Pkeep), Y)
    return restricted, excluded
