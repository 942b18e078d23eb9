"""The cart-pole linearised about the upright equilibrium: a named linear plant.

This file is the whole of what a named linear plant takes (plus its line in
``plants/__init__.py``): a function that returns a ``LinearPlant`` and its recipe option.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from learndyn.closedloop.plants.base import LinearPlant
from learndyn.core.config import FiniteFloat, Strict


def cart_pole(dt: float = 0.02, cart_mass: float = 1.0, pole_mass: float = 0.1,
              pole_length: float = 0.5, gravity: float = 9.81) -> LinearPlant:
    """State [x, x', theta, theta'] (theta from upright), force u on the cart, observed
    [x, theta]. A point mass m on a massless pole of length l, cart mass M, linearised about
    theta = 0:  x'' = (u - m g theta) / M,  theta'' = ((M + m) g theta - u) / (M l);
    forward Euler with step dt (so A = I + dt A_c, B = dt B_c). The pole is unstable:
    A_c has the eigenvalue +sqrt((M + m) g / (M l))."""
    M, m, l, g = cart_mass, pole_mass, pole_length, gravity
    Ac = np.array([[0.0, 1.0, 0.0, 0.0],
                   [0.0, 0.0, -m * g / M, 0.0],
                   [0.0, 0.0, 0.0, 1.0],
                   [0.0, 0.0, (M + m) * g / (M * l), 0.0]])
    Bc = np.array([[0.0], [1.0 / M], [0.0], [-1.0 / (M * l)]])
    C = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    return LinearPlant(np.eye(4) + dt * Ac, dt * Bc, C, name="cart-pole")


class CartPoleCfg(Strict):
    """Recipe option ``[plant] type = "cart_pole"``."""

    type: Literal["cart_pole"] = "cart_pole"
    dt: FiniteFloat = Field(0.02, gt=0)
    cart_mass: FiniteFloat = Field(1.0, gt=0)
    pole_mass: FiniteFloat = Field(0.1, gt=0)
    pole_length: FiniteFloat = Field(0.5, gt=0)
    gravity: FiniteFloat = Field(9.81, gt=0)

    def build(self) -> LinearPlant:
        return cart_pole(self.dt, self.cart_mass, self.pole_mass, self.pole_length,
                         self.gravity)


OPTION = CartPoleCfg   # this file's entry in plants.OPTIONS
