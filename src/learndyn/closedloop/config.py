"""Recipe schema of the closed-loop world (validated by pydantic, loaded from TOML)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_serializer, field_validator, model_validator

from learndyn.core.config import MAX_FLOATS, FiniteFloat, FloatPair, RecipeBase, Strict
from learndyn.core.schedule import Schedule


class InitCfg(Strict):
    dist: Literal["normal", "uniform"] = "normal"
    scale: FiniteFloat = Field(0.01, ge=0)
    per_sqrt_fan_in: bool = False


class PlantCfg(Strict):
    type: Literal["k_integrator", "point_mass", "linear", "pendulum"] = "k_integrator"
    k: int = Field(2, ge=1, le=32, description="k-integrator order")
    dt: FiniteFloat = Field(1.0, gt=0)
    clamp: FiniteFloat = Field(10.0, gt=0, description="point-mass state clamp")
    A: list[list[FiniteFloat]] | None = None
    B: list[list[FiniteFloat]] | None = None
    C: list[list[FiniteFloat]] | None = None
    g_over_l: FiniteFloat = Field(9.81, gt=0)
    damping: FiniteFloat = Field(0.1, ge=0)
    upright: bool = False

    @model_validator(mode="after")
    def _matrices(self):
        if self.type == "linear":
            for name in ("A", "B", "C"):
                m = getattr(self, name)
                if m is None:
                    raise ValueError(f"plant.{name} is required when plant.type = 'linear'")
                if not m or not m[0] or any(len(row) != len(m[0]) for row in m):
                    raise ValueError(f"plant.{name} must be a non-empty matrix (a list of rows "
                                     f"of equal, non-zero length), got {m!r}")
            A, B, C = (np.asarray(getattr(self, n), float) for n in ("A", "B", "C"))
            if A.ndim != 2 or A.shape[0] != A.shape[1]:
                raise ValueError(f"plant.A must be a square matrix, got shape {A.shape}")
            if B.ndim != 2 or B.shape[0] != A.shape[0]:
                raise ValueError(f"plant.B must have {A.shape[0]} rows (nx), got shape {B.shape}")
            if C.ndim != 2 or C.shape[1] != A.shape[0]:
                raise ValueError(f"plant.C must have {A.shape[0]} columns (nx), got shape {C.shape}")
        return self

    def dims(self) -> tuple[int, int, int]:
        """(nx, nu, ny) of the plant this config builds."""
        if self.type == "linear":
            return len(self.A), len(self.B[0]), len(self.C)
        return {"k_integrator": (self.k, 1, 1), "point_mass": (4, 2, 2),
                "pendulum": (2, 1, 1)}[self.type]


class AgentCfg(Strict):
    n: int = Field(100, ge=1, le=100_000)
    activation: Literal["linear", "tanh", "relu"] = "tanh"
    leak: FiniteFloat | None = Field(None, gt=0, le=1, description="dt/tau (None: discrete time)")
    rank: int | None = Field(None, ge=1)
    g_bulk: FiniteFloat = Field(0.0, ge=0)
    w_init: InitCfg = InitCfg(dist="normal", scale=0.1, per_sqrt_fan_in=True)
    w_in_init: InitCfg = InitCfg(dist="normal", scale=0.01)
    w_out_init: InitCfg = InitCfg(dist="normal", scale=0.01)
    uv_init: InitCfg = InitCfg(dist="normal", scale=1.0, per_sqrt_fan_in=True)
    trainable: list[Literal["W", "W_in", "W_out", "U", "V"]] = Field(
        ["W", "W_in", "W_out", "U", "V"], min_length=1,
        description="weights that train (at least one; U, V: the low-rank part)")

    @model_validator(mode="after")
    def _rank(self):
        if self.rank is not None and self.rank > self.n:
            raise ValueError(f"agent.rank must be <= agent.n = {self.n}, got {self.rank}")
        present = {"W_in", "W_out"} | ({"W"} if self.rank is None else {"U", "V"})
        if not present & set(self.trainable):
            raise ValueError(f"agent.trainable names no weight this agent has "
                             f"(agent.rank = {self.rank}); allowed: {sorted(present)}")
        return self


class TaskCfg(Strict):
    type: Literal["regulation", "tracking"] = "regulation"
    horizon: int = Field(50, ge=1, le=100_000)
    x0_range: FiniteFloat = Field(1.0, gt=0)
    beta: FiniteFloat = Field(0.0, ge=0)
    time_reduction: Literal["sum", "mean"] = "sum"
    amp: FiniteFloat = Field(2.31, gt=0)
    freqs_x: list[FiniteFloat] = Field([0.1, 0.3], min_length=1, max_length=64)
    freqs_y: list[FiniteFloat] = Field([0.2, 0.4], min_length=1, max_length=64)
    ramp_s: FiniteFloat = Field(1.0, ge=0)


class TrainCfg(Strict):
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: FiniteFloat = Field(0.01, gt=0)
    momentum: FiniteFloat = Field(0.0, ge=0, lt=1)
    clip: FiniteFloat | None = Field(
        1.0, gt=0, description="gradient-norm clip (> 0); no clipping: clip = false in TOML, "
                               "None from Python")
    batch: int = Field(100, ge=1, le=1_000_000)
    batch_reduction: Literal["mean", "sum"] = "sum"
    epochs: int = Field(1000, ge=1, le=100_000_000)
    eval_batch: int = Field(200, ge=2, le=1_000_000)
    diverge_above: FiniteFloat = Field(1e12, gt=0)

    @field_validator("clip", mode="before")
    @classmethod
    def _no_clip(cls, v):
        if v is False:      # TOML has no null: `clip = false` means no clipping
            return None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0:
            raise ValueError("must be > 0, got 0; for no clipping write clip = false")
        return v

    @field_serializer("clip")
    def _clip_toml(self, v):
        return False if v is None else v    # written back as `clip = false`
    # A run also diverges when its training loss (the loss each update returns: the batch's
    # episode loss in closed loop, the imitation loss in open loop) exceeds diverge_factor x
    # its initial value (inf: off, the one float field that may be infinite; nan is refused by
    # gt). 1e4 is far above what a healthy run does: on gb2025-fig1
    # at paper scale (measured on the CPU) neither loss ever exceeds its initial value (the
    # recorded closed-loop loss peaks at 1.0x, the imitation loss at 1.0x from 36 down to
    # 0.08); the rise of ~60x at paper scale (62.7x measured) is the student's *deployed* loss,
    # which the rule does not read. A diverging run's loss grows by 1e8 x or more within a
    # few updates (gb2025-fig1 smoke at lr 0.05 unclipped: deployed 5e3 -> 1e16-2e17).
    diverge_factor: float = Field(1e4, gt=1)


class OpenLoopCfg(Strict):
    enabled: bool = True
    inputs: Literal["white_noise", "teacher"] = "white_noise"
    epochs: int | None = Field(None, ge=1, le=100_000_000, description="default: train.epochs")


class GainMapCfg(Strict):
    k1: FloatPair = (-1.0, 0.25)
    k2: FloatPair = (-2.0, 0.25)
    resolution: int = Field(121, ge=8, le=2000)

    @model_validator(mode="after")
    def _ranges(self):
        for name in ("k1", "k2"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                raise ValueError(f"gain_map.{name} must be [low, high] with low < high, "
                                 f"got {[lo, hi]}")
        return self


class ClosedLoopRecipe(RecipeBase):
    """A closed- vs open-loop study (Ger & Barak Figs. 1-2 and any plant/agent like them)."""

    study: Literal["closedloop"] = "closedloop"
    plant: PlantCfg = PlantCfg()
    agent: AgentCfg = AgentCfg()
    task: TaskCfg = TaskCfg()
    train: TrainCfg = TrainCfg()
    open_loop: OpenLoopCfg = OpenLoopCfg()
    record: Schedule = Schedule()
    gain_map: GainMapCfg = GainMapCfg()
    n_stages: int = Field(4, ge=2, le=8, description="regimes fitted to the closed-loop loss")

    @model_validator(mode="after")
    def _consistent(self):
        nx, nu, ny = self.plant.dims()
        # the tracking cost compares the plant's positions (all of a linear plant's state) with a
        # 2-D reference
        if self.task.type == "tracking" and (ny != 2 or (self.plant.type == "linear" and nx != 2)):
            raise ValueError("task.type: 'tracking' needs a plant with 2 observed positions "
                             "(plant.type = 'point_mass', or a linear plant with nx = ny = 2)")
        # floats held at once: one group of runs' BPTT trajectories (at least one run: every step
        # of every trajectory of the batch) and every seed's weights with optimizer state
        n, T = self.agent.n, self.task.horizon
        batch = max(self.train.batch, self.train.eval_batch)
        need = batch * (T + 1) * (n + nx + nu + ny) + self.seeds * 4 * n * (n + nx + nu + ny)
        if need > MAX_FLOATS:
            raise ValueError(f"agent.n: batch x horizon x (state size) + seeds x weights = "
                             f"{need:.3g} floats is more than the {MAX_FLOATS:.3g} allowed; make "
                             "agent.n, task.horizon, train.batch / eval_batch or seeds smaller")
        return self
