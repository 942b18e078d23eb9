"""Group-arithmetic data sets: all pairs ``(h1, h2)`` labelled by ``h1 * h2``.

:func:`all_pairs` is host-side NumPy (the data is tiny: ``M^2`` pairs) and takes a
plain multiplication table ``table: (M, M) int`` with ``table[a, b]`` = index of
``a * b``, so it does not depend on :mod:`learndyn.groups`. :func:`split_pairs` is THE
train/test split of the Li2 world (``Li2Problem.split`` calls it): a JAX function of its key,
so it also runs under ``jit`` / ``vmap`` with a traced key.

Pair ordering: pair index ``i = a * M + b`` holds ``(a, b)`` (row-major over the
table), so ``labels == table.reshape(-1)``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.errors import ConfigError

__all__ = ["all_pairs", "split_pairs", "critical_ratio", "CRITICAL_CONSTANT"]

#: Constant of the reference code's critical split, ``test_size = 1 - (d/2)(c - delta) ln M / M``.
CRITICAL_CONSTANT = 2.7482


def _check_table(table) -> np.ndarray:
    t = np.asarray(table)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 1:
        raise ConfigError("table", f"must be a square (M, M) int array, got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise ConfigError("table", f"must have an integer dtype, got {t.dtype}")
    m = t.shape[0]
    if t.min() < 0 or t.max() >= m:
        raise ConfigError("table", f"entries must lie in [0, {m - 1}]")
    return t


def all_pairs(table) -> tuple[np.ndarray, np.ndarray]:
    """All ``M^2`` pairs of a group and their products.

    Args:
      table: ``(M, M)`` integer multiplication table, ``table[a, b] = a * b``.

    Returns:
      ``(pairs, labels)``: ``pairs`` is ``(M^2, 2) int32`` with row ``a*M + b`` equal
      to ``(a, b)``; ``labels`` is ``(M^2,) int32`` with ``labels[a*M + b] = table[a, b]``.
      Both are NumPy arrays (JAX functions accept them directly).
    """
    t = _check_table(table)
    m = t.shape[0]
    a, b = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    pairs = np.stack([a.reshape(-1), b.reshape(-1)], axis=1).astype(np.int32)
    labels = t.reshape(-1).astype(np.int32)
    return pairs, labels


def _n_total(pairs_or_count) -> int:
    if isinstance(pairs_or_count, Integral) and not isinstance(pairs_or_count, bool):
        n_total = int(pairs_or_count)
    else:
        arr = np.asarray(pairs_or_count)
        if arr.ndim == 0:
            n_total = int(arr)
        else:
            n_total = int(arr.shape[0])
    if n_total < 2:
        raise ConfigError("pairs", f"need at least 2 pairs to split, got {n_total}")
    return n_total


def split_pairs(
    pairs_or_count,
    *,
    seed: int | None = None,
    key: jax.Array | None = None,
    ratio: float | None = None,
    n: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Uniform random train/test split of the pair indices, without replacement.

    The split is ``perm[:n_train], perm[n_train:]`` with ``perm =
    jax.random.permutation(key, N)``: the training pairs in the order the permutation draws
    them (not sorted; the training loss sums over them in this order).

    Args:
      pairs_or_count: the ``(N, 2)`` pairs array (only its length is used) or the
        number of pairs ``N`` (``M^2`` for the full data set).
      seed: integer seed; converted to ``jax.random.key(seed)``. Give exactly one
        of ``seed`` / ``key``.
      key: a JAX PRNG key (it may be traced: the split then runs under jit / vmap).
      ratio: training fraction in ``(0, 1)``; the train size is
        ``floor(ratio * N)`` (up to a 1e-9 tolerance for float round-off).
      n: training set size in ``[1, N - 1]``. Give exactly one of ``ratio`` / ``n``.

    Returns:
      ``(train_idx (n_train,), test_idx (N - n_train,))``: disjoint ``int32`` JAX arrays whose
      union is ``0..N-1``. The same seed/key always gives the same split.

    Raises:
      ConfigError: bad ``ratio`` / ``n`` / ``seed`` combination.
    """
    n_total = _n_total(pairs_or_count)
    if (ratio is None) == (n is None):
        raise ConfigError("ratio", "give exactly one of ratio (train fraction in (0, 1)) or n (train size)")
    if (seed is None) == (key is None):
        raise ConfigError("seed", "give exactly one of seed (int) or key (jax PRNG key)")
    if ratio is not None:
        if isinstance(ratio, bool) or not isinstance(ratio, Real) or not (0.0 < float(ratio) < 1.0):
            raise ConfigError("ratio", f"must be a number in the open interval (0, 1), got {ratio!r}")
        n_train = int(math.floor(float(ratio) * n_total + 1e-9))
        if not (1 <= n_train <= n_total - 1):
            raise ConfigError(
                "ratio", f"{ratio!r} gives {n_train} training pairs out of {n_total}; need 1..{n_total - 1}"
            )
    else:
        if isinstance(n, bool) or not isinstance(n, Integral) or not (1 <= int(n) <= n_total - 1):
            raise ConfigError("n", f"must be an integer in [1, {n_total - 1}], got {n!r}")
        n_train = int(n)
    if key is None:
        if isinstance(seed, bool) or not isinstance(seed, Integral):
            raise ConfigError("seed", f"must be an integer, got {seed!r}")
        key = jax.random.key(int(seed))
    perm = jax.random.permutation(key, n_total).astype(jnp.int32)
    return perm[:n_train], perm[n_train:]


def critical_ratio(M: int, d_max: float = 1, delta: float = 0.0) -> float:
    """Training ratio of the reference code's critical split.

    The reference code sets ``test_size = 1 - (d_max / 2) (2.7482 - delta) ln(M) / M``
    (the "critical" data size scaling ``~ M log M`` samples for ``M^2`` pairs);
    this returns the TRAIN ratio ``1 - test_size = (d_max / 2)(2.7482 - delta) ln(M) / M``.

    Raises:
      ConfigError: ``M < 2``, ``d_max <= 0``, or a resulting ratio outside ``(0, 1)``.
    """
    if isinstance(M, bool) or not isinstance(M, Integral) or M < 2:
        raise ConfigError("M", f"must be an integer >= 2, got {M!r}")
    if isinstance(d_max, bool) or not isinstance(d_max, Real) or not (float(d_max) > 0):
        raise ConfigError("d_max", f"must be a positive number, got {d_max!r}")
    if isinstance(delta, bool) or not isinstance(delta, Real) or not math.isfinite(float(delta)):
        raise ConfigError("delta", f"must be a finite number, got {delta!r}")
    test_size = 1.0 - (float(d_max) / 2.0) * (CRITICAL_CONSTANT - float(delta)) * math.log(M) / M
    train = 1.0 - test_size
    if not (0.0 < train < 1.0):
        raise ConfigError(
            "d_max",
            f"M={M}, d_max={d_max}, delta={delta} give train ratio {train:.4g}; allowed: a ratio in (0, 1)",
        )
    return train
