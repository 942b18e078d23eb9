"""The teacher W_T = U diag(s) V^T and a whitened dataset that it labels.

The data are exactly whitened: (1/P) X X^T = I (to float rounding), so the input-output
correlation Sigma_yx = (1/P) Y X^T is W_T itself, the setting of Saxe et al. Sec. 1.

Built in numpy (float64, cast to float32 by the caller) from a numpy Generator that
`run_rng` seeds with a run's key (core.seeds.run_key): a run's constants depend on its seed
alone, and building them compiles nothing (the same construction in jax, vmapped over runs,
spent ~4 s of a 5 s smoke run compiling its QRs).
"""

from __future__ import annotations

import numpy as np


def run_rng(key) -> np.random.Generator:
    """A numpy Generator seeded by the two uint32 words of a jax PRNG key."""
    return np.random.default_rng(np.asarray(key, np.uint32).tolist())


def orthonormal_columns(rng: np.random.Generator, n: int, r: int) -> np.ndarray:
    """(n, r) with orthonormal columns, Haar-distributed: the Q of a Gaussian matrix's QR,
    its columns' signs fixed by R's diagonal (so the law does not depend on the QR's sign
    convention)."""
    q, rr = np.linalg.qr(rng.standard_normal((n, r)))
    return q * np.where(np.diagonal(rr) < 0, -1.0, 1.0)


def make_teacher(rng: np.random.Generator, s, N1: int, N3: int) -> dict:
    """A teacher of singular values s (r,): {"U": (N3, r), "s": (r,), "V": (N1, r)}, random
    orthonormal U and V."""
    s = np.asarray(s, float)
    U = orthonormal_columns(rng, N3, len(s))
    return {"U": U, "s": s, "V": orthonormal_columns(rng, N1, len(s))}


def teacher_matrix(teacher: dict) -> np.ndarray:
    """(N3, N1) W_T = U diag(s) V^T."""
    return (teacher["U"] * teacher["s"]) @ teacher["V"].T


def whitened_inputs(rng: np.random.Generator, N1: int, P: int) -> np.ndarray:
    """(N1, P) inputs with (1/P) X X^T = I exactly: sqrt(P) times N1 orthonormal rows."""
    return np.sqrt(P) * orthonormal_columns(rng, P, N1).T


def make_data(rng: np.random.Generator, teacher: dict, P: int) -> dict:
    """{"X": (N1, P) whitened inputs, "Y": (N3, P) = W_T X}, the teacher's noise-free labels."""
    X = whitened_inputs(rng, teacher["V"].shape[0], P)
    return {"X": X, "Y": teacher_matrix(teacher) @ X}


def run_consts(rng: np.random.Generator, s, N1: int, N3: int, P: int) -> dict:
    """One run's constants (a phase's `consts`, float64 here): the teacher and its data,
    {"U", "s", "V", "X", "Y"}."""
    teacher = make_teacher(rng, s, N1, N3)
    return {**teacher, **make_data(rng, teacher, P)}
