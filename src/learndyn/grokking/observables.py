"""Observables of the Li2 picture (Tian 2025), as pure ``jnp`` functions (jit / vmap friendly).

Every formula the runs record is here, once: `Li2Problem.observe` calls these functions, and
the tests check these functions, so what the tests check is what a run records.

Notation: ``F = sigma(X W)`` ``(n, K)``, ``Y`` one-hot ``(n, M)``, ``V (K, M)``,
``P1 = I - 1 1^T / n`` (centring over samples), ``Ftil = P1 F``, ``Ytil = P1 Y``.
Nothing here forms an ``n x n`` matrix. Irrep powers ``(..., L)`` are indexed like
``groups.real_irreps``: irrep 0 is the trivial one (the constant functions).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from learndyn.grokking.losses import cross_entropy
from learndyn.grokking.model import Params, centre_samples, forward, one_hot_labels

__all__ = [
    "AUTHORS_STATS",
    "accuracy",
    "authors_statistics",
    "cosine_distance",
    "diag_mass",
    "diag_mass_node_gram",
    "diag_mass_sample_gram",
    "gf",
    "gf_norm_ratio",
    "gini",
    "gram_diagonality",
    "ipr",
    "irrep_power_of_rows",
    "key_irreps",
    "node_energy",
    "node_irrep_power",
    "restricted_and_excluded_loss",
]

# the smallest total power divided by (a node with no power has share 0, never NaN)
_TINY = 1e-30


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


# The authors' statistics (github yuandong-tian/understanding, ssl/real-dataset/cogo,
# modular_addition_simple2.py: ModularAdditionNN.forward with a stats tracker), recorded
# beside ours under these names. Theirs are computed on the hidden features F of the training
# pairs and Y = one-hot - 1/M (their Y_train), with:
#   gf_norm_authors    ||(Y - 1/M - F V) V^T||_F   (their dF_norm: no centring over samples)
#   FtF_diag_avg       mean |diagonal| of Ftil^T Ftil (K x K, Ftil = P1 F)
#   FtF_offdiag_avg    mean |off-diagonal entry| of Ftil^T Ftil
#   P1FFt_diag_avg     mean |diagonal| of P1 F F^T (n x n: F F^T with its column means removed)
#   P1FFt_offdiag_avg  mean |off-diagonal entry| of P1 F F^T
#   FFt_dist_ideal     ||F F^T - (a I + b 1 1^T)||_F / ||F F^T||_F, a + b and b the mean
#                      diagonal and off-diagonal entries of the uncentred F F^T
AUTHORS_STATS = ("gf_norm_authors", "FtF_diag_avg", "FtF_offdiag_avg", "P1FFt_diag_avg",
                 "P1FFt_offdiag_avg", "FFt_dist_ideal")

# rows of F F^T formed at a time (the n x n matrix is never held whole)
_ROW_BLOCK = 256


def authors_statistics(F: jax.Array, Y: jax.Array, V: jax.Array) -> dict:
    """The authors' statistics (AUTHORS_STATS) of real ``F (n, K)``, one-hot ``Y (n, M)``
    and ``V (K, M)``. ``F F^T`` is formed in blocks of rows (zero rows pad the last block:
    they add nothing to any sum)."""
    n, M = Y.shape
    G = (Y - 1.0 / M - F @ V) @ V.T
    Ft = centre_samples(F)
    C = Ft.T @ Ft
    K = C.shape[0]
    c_abs_diag = jnp.abs(jnp.diagonal(C))
    out = {"gf_norm_authors": jnp.linalg.norm(G),
           "FtF_diag_avg": jnp.mean(c_abs_diag),
           "FtF_offdiag_avg": (jnp.sum(jnp.abs(C)) - jnp.sum(c_abs_diag)) / (K * (K - 1))}
    # F F^T: diagonal ||F_i||^2, total sum ||sum_i F_i||^2; its column means m_j = mean(F) . F_j
    sq = jnp.sum(F * F, axis=1)
    total = jnp.sum(jnp.sum(F, axis=0) ** 2)
    a_diag = jnp.mean(sq)
    a_off = (total - jnp.sum(sq)) / (n * (n - 1))
    m = F @ jnp.mean(F, axis=0)
    blocks = -(-n // _ROW_BLOCK)
    pad = blocks * _ROW_BLOCK - n
    Fp = jnp.pad(F, ((0, pad), (0, 0))).reshape(blocks, _ROW_BLOCK, -1)
    rows = jnp.arange(blocks * _ROW_BLOCK).reshape(blocks, _ROW_BLOCK)

    def block(carry, xs):
        Fb, r = xs
        A = Fb @ F.T                                        # rows r of F F^T, (b, n)
        on = (r[:, None] == jnp.arange(n)[None, :])
        real = (r < n)[:, None]
        ideal = jnp.where(on, a_diag, a_off)
        resid = jnp.where(real, (A - ideal) ** 2, 0.0)
        cent = jnp.where(real, jnp.abs(A - m[None, :]), 0.0)   # rows of P1 F F^T
        return (carry[0] + jnp.sum(resid), carry[1] + jnp.sum(A * A),
                carry[2] + jnp.sum(jnp.where(on, cent, 0.0)), carry[3] + jnp.sum(cent)), None

    zero = jnp.zeros((), F.dtype)
    (resid, norm2, cdiag, cabs), _ = jax.lax.scan(block, (zero,) * 4, (Fp, rows))
    out["FFt_dist_ideal"] = jnp.sqrt(resid / norm2)
    out["P1FFt_diag_avg"] = cdiag / n
    out["P1FFt_offdiag_avg"] = (cabs - cdiag) / (n * (n - 1))
    return out


def diag_mass(Mat: jax.Array) -> jax.Array:
    """Fraction of the squared Frobenius mass on the diagonal: ``sum_i |A_ii|^2 / sum_ij |A_ij|^2``."""
    d = jnp.diagonal(Mat, axis1=-2, axis2=-1)
    return jnp.sum(jnp.abs(d) ** 2, axis=-1) / jnp.sum(jnp.abs(Mat) ** 2, axis=(-2, -1))


def _gram_sq_norm(A: jax.Array, blocks: int) -> jax.Array:
    """||A^T A||_F^2 for A (n, K), from the products of column blocks on and above the block
    diagonal (A^T A is symmetric): about (blocks + 1) / (2 blocks) of the full product's FLOPs."""
    parts = jnp.array_split(A, blocks, axis=1)
    total = jnp.zeros((), A.dtype)
    for i in range(blocks):
        for j in range(i, blocks):
            P = parts[i].T @ parts[j]
            total = total + (1.0 if i == j else 2.0) * jnp.sum(P * P)
    return total


