"""Plants: the world a controller acts on.

A plant is an immutable object with

    step(x, u)   -> x_next      x: (nx,), u: (nu,)
    observe(x)   -> y           y: (ny,)

plus `nx, nu, ny` and an operating point `x_star` (where the coupled Jacobian is taken).
Plants are closed over by jitted functions (their fields are constants, not parameters), so
they hold NumPy arrays and are hashable by identity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class Plant:
    """Abstract base. Subclasses define nx, nu, ny, step and observe."""

    nx: int
    nu: int
    ny: int

    def step(self, x: jax.Array, u: jax.Array) -> jax.Array:  # (nx,), (nu,) -> (nx,)
        raise NotImplementedError

    def observe(self, x: jax.Array) -> jax.Array:  # (nx,) -> (ny,)
        raise NotImplementedError

    @property
    def x_star(self) -> np.ndarray:
        """Operating point (default: the origin)."""
        return np.zeros(self.nx)

    @property
    def position_index(self) -> np.ndarray:
        """Indices of the state that the cost penalises as "position" (default: all)."""
        return np.arange(self.nx)

    def linearize(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(A, B, C) at the operating point: exact for a linear plant, the Jacobian otherwise."""
        x0 = jnp.asarray(self.x_star, jnp.float32)
        u0 = jnp.zeros(self.nu, jnp.float32)
        A = jax.jacfwd(self.step, argnums=0)(x0, u0)
        B = jax.jacfwd(self.step, argnums=1)(x0, u0)
        C = jax.jacfwd(self.observe)(x0)
        return np.asarray(A), np.asarray(B), np.asarray(C)


class LinearPlant(Plant):
    """x' = A x + B u, y = C x.   A: (nx, nx), B: (nx, nu), C: (ny, nx).

    Immutable: the matrices are read-only float64 copies made (and checked) at construction,
    behind read-only attributes."""

    def __init__(self, A, B, C, name: str = "linear"):
        from learndyn.errors import ConfigError
        A, B, C = (np.atleast_2d(np.array(m, dtype=np.float64, copy=True)) for m in (A, B, C))
        if A.shape[0] != A.shape[1]:
            raise ConfigError("plant.A", f"must be square, got shape {A.shape}")
        if B.shape[0] != A.shape[0]:
            raise ConfigError("plant.B", f"must have {A.shape[0]} rows (nx), got shape {B.shape}")
        if C.shape[1] != A.shape[0]:
            raise ConfigError("plant.C", f"must have {A.shape[0]} columns (nx), got shape {C.shape}")
        for m in (A, B, C):
            m.setflags(write=False)
        self._A, self._B, self._C, self._name = A, B, C, name

    @property
    def A(self) -> np.ndarray:
        return self._A

    @property
    def B(self) -> np.ndarray:
        return self._B

    @property
    def C(self) -> np.ndarray:
        return self._C

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"LinearPlant(name={self.name!r}, nx={self.nx}, nu={self.nu}, ny={self.ny})"

    @property
    def nx(self) -> int:
        return self.A.shape[0]

    @property
    def nu(self) -> int:
        return self.B.shape[1]

    @property
    def ny(self) -> int:
        return self.C.shape[0]

    def step(self, x, u):
        return jnp.asarray(self.A, x.dtype) @ x + jnp.asarray(self.B, x.dtype) @ u

    def observe(self, x):
        return jnp.asarray(self.C, x.dtype) @ x

    def linearize(self):
        return self.A, self.B, self.C
