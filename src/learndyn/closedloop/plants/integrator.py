"""The k-integrator: a chain of k integrators with only the first state observed."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from learndyn.closedloop.plants.base import LinearPlant
from learndyn.core.config import FiniteFloat, Strict
from learndyn.errors import ConfigError


def k_integrator(k: int = 2, dt: float = 1.0) -> LinearPlant:
    """x_i' = x_i + dt x_{i+1} (i < k), x_k' = x_k + dt u; y = x_1.

    k = 2 is the double integrator of Ger & Barak (A = [[1, dt], [0, 1]], B = [0, dt]^T,
    C = [1, 0]). States: position, velocity, acceleration, ...
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError("plant.k", f"must be an integer >= 1, got {k!r}")
    if not dt > 0:
        raise ConfigError("plant.dt", f"must be > 0, got {dt!r}")
    A = np.eye(k) + dt * np.eye(k, k=1)
    B = np.zeros((k, 1))
    B[-1, 0] = dt
    C = np.zeros((1, k))
    C[0, 0] = 1.0
    return LinearPlant(A, B, C, name=f"{k}-integrator")


class KIntegratorCfg(Strict):
    """Recipe option ``[plant] type = "k_integrator"``."""

    type: Literal["k_integrator"] = "k_integrator"
    k: int = Field(2, ge=1, le=32, description="k-integrator order")
    dt: FiniteFloat = Field(1.0, gt=0)

    def build(self) -> LinearPlant:
        return k_integrator(self.k, self.dt)


OPTION = KIntegratorCfg   # this file's entry in plants.OPTIONS