def gram_diagonality(F: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(diag_mass(Ftil^T Ftil), diag_mass(P1 F F^T))`` of real ``F (n, K)``, without forming
    either Gram matrix (the ``K x K`` node Gram or the ``n x n`` sample Gram).

    With ``C = Ftil^T Ftil``: ``diag(C)`` = column sums of ``Ftil^2``; ``||C||_F^2`` from the
    products of column blocks on and above the diagonal. For ``A = P1 F F^T = Ftil F^T``:
    ``A_ii = <Ftil_i, F_i>`` and, since ``F^T F = C + n mu mu^T`` (``mu`` the mean row of
    ``F``; ``1^T Ftil = 0``), ``||A||_F^2 = sum(C * F^T F) = ||C||_F^2 + n ||Ftil mu||^2``.
    """
    K = F.shape[-1]
    Ft = centre_samples(F)
    c_sq = _gram_sq_norm(Ft, max(1, min(4, K // 512)))
    c_diag = jnp.sum(Ft * Ft, axis=0)
    Ft_mu = Ft @ jnp.mean(F, axis=0)
    d_sample = jnp.sum(Ft * F, axis=-1)
    node = jnp.sum(c_diag * c_diag) / c_sq
    sample = jnp.sum(d_sample * d_sample) / (c_sq + F.shape[0] * (Ft_mu @ Ft_mu))
    return node, sample


def diag_mass_node_gram(F: jax.Array) -> jax.Array:
    """``diag_mass(Ftil^T Ftil)`` (the ``K x K`` node Gram matrix; :func:`gram_diagonality`)."""
    return gram_diagonality(F)[0]


def diag_mass_sample_gram(F: jax.Array) -> jax.Array:
    """``diag_mass(P1 F F^T)`` exactly, without forming the ``n x n`` matrix
    (:func:`gram_diagonality`). Real ``F`` only."""
    return gram_diagonality(F)[1]


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


def node_energy(F: jax.Array, Ytil: jax.Array) -> jax.Array:
    """Energy of every hidden node (Thm 1), normalised by the number of pairs:
    ``E(w_j) = 1/2 ||Ytil^T F_j / n||^2``, ``(K,)``.

    ``F (n, K)``: the nodes' activations ``sigma(X w_j)`` on ``n`` pairs (the caller chooses
    the nodes' scale; `Li2Problem.node_energy` passes unit-norm columns ``w_j / ||w_j||``),
    ``Ytil = P1 Y (n, M)`` on the same pairs. The paper's ``1/2 ||Ytil^T sigma(X w)||^2`` is
    a sum over the ``n`` pairs inside the square, so it grows as ``n^2``; divided by ``n^2``
    it is half the squared norm of the empirical covariance between the centred labels and the
    node's activation, which does not grow with ``n`` (the same pairs twice give the same E).
    """
    n = F.shape[0]
    proj = Ytil.T.astype(F.dtype) @ F / n                      # (M, K)
    return 0.5 * jnp.sum(jnp.abs(proj) ** 2, axis=0)


def _shares(powers: jax.Array) -> jax.Array:
    """powers / their sum over the last axis (0 for an all-zero row)."""
    return powers / jnp.maximum(jnp.sum(powers, axis=-1, keepdims=True), _TINY)


def ipr(powers: jax.Array) -> jax.Array:
    """Inverse participation ratio over the last axis, ``sum p^2 / (sum p)^2``.

    1 for a single non-zero entry, ``1/L`` for ``L`` equal entries, 0 for an all-zero row.
    """
    s = _shares(powers)
    return jnp.sum(s * s, axis=-1)


def gini(powers: jax.Array) -> jax.Array:
    """Gini coefficient over the last axis of non-negative ``powers``, normalised by ``L - 1``
    so that it spans [0, 1]: 1 for a single non-zero entry (one-hot), 0 for equal entries
    (and for an all-zero row).

    With the shares ``x = p / sum p`` sorted ascending and ``i = 1..L``:
    ``G = sum_i (2 i - L - 1) x_i / (L - 1)`` (the mean absolute difference of the entries
    over twice their mean, times ``L / (L - 1)``). ``L >= 2``.
    """
    x = jnp.sort(_shares(powers), axis=-1)
    L = x.shape[-1]
    i = jnp.arange(1, L + 1, dtype=x.dtype)
    return jnp.sum((2 * i - L - 1) * x, axis=-1) / (L - 1)


def accuracy(pred: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows whose argmax over the class axis equals ``labels``."""
    return jnp.mean((jnp.argmax(pred, axis=-1) == labels).astype(jnp.float32))


def node_irrep_power(W: jax.Array, basis: jax.Array, owner: jax.Array) -> jax.Array:
    """Power of each hidden node's input weights in each real irrep, ``(K, L)``.

    ``W (2M, K)``: both input halves (the h1 and h2 embeddings, ``W[:M]`` and ``W[M:]``) are
    functions on the group and their powers add. ``basis (M, M)``: an orthonormal basis
    adapted to the isotypic decomposition (``groups.isotypic_basis``); ``owner (M, L)``:
    one-hot, column j of the basis belongs to irrep ``argmax owner[j]``. A node's powers sum
    to its squared norm (Parseval).
    """
    M = W.shape[0] // 2
    basis = basis.astype(W.dtype)                  # complex W: the promotion made explicit
    coef = (jnp.einsum("mk,mj->kj", W[:M], basis), jnp.einsum("mk,mj->kj", W[M:], basis))
    sq = sum(jnp.abs(c) ** 2 for c in coef)       # (K, M)
    return sq @ owner.astype(sq.dtype)             # (K, L)


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
    loss: Callable[[jax.Array, jax.Array], jax.Array] = cross_entropy,
) -> tuple[jax.Array, jax.Array]:
    """Restricted / excluded loss (after Nanda et al. 2023), on the class axis of the logits.

    Key irreps = the ``k`` irreps with the largest power of ``V``'s (class-centred)
    rows (:func:`key_irreps`, the trivial irrep is never chosen);
    ``Pkeep = sum of their projectors``. Restricted loss: ``loss(logits @ Pkeep, Y)``
    (only the key irreps kept); excluded loss: ``loss(logits @ (I - Pkeep), Y)``
    (key irreps removed). ``loss(pred, Y)`` takes one-hot ``Y`` (default: cross-entropy).
    ``k`` is static (a Python int).
    """
    logits = forward(params, pairs, act)
    M = logits.shape[-1]
    _, Pkeep = key_irreps(params.V, projectors, k)
    Pkeep = jnp.real(Pkeep).astype(logits.dtype)
    Y = one_hot_labels(labels, M, dtype=logits.dtype)
    restricted = loss(logits @ Pkeep, Y)
    excluded = loss(logits @ (jnp.eye(M, dtype=logits.dtype) - Pkeep), Y)
    return restricted, excluded
