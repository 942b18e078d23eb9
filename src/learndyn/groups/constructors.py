"""Constructors for finite groups: cyclic, direct products, dihedral, dicyclic, custom tables."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from learndyn.errors import ConfigError
from learndyn.groups.base import FiniteGroup, labels_product

MAX_ORDER = 4096
"""Largest group order the constructors accept (the Cayley table is M*M int64)."""

_TABLE_ALLOWED = "allowed: an (M, M) integer Cayley table of a group (entries in 0..M-1, associative, with identity and inverses)"


def _check_param(field: str, value: int, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ConfigError(field, f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_order(order: int, name: str) -> None:
    if order > MAX_ORDER:
        raise ConfigError("group", f"{name} has order {order}; allowed: order at most {MAX_ORDER}")


def cyclic(M: int) -> FiniteGroup:
    """Cyclic group Z_M: elements 0..M-1, ``table[a, b] = (a + b) mod M``.

    Returns:
        FiniteGroup named ``"Z<M>"`` with table (M, M) int.
    """
    M = _check_param("group", M, "cyclic order M")
    _check_order(M, f"Z{M}")
    a = np.arange(M)
    return FiniteGroup(name=f"Z{M}", table=(a[:, None] + a[None, :]) % M)


def dihedral(n: int) -> FiniteGroup:
    """Dihedral group D_n of ORDER 2n: the symmetries of the regular n-gon.

    Element ``s^e r^k`` (e in {0, 1}, k in 0..n-1) has index ``e*n + k``; r is the rotation,
    s a reflection, with ``r s = s r^{-1}``. D_1 = Z_2, D_2 = Z_2 x Z_2.

    Returns:
        FiniteGroup named ``"D<n>"`` with table (2n, 2n) int.
    """
    n = _check_param("group", n, "dihedral parameter n")
    _check_order(2 * n, f"D{n}")
    e = np.repeat([0, 1], n)
    k = np.tile(np.arange(n), 2)
    # (s^e1 r^k1)(s^e2 r^k2) = s^(e1+e2) r^((-1)^e2 k1 + k2)
    e1, e2 = e[:, None], e[None, :]
    k1, k2 = k[:, None], k[None, :]
    e3 = (e1 + e2) % 2
    k3 = (np.where(e2 == 1, -k1, k1) + k2) % n
    labels = [f"r^{j}" for j in range(n)] + [f"s r^{j}" for j in range(n)]
    return FiniteGroup(name=f"D{n}", table=e3 * n + k3, elements=tuple(labels))


def dicyclic(n: int) -> FiniteGroup:
    """Dicyclic group Dic_n of order 4n: ``<a, x | a^{2n} = 1, x^2 = a^n, x^{-1} a x = a^{-1}>``.

    Element ``x^e a^k`` (e in {0, 1}, k in 0..2n-1) has index ``e*2n + k``. Dic_1 = Z_4,
    Dic_2 = Q8 (quaternions); for n a power of 2 it is the generalised quaternion group Q_{4n}.

    Returns:
        FiniteGroup named ``"Dic<n>"`` with table (4n, 4n) int.
    """
    n = _check_param("group", n, "dicyclic parameter n")
    _check_order(4 * n, f"Dic{n}")
    e = np.repeat([0, 1], 2 * n)
    k = np.tile(np.arange(2 * n), 2)
    # (x^e1 a^k1)(x^e2 a^k2) = x^(e1+e2) a^((-1)^e2 k1 + k2), and x^2 = a^n is central.
    e1, e2 = e[:, None], e[None, :]
    k1, k2 = k[:, None], k[None, :]
    e3 = (e1 + e2) % 2
    k3 = (np.where(e2 == 1, -k1, k1) + k2 + n * (e1 * e2)) % (2 * n)
    labels = [f"a^{j}" for j in range(2 * n)] + [f"x a^{j}" for j in range(2 * n)]
    return FiniteGroup(name=f"Dic{n}", table=e3 * 2 * n + k3, elements=tuple(labels))


def product(*groups: FiniteGroup) -> FiniteGroup:
    """Direct product G_1 x ... x G_k.

    Element ``(g_1, ..., g_k)`` has the row-major index
    ``np.ravel_multi_index((g_1, ..., g_k), (M_1, ..., M_k))``; nested products are flattened
    into ``factors``. The identity is at index 0 when every factor has it at 0.

    Returns:
        FiniteGroup named ``"G1xG2x..."`` with table (M, M) int, M = prod M_i.
    """
    if len(groups) == 0:
        raise ConfigError("group", "product of no groups; allowed: one or more FiniteGroup arguments")
    for g in groups:
        if not isinstance(g, FiniteGroup):
            raise ConfigError("group", f"product argument {g!r} is not a group; allowed: FiniteGroup instances")
    if len(groups) == 1:
        return groups[0]
    flat: list[FiniteGroup] = []
    for g in groups:
        flat.extend(g.factors if g.factors else (g,))
    order = int(np.prod([g.order for g in flat]))
    name = "x".join(g.name for g in groups)
    _check_order(order, name)
    table = flat[0].table
    for g in flat[1:]:
        m, n = table.shape[0], g.order
        table = (table[:, None, :, None] * n + g.table[None, :, None, :]).reshape(m * n, m * n)
    return FiniteGroup(name=name, table=table, elements=labels_product(flat), factors=tuple(flat))


def from_cayley_table(
    table: np.ndarray | Sequence[Sequence[int]],
    name: str = "custom",
    elements: Sequence[str] = (),
) -> FiniteGroup:
    """Build a group from a Cayley table after checking the group axioms.

    Args:
        table: (M, M) int; ``table[a, b]`` is the index of ``a * b``. The identity may be any
            index (``FiniteGroup.identity`` finds it); index 0 is conventional.
        name: the group's name.
        elements: optional M labels.

    Raises:
        ConfigError("table", ...): not square / not integer / out of range, not closed,
            not associative, no identity, or missing inverses.
    """
    arr = np.asarray(table)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ConfigError("table", f"shape {arr.shape} is not (M, M) with M >= 1; {_TABLE_ALLOWED}")
    if not (np.issubdtype(arr.dtype, np.integer) or (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)))):
        raise ConfigError("table", f"entries have dtype {arr.dtype}, not integers; {_TABLE_ALLOWED}")
    m = arr.shape[0]
    if m > MAX_ORDER:
        raise ConfigError("table", f"order {m} exceeds {MAX_ORDER}; {_TABLE_ALLOWED}")
    t = arr.astype(np.int64)
    if t.min() < 0 or t.max() >= m:
        raise ConfigError("table", f"not closed: entries must lie in 0..{m - 1}; {_TABLE_ALLOWED}")
    step = max(1, 4_000_000 // (m * m))  # rows of a per block, to bound memory
    for a0 in range(0, m, step):
        a_idx = np.arange(a0, min(m, a0 + step))
        left = t[t[a_idx, :, None], np.arange(m)[None, None, :]]  # (a*b)*c, indexed [a, b, c]
        right = t[a_idx[:, None, None], t[None, :, :]]  # a*(b*c)
        bad = np.argwhere(left != right)
        if bad.size:
            a, b, c = int(a_idx[bad[0][0]]), int(bad[0][1]), int(bad[0][2])
            raise ConfigError("table", f"not associative: (a*b)*c != a*(b*c) at a={a}, b={b}, c={c}; {_TABLE_ALLOWED}")
    ident = np.nonzero((t == np.arange(m)[None, :]).all(axis=1) & (t == np.arange(m)[:, None]).all(axis=0))[0]
    if ident.size == 0:
        raise ConfigError("table", f"no identity element e with e*a = a*e = a; {_TABLE_ALLOWED}")
    e = int(ident[0])
    has_inv = ((t == e) & (t.T == e)).any(axis=1)
    if not has_inv.all():
        a = int(np.nonzero(~has_inv)[0][0])
        raise ConfigError("table", f"element {a} has no inverse; {_TABLE_ALLOWED}")
    return FiniteGroup(name=str(name), table=t, elements=tuple(elements))
