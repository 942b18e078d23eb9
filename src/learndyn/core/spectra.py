"""Spectra of linearised dynamics: sorted eigenvalues, spectral radius, stability onset."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def sorted_eigvals(P: jax.Array) -> jax.Array:
    """Eigenvalues of P (n, n) sorted by decreasing modulus: (n,) complex."""
    ev = jnp.linalg.eigvals(P)
    return ev[jnp.argsort(-jnp.abs(ev))]


def first_stable_step(steps: np.ndarray, radius: np.ndarray) -> int | None:
    """The first recorded step from which every recorded spectral radius is < 1 (None if the
    run does not end stable). radius: (n_steps,); NaN (a diverged run) counts as unstable."""
    radius = np.asarray(radius)
    unstable = ~(radius < 1.0)
    if len(radius) == 0 or unstable[-1]:
        return None
    idx = np.nonzero(unstable)[0]
    first = 0 if len(idx) == 0 else idx[-1] + 1
    return int(np.asarray(steps)[first])
