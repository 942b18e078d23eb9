"""Real forms of unitary irreps: real orthogonal bases (real type) and realification.

For a unitary irrep D of real type (Frobenius-Schur indicator +1) there is a symmetric
invariant bilinear form B = sum_g D(g)^T X D(g) (X a random symmetric matrix), unique up to
scale, and B/|B| = U is a symmetric unitary with conj(D(g)) = U D(g) U^H. Takagi-factorising
U = S^T S with S unitary gives S D(g) S^H real for every g. For a symmetric unitary U, Re U and
Im U are commuting real symmetric matrices, so one real orthogonal O diagonalises both:
U = O diag(e^{i theta}) O^T and S = diag(e^{i theta/2}) O^T.
"""

from __future__ import annotations

import numpy as np

_TOL = 1e-8


def realify(matrices: np.ndarray) -> np.ndarray:
    """Realification of complex matrices.

    Args:
        matrices: (..., d, d) complex.

    Returns:
        (..., 2d, 2d) real, ``[[Re D, -Im D], [Im D, Re D]]``; a real representation when
        ``matrices`` is one (the map D -> realify(D) is an R-algebra homomorphism).
    """
    re, im = matrices.real, matrices.imag
    top = np.concatenate([re, -im], axis=-1)
    bottom = np.concatenate([im, re], axis=-1)
    return np.concatenate([top, bottom], axis=-2)


def real_basis_change(matrices: np.ndarray, rng: np.random.Generator, tries: int = 8) -> np.ndarray:
    """Unitary S with ``S @ matrices[g] @ S^H`` real for all g (real-type irreps only).

    Args:
        matrices: (M, d, d) complex unitary irreducible representation of real type.
        rng: random generator (for the generic invariant form and simultaneous diagonalisation).

    Returns:
        S: (d, d) complex unitary.

    Raises:
        ValueError: when no symmetric invariant form exists (not of real type).
    """
    d = matrices.shape[-1]
    if d == 1:
        # A real-type 1-d unitary irrep already takes values in {+1, -1}.
        return np.eye(1, dtype=np.complex128)
    for _ in range(tries):
        x = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
        x = x + x.T
        b = np.einsum("gji,jk,gkl->il", matrices, x, matrices) / matrices.shape[0]
        scale = np.sqrt(np.real(np.trace(b.conj().T @ b)) / d)
        if scale < 1e-6 * np.linalg.norm(x):
            continue
        u = b / scale
        u = 0.5 * (u + u.T)
        t = rng.normal()
        _, o = np.linalg.eigh(u.real + t * u.imag)
        diag = o.T @ u @ o
        if np.max(np.abs(diag - np.diag(np.diag(diag)))) > _TOL:
            continue
        theta = np.angle(np.diag(diag))
        s = np.exp(0.5j * theta)[:, None] * o.T
        return s
    raise ValueError("representation has no symmetric invariant form (not of real type)")


def real_form(matrices: np.ndarray, indicator: int, rng: np.random.Generator) -> np.ndarray:
    """Real orthogonal form of a unitary irrep (see ``Irrep.real_form``).

    Args:
        matrices: (M, d, d) complex unitary irrep.
        indicator: its Frobenius-Schur indicator (+1, 0, -1).
        rng: random generator.

    Returns:
        (M, d, d) real for indicator +1 (equivalent to ``matrices``), else (M, 2d, 2d) real
        (the realification).
    """
    if indicator != 1:
        return realify(matrices)
    s = real_basis_change(matrices, rng)
    out = s @ matrices @ s.conj().T
    if np.max(np.abs(out.imag)) > 1e-7:
        raise ValueError("failed to find a real form of a real-type irrep")
    return np.ascontiguousarray(out.real)
