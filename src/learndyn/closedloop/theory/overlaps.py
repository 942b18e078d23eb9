"""Overlaps, the 4 x 4 effective matrix P_eff, and its characteristic polynomial.

Overlaps (plain dot products, no normalisation; authors' theory.ipynb):
    s = (s_zm, s_zu, s_vm, s_vu) = (z.m, z.u, v.m, v.u).                                  (4)
Reduction. With h_0 = 0, eq. (1) keeps h_t in span{m, u}; writing h = k1 m + k2 u,
    u_t = z.h = s_zm k1 + s_zu k2,   v.h = s_vm k1 + s_vu k2,
so (x1, x2, k1, k2) evolves by                                                            (5)
    P_eff = [[1, 1, 0, 0], [0, 1, s_zm, s_zu], [1, 1, 0, 0], [0, 0, s_vm, s_vu]],
which is P of eq. (2) restricted to its invariant subspace span{e1, e2, (0, m), (0, u)} in that
(non-orthogonal) basis. P has rank <= 4 and its other N - 2 eigenvalues are 0, so for m, u
linearly independent the nonzero eigenvalues of P are exactly those of P_eff.
Characteristic polynomial (expand the determinant along the rows of eq. (5)):             (6)
    det(lambda I - P_eff) = lambda [(lambda^2 - 2 lambda + 1 - s_zm)(lambda - s_vu) - s_vm s_zu]
                          = lambda [lambda^3 - (s_vu + 2) lambda^2 + (2 s_vu - s_zm + 1) lambda
                                    + s_vu s_zm - s_vu - s_vm s_zu],
(plant with feed-forward gain) x (recurrent memory mode), coupled through s_vm s_zu. This is
the paper's form; tests check it against an independent (Faddeev-LeVerrier) expansion.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp

from learndyn.closedloop.theory.rankone import RankOne, full_matrix

OVERLAP_NAMES = ("s_zm", "s_zu", "s_vm", "s_vu")


def overlaps(p: RankOne) -> jax.Array:
    """s (4,) = (z.m, z.u, v.m, v.u), eq. (4)."""
    return jnp.stack([p.z @ p.m, p.z @ p.u, p.v @ p.m, p.v @ p.u])


def p_eff(s: jax.Array) -> jax.Array:
    """P_eff (4, 4) of eq. (5) from s (4,)."""
    zm, zu, vm, vu = s[0], s[1], s[2], s[3]
    one, zero = jnp.ones_like(zm), jnp.zeros_like(zm)
    return jnp.stack([jnp.stack([one, one, zero, zero]),
                      jnp.stack([zero, one, zm, zu]),
                      jnp.stack([one, one, zero, zero]),
                      jnp.stack([zero, zero, vm, vu])])


def eff_readout(s: jax.Array) -> jax.Array:
    """c (4,) with u_t = c . (x1, x2, k1, k2): (0, 0, s_zm, s_zu)."""
    zero = jnp.zeros_like(s[0])
    return jnp.stack([zero, zero, s[0], s[1]])


def cubic_coeffs(s: jax.Array) -> jax.Array:
    """(4,) coefficients (highest first) of the cubic of eq. (6), built from its factors."""
    zm, zu, vm, vu = s[0], s[1], s[2], s[3]
    one = jnp.ones_like(zm)
    quad = jnp.stack([one, -2 * one, 1 - zm])          # lambda^2 - 2 lambda + 1 - s_zm
    lin = jnp.stack([one, -vu])                        # lambda - s_vu
    prod = jnp.convolve(quad, lin)
    return prod - jnp.stack([0 * one, 0 * one, 0 * one, vm * zu])


def charpoly(M: jax.Array) -> jax.Array:
    """(n+1,) coefficients of det(lambda I - M), highest first, by Faddeev-LeVerrier
    (no eigenvalues involved: an independent check of eq. (6)). M: (n, n)."""
    n = M.shape[0]
    eye = jnp.eye(n, dtype=M.dtype)
    coeffs = [jnp.ones((), M.dtype)]
    Mk = jnp.zeros_like(M)
    for k in range(1, n + 1):
        Mk = M @ Mk + coeffs[-1] * eye
        coeffs.append(-jnp.trace(M @ Mk) / k)
    return jnp.stack(coeffs)


def poly_roots(coeffs: jax.Array) -> jax.Array:
    """Roots (n,) of a monic polynomial (n+1,) coefficients, highest first: eigenvalues of the
    companion matrix."""
    n = coeffs.shape[0] - 1
    comp = jnp.zeros((n, n), coeffs.dtype).at[0, :].set(-coeffs[1:] / coeffs[0])
    comp = comp.at[1:, :-1].add(jnp.eye(n - 1, dtype=coeffs.dtype))
    return jnp.linalg.eigvals(comp)


def cubic_roots(s: jax.Array) -> jax.Array:
    """The three nonzero-branch roots (3,) complex of eq. (6)."""
    return poly_roots(cubic_coeffs(s))


def top_eigs(P: jax.Array, k: int = 3) -> jax.Array:
    """The k eigenvalues of P (D, D) of largest modulus, (k,) complex, largest first."""
    ev = jnp.linalg.eigvals(P)
    return ev[jnp.argsort(-jnp.abs(ev))[:k]]


def match_error(a: jax.Array, b: jax.Array) -> jax.Array:
    """max_i |a_i - b_pi(i)| minimised over permutations pi (a, b: (k,), k small)."""
    k = a.shape[0]
    perms = jnp.array(list(itertools.permutations(range(k))))
    return jnp.min(jnp.max(jnp.abs(a[None, :] - b[perms]), axis=1))


def reduction_error(p: RankOne) -> jax.Array:
    """max |root of eq. (6) - matched nonzero eigenvalue of the full P|; the reduction is exact,
    so this measures floating-point error only."""
    return match_error(cubic_roots(overlaps(p)), top_eigs(full_matrix(p), 3))


def factorisation_error(s: jax.Array) -> jax.Array:
    """max |coefficient| of charpoly(P_eff) - lambda * cubic(eq. 6)|."""
    lam_cubic = jnp.concatenate([cubic_coeffs(s), jnp.zeros((1,), s.dtype)])
    return jnp.max(jnp.abs(charpoly(p_eff(s)) - lam_cubic))
