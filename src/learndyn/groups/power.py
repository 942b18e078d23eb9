"""Isotypic projections of real functions on a finite group and their power per real irrep.

For a complex irrep k with character chi_k and dimension d_k, the isotypic projector on
functions f: G -> C is

    (P_k f)(h) = (d_k / M) * sum_g conj(chi_k(g)) f(g^{-1} h),

an orthogonal projector commuting with left and right translations; sum_k P_k = I. Summed
over the members of a real irrep it is a real symmetric matrix, so real functions split into
orthogonal real components and the powers ||P f||^2 add up to ||f||^2 (Parseval). For Z_M,
real irrep k is frequency k and its power is |F_k|^2 (+ |F_{M-k}|^2) / M with F = fft(f).
"""

from __future__ import annotations

import numpy as np

from learndyn.groups.base import FiniteGroup, _readonly
from learndyn.groups.irreps import complex_irreps, real_irreps


def irrep_projectors(group: FiniteGroup) -> np.ndarray:
    """Orthogonal projectors onto the real isotypic components.

    Returns:
        (n_real_irreps, M, M) float64, symmetric idempotent, mutually orthogonal, summing to
        the identity; entry ``[k, h, x] = sum_{members} (d/M) Re conj(chi(h x^{-1}))``.
        Ordered like :func:`real_irreps`. Cached on the group (read-only).
    """

    def compute() -> np.ndarray:
        irs = complex_irreps(group)
        m = group.order
        diff = group.table[:, group.inverse]  # diff[h, x] = h x^{-1}
        out = np.zeros((len(real_irreps(group)), m, m))
        for k, rirr in enumerate(real_irreps(group)):
            for i in rirr.members:
                ir = irs[i]
                out[k] += (ir.dim / m) * np.conj(ir.character)[diff].real
        return _readonly(out)

    return group.cached("irrep_projectors", compute)


def isotypic_basis(group: FiniteGroup) -> tuple[np.ndarray, np.ndarray]:
    """A real orthonormal basis of R^M adapted to the real isotypic decomposition.

    Returns:
        basis: (M, M) float64 orthogonal; column j is a basis function.
        owner: (M,) int; ``owner[j]`` is the real-irrep index whose isotypic subspace contains
            column j (columns are sorted by owner; real irrep k owns ``isotypic_dim`` columns).
    Cached on the group (read-only).
    """

    def compute() -> tuple[np.ndarray, np.ndarray]:
        proj = irrep_projectors(group)
        n = proj.shape[0]
        # Eigenvalue k exactly on component k: one eigh splits all components at once.
        weighted = np.einsum("k,kij->ij", np.arange(n, dtype=np.float64), proj)
        w, v = np.linalg.eigh(0.5 * (weighted + weighted.T))
        owner = np.rint(w).astype(np.int64)
        if np.max(np.abs(w - owner)) > 1e-6:
            raise RuntimeError(f"isotypic projectors of {group.name!r} are not orthogonal projectors")
        return _readonly(np.ascontiguousarray(v)), _readonly(owner)

    return group.cached("isotypic_basis", compute)


def irrep_power(group: FiniteGroup, f: np.ndarray) -> np.ndarray:
    """Power of real functions on the group in each real irrep.

    Args:
        group: the group, order M.
        f: (..., M) real (complex is accepted: then |coefficients|^2 are used).

    Returns:
        (..., n_real_irreps) float64; entry k is ``||P_k f||^2`` with P_k the isotypic
        projector of real irrep k (see :func:`irrep_projectors`). Sums to ``||f||^2``.
    """
    f = np.asarray(f)
    m = group.order
    if f.ndim == 0 or f.shape[-1] != m:
        raise ValueError(f"f must have shape (..., {m}) for group {group.name!r}, got {f.shape}")
    basis, owner = isotypic_basis(group)
    onehot = group.cached(
        "isotypic_onehot",
        lambda: _readonly((owner[:, None] == np.arange(int(owner.max()) + 1)[None, :]).astype(np.float64)),
    )
    coef = f @ basis
    sq = coef.real**2 + coef.imag**2 if np.iscomplexobj(coef) else coef * coef
    return sq @ onehot


def fourier_basis(M: int) -> tuple[np.ndarray, np.ndarray]:
    """Real orthonormal Fourier basis of functions on Z_M.

    Returns:
        basis: (M, M) float64 orthogonal; columns are ``1/sqrt(M)``, then for k = 1..(M-1)//2
            ``sqrt(2/M) cos(2 pi k m / M)`` and ``sqrt(2/M) sin(2 pi k m / M)``, then for even M
            ``(-1)^m / sqrt(M)``.
        freq: (M,) int; the frequency k of each column (= real irrep index of ``cyclic(M)``).
    """
    m = np.arange(M)
    cols = [np.full(M, 1.0 / np.sqrt(M))]
    freq = [0]
    for k in range(1, (M - 1) // 2 + 1):
        ang = 2 * np.pi * ((k * m) % M) / M
        cols += [np.sqrt(2.0 / M) * np.cos(ang), np.sqrt(2.0 / M) * np.sin(ang)]
        freq += [k, k]
    if M % 2 == 0 and M > 1:
        cols.append(np.where(m % 2 == 0, 1.0, -1.0) / np.sqrt(M))
        freq.append(M // 2)
    return np.stack(cols, axis=1), np.array(freq, dtype=np.int64)
