"""Irreducible representations of a finite group given by its Cayley table.

:func:`complex_irreps` gives them (cached on the group); three routes, chosen by
:func:`compute_irreps`:

* cyclic (table equal to ``(a + b) mod M``): closed form, irrep j has character
  ``exp(2 pi i j m / M)``; j = 0..M-1 in that order, named ``"trivial"``, ``"k=j"`` for
  j <= M/2 and ``"k=-(M-j)"`` above.
* direct product with ``factors``: tensor (Kronecker) products of the factors' irreps, in
  row-major order over the factors' irrep lists, named ``"(name_1, name_2, ...)"``.
* anything else: a numerical algorithm on the regular representation:
  1. a random Hermitian central element ``H = sum_g a(g) L(g)`` (a a class function with
     ``a(g^{-1}) = conj a(g)``) acts on each isotypic component of C^M as a distinct scalar;
     its eigenspaces (dimension d^2) are the isotypic components, one per irrep;
  2. on an isotypic component the commutant of L is spanned by the right translations
     R(g); a random Hermitian ``Y = sum_g b(g) R(g)`` restricted there has eigenvalues of
     multiplicity d whose eigenspaces are irreducible L-invariant subspaces; take one,
     with an orthonormal basis W (M, d), and read off ``D(g) = W^H L(g) W``.
  Irreps are then ordered canonically (trivial first, then by dimension, a conjugate pair
  adjacent) and named ``"rho1"``, ``"rho2"``, ...

Each route checks its output (number of irreps = number of classes, sum of d^2 = M) and the
numerical route retries with a fresh random draw on failure; random draws use a fixed seed so
results are deterministic.
"""

from __future__ import annotations

import numpy as np

from learndyn.groups.base import FiniteGroup, Irrep, RealIrrep, _readonly
from learndyn.groups.realform import real_form

_SEED = 20250101
_CLUSTER_RTOL = 1e-7


def complex_irreps(group: FiniteGroup) -> list[Irrep]:
    """All complex irreducible representations of ``group``, trivial first (computed once per
    group, cached on it: ``group.cached("irreps", ...)``)."""
    return list(group.cached("irreps", lambda: tuple(compute_irreps(group))))


def compute_irreps(group: FiniteGroup) -> list[Irrep]:
    """All complex irreps of ``group`` (trivial first), computed afresh. Prefer
    :func:`complex_irreps` (cached)."""
    if _is_standard_cyclic(group):
        return cyclic_irreps(group.order)
    if len(group.factors) >= 2 and _factors_match(group):
        return product_irreps(group)
    return numerical_irreps(group)


def _is_standard_cyclic(group: FiniteGroup) -> bool:
    a = np.arange(group.order)
    return bool(np.array_equal(group.table, (a[:, None] + a[None, :]) % group.order))


def _factors_match(group: FiniteGroup) -> bool:
    table = group.factors[0].table
    for g in group.factors[1:]:
        m, n = table.shape[0], g.order
        table = (table[:, None, :, None] * n + g.table[None, :, None, :]).reshape(m * n, m * n)
    return table.shape == group.table.shape and bool(np.array_equal(table, group.table))


def _make_irrep(name: str, matrices: np.ndarray, group_squares: np.ndarray, rng: np.random.Generator) -> Irrep:
    """Assemble an Irrep from its (M, d, d) matrices; ``group_squares[g]`` is the index of g^2."""
    matrices = np.ascontiguousarray(matrices, dtype=np.complex128)
    character = np.trace(matrices, axis1=1, axis2=2).copy()
    indicator = int(np.rint(np.mean(character[group_squares]).real))
    rf = real_form(matrices, indicator, rng)
    return Irrep(
        name=name,
        dim=int(matrices.shape[-1]),
        matrices=_readonly(matrices),
        character=_readonly(character),
        indicator=indicator,
        real_form=_readonly(rf),
    )


