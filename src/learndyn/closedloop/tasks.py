"""Tasks: what the coupled agent + plant should do, as episodes and a per-episode cost.

A task provides
    sample(key, batch)          -> (x0 (B, nx), ref (B, T + 1, nr))   nr may be 0
    agent_input(y, r)           -> the agent's input at one time step, (n_in,)
    episode_loss(xs, us, ref)   -> scalar, xs (T + 1, nx), us (T, nu), ref (T + 1, nr)
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Regulation:
    """Drive the state to the origin from x0 ~ U(-x0_range, x0_range)^nx.

    episode loss = reduce_t ||x_t||^2 + beta * sum_t ||u_t||^2 over t = 0 .. T-1, where
    reduce is a sum ("sum", Ger & Barak Fig. 1) or a mean ("mean") over time.
    """

    nx: int
    horizon: int = 50
    x0_range: float = 1.0
    beta: float = 0.0
    time_reduction: str = "sum"

    n_ref: int = 0

    def sample(self, key, batch: int):
        x0 = jax.random.uniform(key, (batch, self.nx), minval=-self.x0_range, maxval=self.x0_range)
        return x0, jnp.zeros((batch, self.horizon + 1, 0), x0.dtype)

    def agent_input(self, y, r):
        return y

    def episode_loss(self, xs, us, ref):
        state_cost = jnp.sum(xs[:-1] ** 2, axis=-1)
        red = jnp.sum if self.time_reduction == "sum" else jnp.mean
        return red(state_cost) + self.beta * jnp.sum(us ** 2)

    def x0_covariance(self) -> np.ndarray:
        """Cov of x0 (used by the exact loss map of linear policies)."""
        return np.eye(self.nx) * self.x0_range ** 2 / 3.0


@dataclass(frozen=True)
class SinusoidTracking:
    """Ger & Barak Fig. 6: track a sum of sinusoids with the positions of a 2-D point mass.

    r_d(t) = amp * sum_j cos(2 pi f_dj t + phase) with an onset ramp over `ramp_s` seconds;
    the agent sees (position, reference); loss = sum_t dt ||pos_{t+1} - r_t||^2 / T.
    """

    dt: float = 0.1
    horizon: int = 300
    amp: float = 2.31
    freqs_x: tuple[float, ...] = (0.1, 0.3)
    freqs_y: tuple[float, ...] = (0.2, 0.4)
    ramp_s: float = 1.0
    position_index: tuple[int, ...] = (0, 2)
    nx: int = 4
    n_ref: int = 2

    def reference(self, phases: jax.Array) -> jax.Array:
        """phases: (len(freqs_x) + len(freqs_y),) -> ref: (T + 1, 2)."""
        t = jnp.arange(self.horizon + 1) * self.dt
        ramp = jnp.clip(t / self.ramp_s, 0.0, 1.0) if self.ramp_s > 0 else jnp.ones_like(t)
        nfx = len(self.freqs_x)
        rx = sum(jnp.cos(2 * jnp.pi * f * t + phases[i]) for i, f in enumerate(self.freqs_x))
        ry = sum(jnp.cos(2 * jnp.pi * f * t + phases[nfx + i]) for i, f in enumerate(self.freqs_y))
        return self.amp * ramp[:, None] * jnp.stack([rx, ry], axis=-1)

    def sample(self, key, batch: int):
        n_ph = len(self.freqs_x) + len(self.freqs_y)
        phases = jax.random.uniform(key, (batch, n_ph), minval=-jnp.pi, maxval=jnp.pi)
        ref = jax.vmap(self.reference)(phases)
        return jnp.zeros((batch, self.nx)), ref

    def agent_input(self, y, r):
        return jnp.concatenate([y, r])

    def episode_loss(self, xs, us, ref):
        pos = xs[1:, jnp.array(self.position_index)]  # (T, 2): pos_{t+1}
        return jnp.sum(self.dt * jnp.sum((pos - ref[:-1]) ** 2, axis=-1)) / self.horizon
