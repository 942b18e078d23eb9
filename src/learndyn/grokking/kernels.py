"""Fast pieces of the Li2 network's training step (speed only: the numbers are those of
`model.hidden` and a plain ``F @ V``).

The hidden layer's input X W is a gather of rows of W (`model.hidden`); its gradient is a
segment sum of rows. Under vmap (the trainer always vmaps over runs) XLA:CPU turns a gather
whose operand AND indices carry the run axis into a generic batched gather that is several
times slower than a plain one (likewise the scatter of its gradient). The rules below fold the
run axis into the row axis instead: one plain gather from the (runs * rows, K) matrix.

    pair_layer(rows, act)(W, i1, i2) = act(W[i1] + W[i2])    W: (rows, K), i1, i2: (n,)
    matmul(F, V) = F @ V                                     F: (n, K), V: (K, M)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["matmul", "pair_layer", "segment_rows", "take_rows"]


def _fold_runs(axis_size, rows, idx, idx_batched):
    """Indices into the run-folded (axis_size * rows, ...) matrix, (axis_size, ...)."""
    if not idx_batched:
        idx = jnp.broadcast_to(idx, (axis_size,) + idx.shape)
    off = rows * jnp.arange(axis_size, dtype=idx.dtype)
    return idx + off.reshape((axis_size,) + (1,) * (idx.ndim - 1))


@jax.custom_batching.custom_vmap
def take_rows(W, idx):
    """W[idx] (rows of W). W: (rows, ...), idx: (n,) -> (n, ...)."""
    return W[idx]


@take_rows.def_vmap
def _take_rows_vmap(axis_size, in_batched, W, idx):
    W_b, idx_b = in_batched
    if not W_b:
        return W[idx], idx_b
    rows = W.shape[1]
    flat = W.reshape((axis_size * rows,) + W.shape[2:])
    return flat[_fold_runs(axis_size, rows, idx, idx_b)], True


@functools.lru_cache(maxsize=None)
def segment_rows(rows: int):
    """G (n, ...), idx (n,) -> (rows, ...): sum of the rows of G with the same index."""

    @jax.custom_batching.custom_vmap
    def seg(G, idx):
        return jax.ops.segment_sum(G, idx, num_segments=rows)

    @seg.def_vmap
    def seg_vmap(axis_size, in_batched, G, idx):
        G_b, idx_b = in_batched
        if not G_b:
            G = jnp.broadcast_to(G, (axis_size,) + G.shape)
        flat = jax.ops.segment_sum(G.reshape((-1,) + G.shape[2:]),
                                   _fold_runs(axis_size, rows, idx, idx_b).reshape(-1),
                                   num_segments=axis_size * rows)
        return flat.reshape((axis_size, rows) + G.shape[2:]), True

    return seg


@functools.lru_cache(maxsize=None)
def pair_layer(rows: int, act):
    """(W, i1, i2) -> act(W[i1] + W[i2]) (W has `rows` rows), with a reverse pass that
    recomputes the pre-activation from W (small, in cache) instead of keeping the (n, K)
    gathers: dH = act'(H) * g is then one pass over g, and dW its segment sums."""
    seg = segment_rows(rows)

    def pre(W, i1, i2):
        return take_rows(W, i1) + take_rows(W, i2)

    @jax.custom_vjp
    def layer(W, i1, i2):
        return act(pre(W, i1, i2))

    def fwd(W, i1, i2):
        return layer(W, i1, i2), (W, i1, i2)

    def bwd(res, g):
        W, i1, i2 = res
        # the barrier keeps XLA from merging this gather with the forward one (it would then
        # store the (n, K) gathers instead of fusing them into their consumers)
        _, act_vjp = jax.vjp(act, pre(jax.lax.optimization_barrier(W), i1, i2))
        (dH,) = act_vjp(g)
        return seg(dH, i1) + seg(dH, i2), None, None

    layer.defvjp(fwd, bwd)
    return layer


@jax.custom_vjp
def matmul(F, V):
    """F @ V, with a reverse pass laid out for XLA:CPU's fast matmul kernels."""
    return F @ V


def _matmul_fwd(F, V):
    return F @ V, (F, V)


def _matmul_bwd(res, g):
    # dV = F^T g contracts over F's LEADING axis; XLA:CPU runs that layout on a generic kernel
    # at about a third of its matmul speed. (g^T F)^T with g^T (M x n, small) materialised is
    # the same sum in the fast layout; the barriers stop XLA folding the two transposes back
    # into the product.
    F, V = res
    gT = jax.lax.optimization_barrier(g.T)
    dV = jax.lax.optimization_barrier(gT @ F).T
    return g @ V.T, dV


matmul.defvjp(_matmul_fwd, _matmul_bwd)
