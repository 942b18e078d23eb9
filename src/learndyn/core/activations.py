"""The one activation table of learndyn: every world's element-wise nonlinearities.

``Activation(name, a=1, b=1)`` is hashable (a static jit argument) and callable. Names:

* ``"linear"``: ``x``
* ``"tanh"``: ``tanh(x)``
* ``"relu"``: ``max(x, 0)``
* ``"silu"``: ``x * sigmoid(x)``
* ``"relu2"``: ``max(x, 0)^2``
* ``"x2"``: ``x^2`` (``z * z`` for complex input, not ``|z|^2``)
* ``"quad"``: ``a x + b x^2``

``a`` and ``b`` are read by ``"quad"`` only. The polynomial ones (``linear``, ``x2``,
``quad``) are holomorphic and so the only ones allowed on complex input.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from learndyn.errors import ConfigError

__all__ = ["ACTIVATIONS", "POLYNOMIAL", "Activation", "get_activation"]


def _relu2(x, a, b):
    r = jax.nn.relu(x)
    return r * r


_TABLE: dict[str, Callable] = {
    "linear": lambda x, a, b: x,
    "tanh": lambda x, a, b: jnp.tanh(x),
    "relu": lambda x, a, b: jax.nn.relu(x),
    "silu": lambda x, a, b: jax.nn.silu(x),
    "relu2": _relu2,
    "x2": lambda x, a, b: x * x,
    "quad": lambda x, a, b: a * x + b * (x * x),
}

#: every name :class:`Activation` accepts
ACTIVATIONS: tuple[str, ...] = tuple(_TABLE)
#: the holomorphic ones (usable on complex weights)
POLYNOMIAL: tuple[str, ...] = ("linear", "x2", "quad")


@dataclasses.dataclass(frozen=True)
class Activation:
    """An element-wise activation from the table (see the module docstring)."""

    name: str
    a: float = 1.0
    b: float = 1.0

    def __post_init__(self):
        if self.name not in _TABLE:
            raise ConfigError("activation",
                              f"unknown {self.name!r}; allowed: {', '.join(ACTIVATIONS)}")

    @property
    def polynomial(self) -> bool:
        """True for the holomorphic activations usable with complex weights."""
        return self.name in POLYNOMIAL

    def __call__(self, x: jax.Array) -> jax.Array:
        if jnp.iscomplexobj(x) and not self.polynomial:
            raise ConfigError("activation", f"{self.name!r} is not defined for complex "
                                            f"weights; allowed: {', '.join(POLYNOMIAL)}")
        return _TABLE[self.name](x, self.a, self.b)


def get_activation(act) -> Callable[[jax.Array], jax.Array]:
    """An :class:`Activation` from a name or an Activation; any other callable as it is."""
    if isinstance(act, Activation):
        return act
    if isinstance(act, str):
        return Activation(act)
    if callable(act):
        return act
    raise ConfigError("activation",
                      f"must be a name or callable; allowed names: {', '.join(ACTIVATIONS)}")
