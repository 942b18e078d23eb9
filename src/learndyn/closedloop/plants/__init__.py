"""Plants: k-integrator, 2-D point mass, any linear plant (A, B, C), damped pendulum."""

from learndyn.closedloop.plants.base import LinearPlant, Plant
from learndyn.closedloop.plants.integrator import k_integrator
from learndyn.closedloop.plants.pendulum import DampedPendulum
from learndyn.closedloop.plants.pointmass import PointMass2D

__all__ = ["Plant", "LinearPlant", "k_integrator", "PointMass2D", "DampedPendulum"]
