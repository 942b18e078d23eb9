"""Tasks: what the coupled agent + plant should do, as episodes and a per-episode cost.

A task provides
    sample(key, batch)          -> (x0 (B, nx), ref (B, T + 1, nr))   nr may be 0
    agent_input(y, r)           -> the agent's input at one time step, (n_in,)
    episode_loss(xs, us, ref)   -> scalar, xs (T + 1, nx), us (T, nu), ref (T + 1, nr)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from learndyn.core.config import FiniteFloat, Strict


@dataclass(frozen=True)
class Regulation:
    """Drive the state to the origin from x0 ~ U(-x0_range, x0_range)^nx.

    episode loss = reduce_t c(x_t) + control_scale * beta * sum_t ||u_t||^2 over
    t = 0 .. T-1, where reduce is a sum ("sum", Ger & Barak Fig. 1) or a mean ("mean") over
    time, and c(x) = ||x||^2 (state_reduction "sum") or ||x||^2 / nx ("mean": torch's
    MSELoss over the state dimensions, as the authors' code computes it). control_scale is
    the batch size when the penalty is a sum over the batch while the objective is a batch
    mean (the authors' `reg_U * u.pow(2).sum()`), else 1.

    deployed: what the deployed (test) loss is: "objective" (the episode loss itself) or
    "state_cost" (sum over time and state dimensions of x^2, no control term: how the
    authors evaluate a controller).
    """

    nx: int
    horizon: int = 50
    x0_range: float = 1.0
    beta: float = 0.0
    time_reduction: str = "sum"
    state_reduction: str = "sum"
    control_scale: float = 1.0
    deployed: str = "objective"

    n_ref: int = 0

    def sample(self, key, batch: int):
        x0 = jax.random.uniform(key, (batch, self.nx), minval=-self.x0_range, maxval=self.x0_range)
        return x0, jnp.zeros((batch, self.horizon + 1, 0), x0.dtype)

    def agent_input(self, y, r):
        return y

    def episode_loss(self, xs, us, ref):
        state_red = jnp.sum if self.state_reduction == "sum" else jnp.mean
        state_cost = state_red(xs[:-1] ** 2, axis=-1)
        red = jnp.sum if self.time_reduction == "sum" else jnp.mean
        return red(state_cost) + (self.control_scale * self.beta) * jnp.sum(us ** 2)

    def deployed_task(self) -> "Regulation":
        """The task whose episode loss is the deployed loss (see `deployed`)."""
        if self.deployed == "objective":
            return self
        return dataclasses.replace(self, beta=0.0, time_reduction="sum",
                                   state_reduction="sum", control_scale=1.0,
                                   deployed="objective")

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
        t = jnp.arange(self.horizon + 1, dtype=jnp.float32) * self.dt
        ramp = jnp.clip(t / self.ramp_s, 0.0, 1.0) if self.ramp_s > 0 else jnp.ones_like(t)
        nfx = len(self.freqs_x)
        rx = sum(jnp.cos(2 * jnp.pi * f * t + phases[i]) for i, f in enumerate(self.freqs_x))
        ry = sum(jnp.cos(2 * jnp.pi * f * t + phases[nfx + i]) for i, f in enumerate(self.freqs_y))
        return self.amp * ramp[:, None] * jnp.stack([rx, ry], axis=-1)

    @property
    def frequencies(self) -> tuple[float, ...]:
        """Every target frequency (Hz): x's, then y's."""
        return tuple(self.freqs_x) + tuple(self.freqs_y)

    def probes(self, key) -> jax.Array:
        """The per-frequency probe references (n_freqs, T + 1, 2), as the authors measure a
        frequency's loss: one sinusoid at that frequency on its own axis (amplitude `amp`,
        a random phase, the onset ramp), the other axis at 0."""
        t = jnp.arange(self.horizon + 1, dtype=jnp.float32) * self.dt
        ramp = jnp.clip(t / self.ramp_s, 0.0, 1.0) if self.ramp_s > 0 else jnp.ones_like(t)
        nfx = len(self.freqs_x)
        phases = jax.random.uniform(key, (len(self.frequencies),), minval=-jnp.pi,
                                    maxval=jnp.pi)
        out = []
        for i, f in enumerate(self.frequencies):
            wave = self.amp * ramp * jnp.cos(2 * jnp.pi * f * t + phases[i])
            zero = jnp.zeros_like(wave)
            out.append(jnp.stack([wave, zero] if i < nfx else [zero, wave], axis=-1))
        return jnp.stack(out)

    def sample(self, key, batch: int):
        n_ph = len(self.freqs_x) + len(self.freqs_y)
        phases = jax.random.uniform(key, (batch, n_ph), minval=-jnp.pi, maxval=jnp.pi)
        ref = jax.vmap(self.reference)(phases)
        return jnp.zeros((batch, self.nx)), ref

    def agent_input(self, y, r):
        return jnp.concatenate([y, r])

    def deployed_task(self) -> "SinusoidTracking":
        return self

    def episode_loss(self, xs, us, ref):
        pos = xs[1:, jnp.array(self.position_index)]  # (T, 2): pos_{t+1}
        return jnp.sum(self.dt * jnp.sum((pos - ref[:-1]) ** 2, axis=-1)) / self.horizon


# -- recipe options: [task] type = "regulation" | "tracking" ------------------------------------

class RegulationCfg(Strict):
    type: Literal["regulation"] = "regulation"
    horizon: int = Field(50, ge=1, le=100_000)
    x0_range: FiniteFloat = Field(1.0, gt=0)
    beta: FiniteFloat = Field(0.0, ge=0)
    time_reduction: Literal["sum", "mean"] = "sum"
    state_reduction: Literal["sum", "mean"] = Field(
        "sum", description="over the state dimensions: sum, or mean (torch's MSELoss)")
    control_batch: Literal["mean", "sum"] = Field(
        "mean", description="the control penalty over the batch: as the objective ('mean'), "
                            "or a sum over the batch inside a batch-mean objective ('sum': "
                            "the authors' reg_U * u.pow(2).sum(), beta x batch per episode)")
    deployed: Literal["objective", "state_cost"] = Field(
        "objective", description="the deployed (test) loss: the episode objective, or the "
                                 "state cost sum_t ||x_t||^2 with no control term")

    def build(self, plant, batch: int = 1) -> Regulation:
        """The task; `batch` (the training batch) scales the penalty when control_batch is
        'sum'."""
        return Regulation(nx=plant.nx, horizon=self.horizon, x0_range=self.x0_range,
                          beta=self.beta, time_reduction=self.time_reduction,
                          state_reduction=self.state_reduction,
                          control_scale=float(batch) if self.control_batch == "sum" else 1.0,
                          deployed=self.deployed)


class TrackingCfg(Strict):
    type: Literal["tracking"] = "tracking"
    horizon: int = Field(300, ge=1, le=100_000)
    amp: FiniteFloat = Field(2.31, gt=0)
    freqs_x: list[FiniteFloat] = Field([0.1, 0.3], min_length=1, max_length=64)
    freqs_y: list[FiniteFloat] = Field([0.2, 0.4], min_length=1, max_length=64)
    ramp_s: FiniteFloat = Field(1.0, ge=0)

    def build(self, plant, batch: int = 1) -> SinusoidTracking:
        """The tracking task on `plant`'s two position states, at the plant's dt (0.1 for a
        plant without one)."""
        return SinusoidTracking(dt=getattr(plant, "dt", 0.1), horizon=self.horizon,
                                amp=self.amp, freqs_x=tuple(self.freqs_x),
                                freqs_y=tuple(self.freqs_y), ramp_s=self.ramp_s,
                                position_index=tuple(int(i) for i in plant.position_index),
                                nx=plant.nx)


OPTIONS = (RegulationCfg, TrackingCfg)
