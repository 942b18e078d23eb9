"""Tests for learndyn.groups: group axioms, irreps, real forms, isotypic power, parsing.

Tolerances: 1e-9 (absolute, on O(1) quantities) for float64 algebraic identities such as
homomorphism, unitarity and orthogonality relations; 1e-10 relative for Parseval and for the
single-frequency / FFT comparisons; 1e-6 where a quantity is rounded to an integer.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from learndyn.errors import ConfigError
from learndyn.groups import (
    FiniteGroup,
    complex_irreps,
    cyclic,
    dicyclic,
    dihedral,
    fourier_basis,
    from_cayley_table,
    irrep_power,
    irrep_projectors,
    isotypic_basis,
    parse_group,
    product,
    real_irreps,
)
from learndyn.groups.irreps import numerical_irreps

TOL = 1e-9


# -- helpers -------------------------------------------------------------------------------
def perm_table(perms: list[tuple[int, ...]]) -> np.ndarray:
    """Cayley table of a permutation group; (p*q)(i) = p(q(i))."""
    index = {p: i for i, p in enumerate(perms)}
    n = len(perms)
    table = np.zeros((n, n), dtype=np.int64)
    for a, p in enumerate(perms):
        for b, q in enumerate(perms):
            table[a, b] = index[tuple(p[q[i]] for i in range(len(p)))]
    return table


def sign(p: tuple[int, ...]) -> int:
    s = 1
    for i in range(len(p)):
        for j in range(i + 1, len(p)):
            if p[i] > p[j]:
                s = -s
    return s


S3_TABLE = perm_table(list(itertools.permutations(range(3))))
S4_PERMS = list(itertools.permutations(range(4)))
A4_PERMS = [p for p in S4_PERMS if sign(p) == 1]


def shifted_s3() -> FiniteGroup:
    """S3 relabelled so that the identity is element 3 (identity not at index 0)."""
    perm = np.array([3, 0, 1, 2, 4, 5])  # old index -> new index
    new = np.zeros_like(S3_TABLE)
    new[perm[:, None], perm[None, :]] = perm[S3_TABLE]
    return from_cayley_table(new, name="S3shift")


GROUPS = {
    "Z1": cyclic(1),
    "Z7": cyclic(7),
    "Z12": cyclic(12),
    "Z4xZ7": parse_group("Z4xZ7"),
    "Z2xZ2xZ9": parse_group("Z2xZ2xZ9"),
    "D5": dihedral(5),
    "D6": dihedral(6),
    "Dic3": dicyclic(3),
    "Q8": parse_group("Q8"),
    "D3xZ2": parse_group("D3xZ2"),
    "Q8xZ3": parse_group("Q8xZ3"),
    "S3": from_cayley_table(S3_TABLE, name="S3"),
    "S3shift": shifted_s3(),
    "S4": from_cayley_table(perm_table(S4_PERMS), name="S4"),
    "A4": from_cayley_table(perm_table(A4_PERMS), name="A4"),
}
SMALL = ["Z7", "Z12", "Z4xZ7", "D5", "D6", "Dic3", "Q8", "D3xZ2", "S3", "S3shift", "S4", "A4"]
ALL = list(GROUPS)

EXPECTED_DIMS = {
    "Z7": [1] * 7,
    "D5": [1, 1, 2, 2],
    "D6": [1, 1, 1, 1, 2, 2],
    "Dic3": [1, 1, 1, 1, 2, 2],
    "Q8": [1, 1, 1, 1, 2],
    "S3": [1, 1, 2],
    "S4": [1, 1, 2, 3, 3],
    "A4": [1, 1, 1, 3],
    "D3xZ2": [1, 1, 1, 1, 2, 2],
}


def left_perm(group: FiniteGroup, t: int) -> np.ndarray:
    """Index map for f -> f(t h): (f[..., idx])[h] = f(t h)."""
    return group.table[t, :]


def right_perm(group: FiniteGroup, t: int) -> np.ndarray:
    """Index map for f -> f(h t)."""
    return group.table[:, t]


# -- group axioms --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_group_axioms(name):
    g = GROUPS[name]
    t = g.table
    m = g.order
    assert t.shape == (m, m) and t.min() >= 0 and t.max() < m
    left = t[t[:, :, None], np.arange(m)[None, None, :]]
    right = t[np.arange(m)[:, None, None], t[None, :, :]]
    assert np.array_equal(left, right), "not associative"
    e = g.identity
    assert np.array_equal(t[e], np.arange(m)) and np.array_equal(t[:, e], np.arange(m))
    inv = g.inverse
    assert np.all(t[np.arange(m), inv] == e) and np.all(t[inv, np.arange(m)] == e)
    assert g.is_abelian == bool(np.array_equal(t, t.T))
    assert len(g.elements) == m
    if name != "S3shift":
        assert e == 0
    else:
        assert e == 3
    # Re-validating the table through from_cayley_table must succeed.
    assert from_cayley_table(t, name=name) == FiniteGroup(name, t)


def test_orders_and_structure():
    assert parse_group("Z71").order == 71
    assert GROUPS["Z4xZ7"].order == 28 and GROUPS["Z4xZ7"].is_abelian
    assert GROUPS["Z2xZ2xZ9"].order == 36
    assert dihedral(5).order == 10 and not dihedral(5).is_abelian
    assert dicyclic(3).order == 12 and not dicyclic(3).is_abelian
    assert GROUPS["Q8"].order == 8 and GROUPS["Q8"].name == "Q8"
    # Dic1 = Z4: abelian with an element of order 4.
    d1 = dicyclic(1)
    assert d1.order == 4 and d1.is_abelian
    x = 2  # index of x
    assert d1.table[x, x] != 0 and d1.table[d1.table[x, x], d1.table[x, x]] == 0
    # Q8: exactly one element of order 2 (namely -1); D4 has five.
    for grp, n_inv in ((GROUPS["Q8"], 1), (dihedral(4), 5)):
        diag = grp.table[np.arange(grp.order), np.arange(grp.order)]
        assert int(np.sum((diag == 0) & (np.arange(grp.order) != 0))) == n_inv
    # Product indexing is row-major: (a, b) -> a * 7 + b.
    z = GROUPS["Z4xZ7"]
    for (a1, b1), (a2, b2) in [((1, 3), (2, 5)), ((3, 6), (3, 6))]:
        assert z.table[a1 * 7 + b1, a2 * 7 + b2] == ((a1 + a2) % 4) * 7 + (b1 + b2) % 7
    # Equality / hashing by name and table.
    assert parse_group("Z7") == cyclic(7) and hash(parse_group("Z7")) == hash(cyclic(7))
    assert cyclic(7) != cyclic(8)


# -- irreps --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_irrep_counts_and_dims(name):
    g = GROUPS[name]
    irs = complex_irreps(g)
    assert len(irs) == len(g.conjugacy_classes())
    assert sum(ir.dim**2 for ir in irs) == g.order
    assert irs[0].name == "trivial" and np.allclose(irs[0].character, 1.0, atol=TOL)
    if name in EXPECTED_DIMS:
        assert sorted(ir.dim for ir in irs) == EXPECTED_DIMS[name]
    assert complex_irreps(g)[0] is irs[0], "irreps must be cached"


@pytest.mark.parametrize("name", ALL)
def test_irreps_are_unitary_homomorphisms(name):
    g = GROUPS[name]
    t = g.table
    for ir in complex_irreps(g):
        d = ir.dim
        mats = ir.matrices
        assert mats.shape == (g.order, d, d) and mats.dtype == np.complex128
        eye = np.broadcast_to(np.eye(d), mats.shape)
        assert np.max(np.abs(mats @ np.conj(np.swapaxes(mats, 1, 2)) - eye)) < TOL
        prod = np.einsum("aij,bjk->abik", mats, mats)
        assert np.max(np.abs(mats[t] - prod)) < TOL
        assert np.max(np.abs(ir.character - np.trace(mats, axis1=1, axis2=2))) < TOL
        assert abs(ir.character[g.identity] - d) < TOL


@pytest.mark.parametrize("name", ALL)
def test_character_orthogonality(name):
    g = GROUPS[name]
    m = g.order
    chi = np.stack([ir.character for ir in complex_irreps(g)])  # (n, M)
    # First kind: <chi_i, chi_j> = delta_ij.
    assert np.max(np.abs(chi @ chi.conj().T / m - np.eye(len(chi)))) < TOL
    # Second kind: sum_k chi_k(g) conj chi_k(h) = |C_G(g)| if g ~ h else 0.
    cls = g.class_index
    sizes = np.bincount(cls)
    expected = np.where(cls[:, None] == cls[None, :], m / sizes[cls][:, None], 0.0)
    assert np.max(np.abs(chi.T @ chi.conj() - expected)) < TOL


@pytest.mark.parametrize("name", ALL)
def test_schur_orthogonality_of_matrix_elements(name):
    g = GROUPS[name]
    m = g.order
    # Columns sqrt(d/M) D^k_ab(g) over all (k, a, b) form an M x M unitary matrix.
    cols = [np.sqrt(ir.dim / m) * ir.matrices.reshape(m, -1) for ir in complex_irreps(g)]
    phi = np.concatenate(cols, axis=1)
    assert phi.shape == (m, m)
    assert np.max(np.abs(phi.conj().T @ phi - np.eye(m))) < TOL


@pytest.mark.parametrize("name", ALL)
def test_real_forms(name):
    g = GROUPS[name]
    t = g.table
    for ir in complex_irreps(g):
        rf = ir.real_form
        assert np.isrealobj(rf)
        n = ir.dim if ir.indicator == 1 else 2 * ir.dim
        assert rf.shape == (g.order, n, n)
        eye = np.broadcast_to(np.eye(n), rf.shape)
        assert np.max(np.abs(rf @ np.swapaxes(rf, 1, 2) - eye)) < TOL
        assert np.max(np.abs(rf[t] - np.einsum("aij,bjk->abik", rf, rf))) < TOL
        trace = np.trace(rf, axis1=1, axis2=2)
        want = ir.character if ir.indicator == 1 else 2 * ir.character.real
        assert np.max(np.abs(trace - want)) < TOL  # same character => equivalent


def _invariant_form(mats: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.einsum("gji,jk,gkl->il", mats, x, mats) / mats.shape[0]


@pytest.mark.parametrize("name", ALL)
def test_frobenius_schur_indicator(name):
    g = GROUPS[name]
    rng = np.random.default_rng(0)
    sq = g.table[np.arange(g.order), np.arange(g.order)]
    for ir in complex_irreps(g):
        assert ir.indicator == round(float(np.mean(ir.character[sq]).real))
        # Independent check: real type <=> symmetric invariant bilinear form, quaternionic
        # <=> antisymmetric one, complex <=> none.
        x = rng.normal(size=(ir.dim, ir.dim)) + 1j * rng.normal(size=(ir.dim, ir.dim))
        sym = np.linalg.norm(_invariant_form(ir.matrices, x + x.T)) > 1e-6
        anti = np.linalg.norm(_invariant_form(ir.matrices, x - x.T)) > 1e-6
        assert (sym, anti) == {1: (True, False), -1: (False, True), 0: (False, False)}[ir.indicator]


def test_specific_indicators_and_max_dims():
    q8 = complex_irreps(GROUPS["Q8"])
    assert [ir.indicator for ir in q8].count(-1) == 1
    (quat,) = [ir for ir in q8 if ir.indicator == -1]
    assert quat.dim == 2
    assert all(ir.indicator == 1 for ir in q8 if ir is not quat)
    assert all(ir.indicator == 1 for ir in complex_irreps(GROUPS["D5"]))
    assert all(ir.indicator == 1 for ir in complex_irreps(GROUPS["D6"]))
    assert sorted(ir.indicator for ir in complex_irreps(GROUPS["Dic3"])) == [-1, 0, 0, 1, 1, 1]
    z7 = complex_irreps(GROUPS["Z7"])
    assert [ir.indicator for ir in z7] == [1] + [0] * 6
    for name in ("D5", "D6", "Dic3", "Q8"):
        assert max(ir.dim for ir in complex_irreps(GROUPS[name])) == 2
    assert max(ir.dim for ir in complex_irreps(dihedral(9))) == 2
    assert max(ir.dim for ir in complex_irreps(dicyclic(4))) == 2


def test_cyclic_closed_form():
    M = 12
    irs = complex_irreps(cyclic(M))
    m = np.arange(M)
    for j, ir in enumerate(irs):
        assert np.max(np.abs(ir.character - np.exp(2j * np.pi * j * m / M))) < TOL
    assert [ir.name for ir in irs[:3]] == ["trivial", "k=1", "k=2"]
    assert irs[6].name == "k=6" and irs[11].name == "k=-1"


@pytest.mark.parametrize("name", ["Z7", "Z4xZ7", "D3xZ2", "Q8xZ3"])
def test_numerical_algorithm_matches_closed_forms(name):
    """The general table-based algorithm reproduces the cyclic/tensor-product characters."""
    g = GROUPS[name]
    ref = np.stack([ir.character for ir in complex_irreps(g)])
    num = np.stack([ir.character for ir in numerical_irreps(FiniteGroup("plain", g.table))])
    assert num.shape == ref.shape
    dist = np.abs(num[:, None, :] - ref[None, :, :]).max(axis=2)
    assert np.all(dist.min(axis=1) < 1e-8) and np.all(dist.min(axis=0) < 1e-8)


# -- real irreps ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_real_irreps_grouping(name):
    g = GROUPS[name]
    irs = complex_irreps(g)
    rirs = real_irreps(g)
    assert rirs[0].name == "trivial" and rirs[0].members == (0,) and rirs[0].kind == "real"
    members = sorted(i for r in rirs for i in r.members)
    assert members == list(range(len(irs)))
    assert sum(r.isotypic_dim for r in rirs) == g.order
    for r in rirs:
        chis = [irs[i].character for i in r.members]
        if r.kind == "complex":
            assert len(r.members) == 2 and np.max(np.abs(chis[0] - np.conj(chis[1]))) < TOL
            assert np.max(np.abs(chis[0].imag)) > 1e-3
        else:
            assert len(r.members) == 1 and np.max(np.abs(chis[0].imag)) < TOL
            assert irs[r.members[0]].indicator == (1 if r.kind == "real" else -1)


@pytest.mark.parametrize("M", [1, 2, 7, 12])
def test_cyclic_real_irreps_are_frequencies(M):
    rirs = real_irreps(cyclic(M))
    assert len(rirs) == M // 2 + 1
    for k, r in enumerate(rirs):
        assert r.members == ((k,) if (2 * k) % M == 0 else (k, M - k))


# -- projectors and power ------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_projectors(name):
    g = GROUPS[name]
    proj = irrep_projectors(g)
    n, m = len(real_irreps(g)), g.order
    assert proj.shape == (n, m, m)
    assert np.max(np.abs(proj - np.swapaxes(proj, 1, 2))) < TOL
    assert np.max(np.abs(np.einsum("aij,bjk->abik", proj, proj) - np.eye(n)[:, :, None, None] * proj[:, None])) < TOL
    assert np.max(np.abs(proj.sum(axis=0) - np.eye(m))) < TOL
    assert np.allclose(np.trace(proj, axis1=1, axis2=2), [r.isotypic_dim for r in real_irreps(g)], atol=1e-6)
    basis, owner = isotypic_basis(g)
    assert np.max(np.abs(basis.T @ basis - np.eye(m))) < TOL
    for k in range(n):
        cols = basis[:, owner == k]
        assert np.max(np.abs(proj[k] @ cols - cols)) < TOL


@pytest.mark.parametrize("name", ["S3", "Dic3", "D5", "S3shift", "A4"])
def test_projector_matches_defining_formula(name):
    """(P_k f)(h) = (d_k/M) sum_g conj(chi_k(g)) f(g^{-1} h), summed over members, by loops."""
    g = GROUPS[name]
    rng = np.random.default_rng(1)
    f = rng.normal(size=g.order)
    irs = complex_irreps(g)
    proj = irrep_projectors(g)
    for k, r in enumerate(real_irreps(g)):
        pf = np.zeros(g.order, dtype=complex)
        for i in r.members:
            ir = irs[i]
            for h in range(g.order):
                for x in range(g.order):
                    pf[h] += ir.dim / g.order * np.conj(ir.character[x]) * f[g.table[g.inverse[x], h]]
        assert np.max(np.abs(pf.imag)) < TOL
        assert np.max(np.abs(proj[k] @ f - pf.real)) < TOL


@st.composite
def group_and_function(draw):
    name = draw(st.sampled_from(SMALL))
    g = GROUPS[name]
    f = draw(hnp.arrays(np.float64, g.order, elements=st.floats(-10, 10, allow_nan=False)))
    t = draw(st.integers(0, g.order - 1))
    return g, f, t


@settings(max_examples=60, deadline=None)
@given(group_and_function())
def test_power_parseval_and_translation_invariance(gft):
    g, f, t = gft
    p = irrep_power(g, f)
    assert p.shape == (len(real_irreps(g)),)
    assert np.all(p >= -1e-12)
    scale = max(1.0, float(f @ f))
    assert abs(p.sum() - f @ f) <= 1e-10 * scale
    for idx in (left_perm(g, t), right_perm(g, t)):
        assert np.max(np.abs(irrep_power(g, f[idx]) - p)) <= 1e-10 * scale


@pytest.mark.parametrize("M", [7, 12, 71])
def test_single_frequency_power(M):
    rng = np.random.default_rng(M)
    m = np.arange(M)
    g = cyclic(M)
    for k in range(M // 2 + 1):
        a, b = rng.normal(size=2)
        f = a * np.cos(2 * np.pi * k * m / M) + b * np.sin(2 * np.pi * k * m / M)
        p = irrep_power(g, f)
        total = f @ f
        assert abs(p[k] - total) <= 1e-10 * max(1.0, total)
        assert np.max(np.abs(np.delete(p, k))) <= 1e-10 * max(1.0, total)


@pytest.mark.parametrize("M", [1, 2, 7, 12, 71])
def test_cyclic_power_matches_fft(M):
    rng = np.random.default_rng(0)
    f = rng.normal(size=(5, M))
    fft_pow = np.abs(np.fft.fft(f, axis=-1)) ** 2 / M
    expected = np.stack([fft_pow[:, k] + (fft_pow[:, M - k] if 0 < k and 2 * k != M else 0.0) for k in range(M // 2 + 1)], axis=-1)
    assert np.max(np.abs(irrep_power(cyclic(M), f) - expected)) < 1e-10 * M


def test_product_power_matches_2d_fft():
    g = GROUPS["Z4xZ7"]
    rng = np.random.default_rng(0)
    f = rng.normal(size=28)
    fft_pow = np.abs(np.fft.fft2(f.reshape(4, 7))) ** 2 / 28
    irs = complex_irreps(g)
    p = irrep_power(g, f)
    for k, r in enumerate(real_irreps(g)):
        want = 0.0
        for i in r.members:
            k1, k2 = np.unravel_index(i, (4, 7))  # tensor irreps are row-major too
            want += fft_pow[k1, k2]
            assert np.max(np.abs(irs[i].character.reshape(4, 7) - np.exp(2j * np.pi * (k1 * np.arange(4)[:, None] / 4 + k2 * np.arange(7)[None, :] / 7)))) < TOL
        assert abs(p[k] - want) < 1e-10 * 28


def test_fourier_basis():
    for M in (1, 6, 7):
        basis, freq = fourier_basis(M)
        assert np.max(np.abs(basis.T @ basis - np.eye(M))) < TOL
        p = irrep_power(cyclic(M), basis.T)  # row j = column j of the basis
        assert np.max(np.abs(p - np.eye(M // 2 + 1)[freq])) < TOL


def test_power_batched_shapes():
    g = cyclic(130)
    rng = np.random.default_rng(0)
    f = rng.normal(size=(3, 4, 130))
    p = irrep_power(g, f)
    assert p.shape == (3, 4, 66)
    assert np.allclose(p[1, 2], irrep_power(g, f[1, 2]), atol=TOL)
    out = irrep_power(g, rng.normal(size=(2048, 130)))
    assert out.shape == (2048, 66)
    with pytest.raises(ValueError):
        irrep_power(g, np.ones(129))


# -- parsing and errors --------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec,order,abelian",
    [("Z71", 71, True), ("Z4xZ7", 28, True), ("Z2xZ2xZ9", 36, True), ("D5", 10, False), ("Dic3", 12, False), ("Q8", 8, False), ("D3xZ2", 12, False), (" Z3 x D4 ", 24, False)],
)
def test_parse_group(spec, order, abelian):
    g = parse_group(spec)
    assert g.order == order and g.is_abelian == abelian
    assert g.identity == 0


@pytest.mark.parametrize("spec", ["", "Z0", "Y3", "Zx3", "Z4x", "xZ4", "D", "D0", "Dic0", "Q16", "z7", "Z4*Z7", "Z100000", "Dic", "Z-3", 7, None])
def test_parse_group_errors(spec):
    with pytest.raises(ConfigError) as info:
        parse_group(spec)
    msg = str(info.value)
    assert info.value.field == "group" and msg.startswith("group:")
    assert "\n" not in msg and "allowed" in msg


LOOP5 = np.array([[0, 1, 2, 3, 4], [1, 0, 3, 4, 2], [2, 4, 0, 1, 3], [3, 2, 4, 0, 1], [4, 3, 1, 2, 0]])


@pytest.mark.parametrize(
    "table,needle",
    [
        (np.zeros((2, 3), dtype=int), "shape"),
        (np.array([[0, 1], [1, 2]]), "closed"),
        (np.array([[0.0, 1.5], [1.5, 0.0]]), "integers"),
        (LOOP5, "associative"),
        (np.array([[1, 1], [1, 1]]), "identity"),  # associative (constant), no identity
        (np.maximum.outer(np.arange(3), np.arange(3)), "inverse"),  # monoid (max): no inverses
    ],
)
def test_bad_tables(table, needle):
    with pytest.raises(ConfigError) as info:
        from_cayley_table(table)
    msg = str(info.value)
    assert info.value.field == "table" and msg.startswith("table:")
    assert needle in msg and "\n" not in msg and "allowed" in msg


def test_constructor_argument_errors():
    for bad in (lambda: cyclic(0), lambda: dihedral(0), lambda: dicyclic(-1), lambda: product(), lambda: cyclic(2.5)):
        with pytest.raises(ConfigError) as info:
            bad()
        assert "\n" not in str(info.value) and info.value.field == "group"


# -- module structure and immutability -------------------------------------------------------
def _fresh(code: str) -> str:
    """stdout of `code` run in a fresh interpreter (src/ on the path)."""
    import subprocess
    import sys
    from pathlib import Path
    src = str(Path(__file__).resolve().parents[1] / "src")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_base_does_not_import_irreps():
    """groups.base and groups.irreps used to import each other (FiniteGroup.irreps imported
    irreps.compute_irreps). base now stands alone: importing it and using every part of a
    group that base defines loads no representation code, and irreps imports base alone."""
    out = _fresh(
        "import sys\n"
        "from learndyn.groups.base import FiniteGroup\n"
        "g = FiniteGroup('Z3', [[0, 1, 2], [1, 2, 0], [2, 0, 1]])\n"
        "g.inverse, g.class_index, g.conjugacy_classes(), g.is_abelian, hash(g)\n"
        "assert g.cached('k', lambda: 7) == 7\n"
        "print(sorted(m for m in sys.modules if m.startswith('learndyn.groups.')))\n")
    assert out.strip() == "['learndyn.groups.base']"
    out = _fresh(
        "import sys\n"
        "from learndyn.groups.irreps import complex_irreps\n"
        "from learndyn.groups.base import FiniteGroup\n"
        "print(len(complex_irreps(FiniteGroup('Z5', [[(a + b) % 5 for b in range(5)] "
        "for a in range(5)]))))\n"
        "print(sorted(m for m in sys.modules if m.startswith('learndyn.groups.')))\n")
    n, mods = out.strip().splitlines()
    assert n == "5"
    assert mods == "['learndyn.groups.base', 'learndyn.groups.irreps', 'learndyn.groups.realform']"


def test_base_source_names_no_irreps_import():
    """Also no import of irreps hidden inside a function of base (the old cycle was one)."""
    import ast
    from pathlib import Path

    import learndyn.groups.base as base
    tree = ast.parse(Path(base.__file__).read_text())
    imported = [n.module if isinstance(n, ast.ImportFrom) else a.name
                for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names]
    assert not [m for m in imported if m and m.startswith("learndyn")], imported


def test_group_is_immutable_and_caches_explicitly():
    g = cyclic(6)
    for attr in ("name", "table", "elements", "factors"):
        with pytest.raises(AttributeError):
            setattr(g, attr, None)
    with pytest.raises(ValueError):
        g.table[0, 0] = 1   # read-only array
    irs = complex_irreps(g)
    assert complex_irreps(g)[0] is irs[0]            # cached on the group
    assert complex_irreps(cyclic(6))[0] is not irs[0]  # per instance
    assert parse_group("Q8").name == "Q8" and parse_group("Q8").table.tolist() == \
        dicyclic(2).table.tolist()
