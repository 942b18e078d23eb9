"""The 2-D point mass of Ger & Barak Fig. 6: two double integrators, state clamped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax.numpy as jnp
import numpy as np
from pydantic import Field

from learndyn.closedloop.plants.base import Plant
from learndyn.core.config import FiniteFloat, Strict


@dataclass(frozen=True, eq=False)
class PointMass2D(Plant):
    """State [x, vx, y, vy], control [ax, ay], observation [x, y].

    x' = x + dt vx, vx' = vx + dt ax (same for y); every state is clamped to [-clamp, clamp]
    (which makes the plant nonlinear far from the origin).
    """

    dt: float = 0.1
    clamp: float = 10.0
    name: str = "point-mass-2d"
    nx: int = 4
    nu: int = 2
    ny: int = 2

    def step(self, x, u):
        dt = self.dt
        pos = x[jnp.array([0, 2])]
        vel = x[jnp.array([1, 3])]
        pos = pos + dt * vel
        vel = vel + dt * u
        nxt = jnp.stack([pos[0], vel[0], pos[1], vel[1]])
        return jnp.clip(nxt, -self.clamp, self.clamp)

    def observe(self, x):
        return x[jnp.array([0, 2])]

    @property
    def position_index(self) -> np.ndarray:
        return np.array([0, 2])


class PointMassCfg(Strict):
    """Recipe option ``[plant] type = "point_mass"`` (Ger & Barak Fig. 6: dt 0.1, clamp 10)."""

    type: Literal["point_mass"] = "point_mass"
    dt: FiniteFloat = Field(0.1, gt=0)
    clamp: FiniteFloat = Field(10.0, gt=0, description="every state is clamped to +-clamp")

    def build(self) -> PointMass2D:
        return PointMass2D(dt=self.dt, clamp=self.clamp)


OPTION = PointMassCfg   # this file's entry in plants.OPTIONS