def cyclic_irreps(M: int) -> list[Irrep]:
    """Closed-form irreps of Z_M: irrep j (j = 0..M-1) maps m to ``exp(2 pi i j m / M)``."""
    m = np.arange(M)
    out = []
    squares = (2 * m) % M
    rng = np.random.default_rng(_SEED)
    for j in range(M):
        phase = np.exp(2j * np.pi * ((j * m) % M) / M)
        if j == 0:
            name = "trivial"
        elif 2 * j <= M:
            name = f"k={j}"
        else:
            name = f"k=-{M - j}"
        out.append(_make_irrep(name, phase[:, None, None], squares, rng))
    return out


def product_irreps(group: FiniteGroup) -> list[Irrep]:
    """Irreps of a direct product (``group.factors``) as tensor products of the factors'
    irreps, row-major over the factors' irrep lists (so the trivial irrep is first)."""
    rng = np.random.default_rng(_SEED)
    squares = group.table[np.arange(group.order), np.arange(group.order)]
    combos: list[tuple[tuple[str, ...], np.ndarray]] = [((), np.ones((1, 1, 1), np.complex128))]
    for factor in group.factors:
        new = []
        for names, mats in combos:
            for ir in complex_irreps(factor):
                m, n = mats.shape[0], factor.order
                d = mats.shape[-1] * ir.dim
                kron = np.einsum("gab,hcd->ghacbd", mats, ir.matrices).reshape(m * n, d, d)
                new.append(((*names, ir.name), kron))
        combos = new
    out = []
    for names, mats in combos:
        label = "trivial" if all(p == "trivial" for p in names) else "(" + ", ".join(names) + ")"
        out.append(_make_irrep(label, mats, squares, rng))
    return out


def numerical_irreps(group: FiniteGroup, seed: int = _SEED, tries: int = 6) -> list[Irrep]:
    """Irreps of any finite group from its Cayley table (regular-representation algorithm)."""
    rng = np.random.default_rng(seed)
    last_err = ""
    for _ in range(tries):
        try:
            return _numerical_irreps_once(group, rng)
        except _RetryError as err:  # unlucky random draw: degenerate eigenvalues
            last_err = str(err)
    raise RuntimeError(f"irrep computation for {group.name!r} failed: {last_err}")


class _RetryError(Exception):
    pass


def _clusters(w: np.ndarray, tol: float) -> list[np.ndarray]:
    """Split sorted eigenvalues into runs separated by gaps larger than tol."""
    breaks = np.nonzero(np.diff(w) > tol)[0] + 1
    return np.split(np.arange(w.size), breaks)


def _numerical_irreps_once(group: FiniteGroup, rng: np.random.Generator) -> list[Irrep]:
    m = group.order
    t = group.table
    inv = group.inverse
    e = group.identity
    cls = group.class_index
    n_cls = int(cls.max()) + 1

    # 1. Hermitian central element H[x, h] = a(x h^{-1}); isotypic components = eigenspaces.
    c = rng.normal(size=n_cls) + 1j * rng.normal(size=n_cls)
    a = c[cls] + np.conj(c[cls[inv]])
    h_mat = a[t[:, inv]]
    w, v = np.linalg.eigh(h_mat)
    tol = _CLUSTER_RTOL * max(1.0, float(np.abs(w).max()))
    clusters = _clusters(w, tol)
    if len(clusters) != n_cls:
        raise _RetryError(f"found {len(clusters)} isotypic components, expected {n_cls} classes")

    # Right-translation Hermitian element Y[h, k] = b(h^{-1} k) commutes with every L(g).
    cb = rng.normal(size=m) + 1j * rng.normal(size=m)
    b = cb + np.conj(cb[inv])
    y_mat = b[t[inv[:, None], np.arange(m)[None, :]]]

    li = t[inv]  # li[g, x] = g^{-1} x, so (L(g) W)[x] = W[li[g, x]]
    squares = t[np.arange(m), np.arange(m)]
    raw = []
    for idx in clusters:
        mult = idx.size
        d = int(round(np.sqrt(mult)))
        if d * d != mult:
            raise _RetryError(f"isotypic component of dimension {mult} is not a square")
        u = v[:, idx]
        # 2. split off one irreducible copy with the commutant element Y.
        yk = u.conj().T @ y_mat @ u
        wy, zy = np.linalg.eigh(0.5 * (yk + yk.conj().T))
        ytol = _CLUSTER_RTOL * max(1.0, float(np.abs(wy).max()))
        if wy[d - 1] - wy[0] > ytol or (mult > d and wy[d] - wy[d - 1] <= ytol):
            raise _RetryError("commutant eigenvalues not in groups of d")
        wbasis = u @ zy[:, :d]
        mats = np.einsum("xi,gxj->gij", wbasis.conj(), wbasis[li])
        chi = np.trace(mats, axis1=1, axis2=2)
        if abs(chi[e] - d) > 1e-6:
            raise _RetryError("irreducible block has the wrong character at the identity")
        raw.append(mats)

    if sum(mm.shape[-1] ** 2 for mm in raw) != m:
        raise _RetryError("sum of squared dimensions differs from the group order")
    ordered = _canonical_order(raw, e)
    out = []
    for i, mats in enumerate(ordered):
        name = "trivial" if i == 0 else f"rho{i}"
        out.append(_make_irrep(name, mats, squares, rng))
    return out


