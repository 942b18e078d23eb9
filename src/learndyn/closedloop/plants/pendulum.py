"""A damped pendulum: a nonlinear plant, so that nothing downstream assumes linearity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax.numpy as jnp
from pydantic import Field

from learndyn.closedloop.plants.base import Plant
from learndyn.core.config import FiniteFloat, Strict


@dataclass(frozen=True, eq=False)
class DampedPendulum(Plant):
    """theta'' = -(g / l) sin(theta) - damping * theta' + u, semi-implicit Euler with step dt.

    State [theta, omega], control [torque], observation [theta]. The operating point is the
    hanging equilibrium theta = 0 (use `upright=True` for theta = pi, an unstable equilibrium
    that a controller must hold; the state is then measured relative to pi).
    """

    dt: float = 0.05
    g_over_l: float = 9.81
    damping: float = 0.1
    upright: bool = False
    name: str = "damped-pendulum"
    nx: int = 2
    nu: int = 1
    ny: int = 1

    def step(self, x, u):
        theta, omega = x[0], x[1]
        angle = theta + (jnp.pi if self.upright else 0.0)
        omega = omega + self.dt * (-self.g_over_l * jnp.sin(angle) - self.damping * omega + u[0])
        theta = theta + self.dt * omega
        return jnp.stack([theta, omega])

    def observe(self, x):
        return x[:1]

    @property
    def position_index(self):
        import numpy as np
        return np.array([0])


class PendulumCfg(Strict):
    """Recipe option ``[plant] type = "pendulum"``."""

    type: Literal["pendulum"] = "pendulum"
    dt: FiniteFloat = Field(0.05, gt=0)
    g_over_l: FiniteFloat = Field(9.81, gt=0)
    damping: FiniteFloat = Field(0.1, ge=0)
    upright: bool = False

    def build(self) -> DampedPendulum:
        return DampedPendulum(dt=self.dt, g_over_l=self.g_over_l, damping=self.damping,
                              upright=self.upright)


OPTION = PendulumCfg   # this file's entry in plants.OPTIONS
