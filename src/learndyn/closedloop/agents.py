"""RNN controllers.

Discrete time:           h' = phi(W h + W_in y)
Leaky continuous time:   h' = h + a (-h + phi(W h + W_in y)),   a = dt / tau
Readout:                 u  = W_out h

W is either full rank or low rank plus a fixed random bulk: W = U V^T + g J, J ~ N(0, 1/N).
Parameters are a dict of arrays (a pytree); `masks()` gives, per matrix, 1 where the entry is
trained and 0 where it is frozen, so a frozen matrix simply has a zero mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.core.activations import Activation
from learndyn.errors import ConfigError

# the activations an agent accepts (from the one table, learndyn.core.activations)
ACTIVATIONS = ("linear", "tanh", "relu")


@dataclass(frozen=True)
class InitSpec:
    """How one matrix is initialised: normal with std `scale`, or uniform on (-scale, scale).
    With `per_sqrt_fan_in`, the scale is divided by sqrt(fan-in)."""

    dist: Literal["normal", "uniform"] = "normal"
    scale: float = 0.01
    per_sqrt_fan_in: bool = False

    def sample(self, key, shape, fan_in: int, dtype=jnp.float32):
        s = float(self.scale / np.sqrt(fan_in)) if self.per_sqrt_fan_in else float(self.scale)
        if self.dist == "normal":
            return s * jax.random.normal(key, shape, dtype)
        return jax.random.uniform(key, shape, dtype, -s, s)


@dataclass(frozen=True)
class RNNAgent:
    """An RNN controller with N units, `n_in` inputs and `n_out` outputs.

    rank: None for a full-rank W; r for W = U V^T + g_bulk * J.
    leak: None for discrete time, else dt / tau of the leaky continuous-time RNN.
    trainable: names of the trained matrices (the rest are frozen).
    """

    n: int = 100
    n_in: int = 1
    n_out: int = 1
    activation: str = "tanh"
    leak: float | None = None
    rank: int | None = None
    g_bulk: float = 0.0
    w_init: InitSpec = field(default_factory=lambda: InitSpec("normal", 0.1, True))
    w_in_init: InitSpec = field(default_factory=lambda: InitSpec("normal", 0.01))
    w_out_init: InitSpec = field(default_factory=lambda: InitSpec("normal", 0.01))
    uv_init: InitSpec = field(default_factory=lambda: InitSpec("normal", 1.0, True))
    trainable: tuple[str, ...] = ("W", "W_in", "W_out", "U", "V")

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ConfigError("agent.activation",
                              f"{self.activation!r} is not one of {sorted(ACTIVATIONS)}")
        if self.n < 1:
            raise ConfigError("agent.n", f"must be >= 1, got {self.n}")
        if self.rank is not None and not 1 <= self.rank <= self.n:
            raise ConfigError("agent.rank", f"must be between 1 and agent.n = {self.n}, got {self.rank}")
        if self.leak is not None and not 0 < self.leak <= 1:
            raise ConfigError("agent.leak", f"dt/tau must be in (0, 1], got {self.leak}")

    @property
    def phi(self):
        return Activation(self.activation)

    def init(self, key: jax.Array) -> dict:
        """Parameters: W (N, N) or U, V (N, r) + bulk (N, N); W_in (N, n_in); W_out (n_out, N)."""
        k = jax.random.split(key, 5)
        p = {
            "W_in": self.w_in_init.sample(k[0], (self.n, self.n_in), self.n_in),
            "W_out": self.w_out_init.sample(k[1], (self.n_out, self.n), self.n),
        }
        if self.rank is None:
            p["W"] = self.w_init.sample(k[2], (self.n, self.n), self.n)
        else:
            p["U"] = self.uv_init.sample(k[2], (self.n, self.rank), self.n)
            p["V"] = self.uv_init.sample(k[3], (self.n, self.rank), self.n)
            p["bulk"] = self.g_bulk * jax.random.normal(k[4], (self.n, self.n)) / np.sqrt(self.n)
        return p

    def masks(self, params: dict) -> dict:
        """1.0 for trained matrices, 0.0 for frozen ones (the bulk is always frozen)."""
        return {name: jnp.ones_like(v) if name in self.trainable and name != "bulk"
                else jnp.zeros_like(v) for name, v in params.items()}

    def recurrent(self, params: dict) -> jax.Array:
        """The effective recurrent matrix W: (N, N)."""
        if "W" in params:
            return params["W"]
        return params["U"] @ params["V"].T + params["bulk"]

    def step(self, params: dict, h: jax.Array, inp: jax.Array) -> jax.Array:
        """h: (N,), inp: (n_in,) -> h': (N,)."""
        if "W" in params:
            rec = params["W"] @ h
        else:  # never form U V^T in the loop: two thin products
            rec = params["U"] @ (params["V"].T @ h) + params["bulk"] @ h
        pre = rec + params["W_in"] @ inp
        if self.leak is None:
            return self.phi(pre)
        return h + self.leak * (-h + self.phi(pre))

    def readout(self, params: dict, h: jax.Array) -> jax.Array:
        """h: (N,) -> u: (n_out,)."""
        return params["W_out"] @ h