def _canonical_order(raw: list[np.ndarray], e: int) -> list[np.ndarray]:
    """Order irreps: trivial first, then by dimension and a canonical character key, with
    each complex-type irrep followed by its conjugate."""
    chars = [np.trace(mm, axis1=1, axis2=2) for mm in raw]

    def key(i: int) -> tuple:
        chi = np.round(chars[i], 6) + 0.0  # + 0.0 turns -0.0 into 0.0
        not_trivial = not np.allclose(chars[i], 1.0, atol=1e-6)
        complex_type = bool(np.abs(chars[i].imag).max() > 1e-6)
        # canonical: real parts descending, then |imag| (conjugates share this key)
        return (not_trivial, raw[i].shape[-1], complex_type, tuple(-chi.real), tuple(-np.abs(chi.imag)))

    order = sorted(range(len(raw)), key=key)
    result: list[int] = []
    used = set()
    for i in order:
        if i in used:
            continue
        used.add(i)
        result.append(i)
        partner = _find_conjugate(chars, i)
        if partner != i and partner not in used:
            # within a pair, put first the one whose first non-real character value has Im > 0
            nz = np.nonzero(np.abs(chars[i].imag) > 1e-6)[0]
            if chars[i][nz[0]].imag < 0:
                result[-1] = partner
                result.append(i)
            else:
                result.append(partner)
            used.add(partner)
    return [raw[i] for i in result]


def _find_conjugate(chars: list[np.ndarray], i: int) -> int:
    target = np.conj(chars[i])
    dist = [float(np.abs(c - target).max()) for c in chars]
    j = int(np.argmin(dist))
    if dist[j] > 1e-6:
        raise _RetryError("no conjugate partner found for a character")
    return j


def real_irreps(group: FiniteGroup) -> list[RealIrrep]:
    """Group the complex irreps of ``group`` into irreducible representations over R.

    A complex-type irrep is grouped with its conjugate (members ``(i, j)``, i < j); real and
    quaternionic irreps stand alone. Ordered by first member, so the trivial irrep is first,
    and for Z_M real irrep k (k = 0..floor(M/2)) is frequency k. Cached on the group.
    """

    def compute() -> tuple[RealIrrep, ...]:
        irs = complex_irreps(group)
        chars = [ir.character for ir in irs]
        out = []
        seen: set[int] = set()
        for i, ir in enumerate(irs):
            if i in seen:
                continue
            target = np.conj(ir.character)
            dist = [float(np.abs(c - target).max()) for c in chars]
            j = int(np.argmin(dist))
            if dist[j] > 1e-6:
                raise RuntimeError(f"irrep {ir.name!r} of {group.name!r} has no conjugate partner")
            if j == i or ir.indicator != 0:
                kind = "real" if ir.indicator == 1 else "quaternionic"
                out.append(RealIrrep(name=ir.name, members=(i,), dim=ir.dim, kind=kind))
                seen.add(i)
            else:
                out.append(RealIrrep(name=ir.name, members=(i, j), dim=ir.dim, kind="complex"))
                seen.update((i, j))
        return tuple(out)

    return list(group.cached("real_irreps", compute))
