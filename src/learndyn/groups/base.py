"""Core data types: a finite group given by its Cayley table, its irreps, its real irreps.

Conventions used throughout ``learndyn.groups``:

* Elements are the integers ``0..M-1``; ``table[a, b]`` is the index of ``a * b``.
* A function on the group is an array ``f`` of shape ``(..., M)``.
* The left regular action is ``(L(g) f)(h) = f(g^{-1} h)``; as a matrix ``L(g)[g h, h] = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Literal, Sequence

import numpy as np

RealKind = Literal["real", "complex", "quaternionic"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class FiniteGroup:
    """A finite group given by its Cayley table.

    Attributes (read-only):
        name: human-readable name, e.g. ``"Z4xZ7"``.
        table: (M, M) int64, read-only; ``table[a, b]`` is the index of ``a * b``.
            Constructors put the identity at index 0 (preferred, not required; see ``identity``).
        elements: M labels, one per element (default ``"0" .. "M-1"``).
        factors: for a direct product built by :func:`product`, the factor groups (element
            index is row-major over the factors); empty otherwise.

    Equality and hashing use ``name`` and ``table`` only. The table is validated for shape
    only here; use :func:`learndyn.groups.from_cayley_table` to validate the group axioms.

    Nothing about a group changes after construction. Derived data is computed on first use
    and cached on the instance, in two explicit places: the group's own structure (inverse,
    classes, ...) in ``functools.cached_property`` attributes, and data that other modules
    compute from it (irreps, projectors: ``learndyn.groups.irreps`` / ``power``) in
    :meth:`cached`. This module knows nothing of representations.
    """

    def __init__(self, name: str, table: Any, elements: Sequence[str] = (),
                 factors: Sequence["FiniteGroup"] = ()) -> None:
        table = np.array(table, dtype=np.int64, copy=True)
        if table.ndim != 2 or table.shape[0] != table.shape[1] or table.shape[0] < 1:
            raise ValueError(f"table must be a non-empty (M, M) array, got shape {table.shape}")
        m = table.shape[0]
        labels = tuple(str(e) for e in elements) if len(elements) else tuple(str(i) for i in range(m))
        if len(labels) != m:
            raise ValueError(f"elements must have {m} labels, got {len(labels)}")
        self._name = name
        self._table = _readonly(table)
        self._elements = labels
        self._factors = tuple(factors)
        self._derived: dict[str, Any] = {}   # cached(): data other modules derive

    @property
    def name(self) -> str:
        return self._name

    @property
    def table(self) -> np.ndarray:
        return self._table

    @property
    def elements(self) -> tuple[str, ...]:
        return self._elements

    @property
    def factors(self) -> tuple["FiniteGroup", ...]:
        return self._factors

    # -- identity / equality -------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FiniteGroup):
            return NotImplemented
        return self.name == other.name and np.array_equal(self.table, other.table)

    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.name, self.table.shape, self.table.tobytes()))

    def __repr__(self) -> str:
        return f"FiniteGroup(name={self.name!r}, order={self.order})"

    # -- basic structure -----------------------------------------------------------------
    @property
    def order(self) -> int:
        """M, the number of elements."""
        return int(self.table.shape[0])

    @cached_property
    def identity(self) -> int:
        """Index e of the identity (the element whose row is ``0..M-1``); 0 for all constructors."""
        rows = np.nonzero((self.table == np.arange(self.order)[None, :]).all(axis=1))[0]
        if rows.size == 0:
            raise ValueError(f"group {self.name!r} has no identity element")
        return int(rows[0])

    @cached_property
    def inverse(self) -> np.ndarray:
        """(M,) int; ``inverse[a]`` is the index of ``a^{-1}``."""
        hits = self.table == self.identity
        if not (hits.sum(axis=1) == 1).all():
            raise ValueError(f"group {self.name!r}: some element has no unique inverse")
        return _readonly(np.argmax(hits, axis=1).astype(np.int64))

    @cached_property
    def is_abelian(self) -> bool:
        return bool(np.array_equal(self.table, self.table.T))

    @cached_property
    def class_index(self) -> np.ndarray:
        """(M,) int; conjugacy-class id of each element, classes numbered by first element."""
        m = self.order
        # conj[x, g] = x g x^{-1}
        conj = self.table[self.table, self.inverse[:, None]]
        ids = np.full(m, -1, dtype=np.int64)
        n = 0
        for g in range(m):
            if ids[g] < 0:
                ids[conj[:, g]] = n
                n += 1
        return _readonly(ids)

    def conjugacy_classes(self) -> list[tuple[int, ...]]:
        """Conjugacy classes as tuples of element indices; the identity's class comes first
        when the identity is element 0."""
        ids = self.class_index
        return [tuple(int(i) for i in np.nonzero(ids == c)[0]) for c in range(int(ids.max()) + 1)]

    # -- data derived elsewhere ------------------------------------------------------------
    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, computed once per group instance and kept under ``key``: how other
        modules cache what they derive from the table (``"irreps"``, ``"irrep_projectors"``,
        ...). ``compute`` must depend on the group alone and return read-only data."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]


@dataclass(frozen=True, eq=False)
class Irrep:
    """A complex irreducible unitary representation of a finite group.

    Attributes:
        name: e.g. ``"trivial"``, ``"k=3"`` (cyclic frequency), ``"rho2"``, or a tuple-like
            ``"(k=1, rho1)"`` for tensor products over the factors of a direct product.
        dim: d.
        matrices: (M, d, d) complex128, unitary, ``matrices[table[a, b]] == matrices[a] @ matrices[b]``.
        character: (M,) complex128, the traces of ``matrices``.
        indicator: Frobenius-Schur indicator ``(1/M) sum_g chi(g^2)``: +1 real type,
            0 complex type, -1 quaternionic type.
        real_form: a real orthogonal representation related to ``matrices``:
            * indicator +1: (M, d, d) real, ``real_form[g] = S @ matrices[g] @ S^H`` for a unitary S,
              i.e. a real form of the same (equivalent) representation.
            * indicator 0 or -1: (M, 2d, 2d) real, the realification
              ``[[Re D, -Im D], [Im D, Re D]]`` of ``D = matrices[g]`` (irreducible over R). The
              conjugate partner's realification is equivalent to it over R (conjugate by
              ``diag(I, -I)``), so both members of a complex pair give the same real irrep.
    """

    name: str
    dim: int
    matrices: np.ndarray
    character: np.ndarray
    indicator: int
    real_form: np.ndarray

    def __repr__(self) -> str:
        return f"Irrep(name={self.name!r}, dim={self.dim}, indicator={self.indicator})"


@dataclass(frozen=True)
class RealIrrep:
    """An irreducible representation over R, as a group of complex irreps.

    Real-valued functions on the group decompose into isotypic components indexed by these.

    Attributes:
        name: name of the first member irrep (``"trivial"``, ``"k=3"``, ``"rho2"``, ...).
        members: indices into ``complex_irreps(group)``: one index for real/quaternionic type, two
            (the irrep and its complex conjugate) for complex type.
        dim: d, the dimension of the complex member irrep(s).
        kind: ``"real"``, ``"complex"`` or ``"quaternionic"``.
    """

    name: str
    members: tuple[int, ...]
    dim: int
    kind: RealKind

    @property
    def isotypic_dim(self) -> int:
        """Dimension of this real irrep's isotypic subspace of R^M: sum of d^2 over members."""
        return len(self.members) * self.dim * self.dim

    @property
    def real_dim(self) -> int:
        """Dimension over R of the real irreducible representation: d (real) or 2d (otherwise)."""
        return self.dim if self.kind == "real" else 2 * self.dim


def labels_product(groups: Sequence[FiniteGroup]) -> tuple[str, ...]:
    """Row-major labels ``"(a,b,...)"`` for the direct product of ``groups``."""
    out: list[str] = [""]
    for g in groups:
        out = [f"{p},{e}" if p else e for p in out for e in g.elements]
    return tuple(f"({s})" for s in out)
