"""Plants: k-integrator, 2-D point mass, any linear plant (A, B, C), damped pendulum,
linearised cart-pole.

``OPTIONS`` is the one registry of plants a recipe may name (``[plant] type = ...``). Each
plant file defines its plant and ``OPTION``, its recipe option (a pydantic model with a
literal ``type`` and ``build()``); ``FILES`` lists those files. A new plant is one file plus
its name in ``FILES``. Nothing registers itself on import.
"""

import importlib

from learndyn.closedloop.plants.base import LinearPlant, Plant
from learndyn.closedloop.plants.cartpole import cart_pole
from learndyn.closedloop.plants.integrator import k_integrator
from learndyn.closedloop.plants.pendulum import DampedPendulum
from learndyn.closedloop.plants.pointmass import PointMass2D

FILES = ("integrator", "pointmass", "linear", "pendulum", "cartpole")
OPTIONS = tuple(importlib.import_module(f"{__name__}.{f}").OPTION for f in FILES)

__all__ = ["FILES", "OPTIONS", "Plant", "LinearPlant", "k_integrator", "cart_pole",
           "PointMass2D", "DampedPendulum"]
