"""Recipe schema of the closed-loop world (validated by pydantic, loaded from TOML)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from learndyn.core.config import RecipeBase, Strict
from learndyn.core.schedule import Schedule


class InitCfg(Strict):
    dist: Literal["normal", "uniform"] = "normal"
    scale: float = Field(0.01, ge=0)
    per_sqrt_fan_in: bool = False


class PlantCfg(Strict):
    type: Literal["k_integrator", "point_mass", "linear", "pendulum"] = "k_integrator"
    k: int = Field(2, ge=1, le=32, description="k-integrator order")
    dt: float = Field(1.0, gt=0)
    clamp: float = Field(10.0, gt=0, description="point-mass state clamp")
    A: list[list[float]] | None = None
    B: list[list[float]] | None = None
    C: list[list[float]] | None = None
    g_over_l: float = Field(9.81, gt=0)
    damping: float = Field(0.1, ge=0)
    upright: bool = False

    @model_validator(mode="after")
    def _matrices(self):
        if self.type == "linear":
            for name in ("A", "B", "C"):
                if getattr(self, name) is None:
                    raise ValueError(f"plant.{name} is required when plant.type = 'linear'")
            A, B, C = (np.asarray(getattr(self, n), float) for n in ("A", "B", "C"))
            if A.ndim != 2 or A.shape[0] != A.shape[1]:
                raise ValueError(f"plant.A must be a square matrix, got shape {A.shape}")
            if B.ndim != 2 or B.shape[0] != A.shape[0]:
                raise ValueError(f"plant.B must have {A.shape[0]} rows (nx), got shape {B.shape}")
            if C.ndim != 2 or C.shape[1] != A.shape[0]:
                raise ValueError(f"plant.C must have {A.shape[0]} columns (nx), got shape {C.shape}")
        return self


class AgentCfg(Strict):
    n: int = Field(100, ge=1, le=100_000)
    activation: Literal["linear", "tanh", "relu"] = "tanh"
    leak: float | None = Field(None, gt=0, le=1, description="dt/tau (None: discrete time)")
    rank: int | None = Field(None, ge=1)
    g_bulk: float = Field(0.0, ge=0)
    w_init: InitCfg = InitCfg(dist="normal", scale=0.1, per_sqrt_fan_in=True)
    w_in_init: InitCfg = InitCfg(dist="normal", scale=0.01)
    w_out_init: InitCfg = InitCfg(dist="normal", scale=0.01)
    uv_init: InitCfg = InitCfg(dist="normal", scale=1.0, per_sqrt_fan_in=True)
    trainable: list[Literal["W", "W_in", "W_out", "U", "V"]] = ["W", "W_in", "W_out", "U", "V"]

    @model_validator(mode="after")
    def _rank(self):
        if self.rank is not None and self.rank > self.n:
            raise ValueError(f"agent.rank must be <= agent.n = {self.n}, got {self.rank}")
        return self


class TaskCfg(Strict):
    type: Literal["regulation", "tracking"] = "regulation"
    horizon: int = Field(50, ge=1, le=100_000)
    x0_range: float = Field(1.0, gt=0)
    beta: float = Field(0.0, ge=0)
    time_reduction: Literal["sum", "mean"] = "sum"
    amp: float = Field(2.31, gt=0)
    freqs_x: list[float] = [0.1, 0.3]
    freqs_y: list[float] = [0.2, 0.4]
    ramp_s: float = Field(1.0, ge=0)


class TrainCfg(Strict):
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    clip: float | None = Field(1.0, gt=0)
    batch: int = Field(100, ge=1)
    batch_reduction: Literal["mean", "sum"] = "sum"
    epochs: int = Field(1000, ge=1)
    eval_batch: int = Field(200, ge=2)
    diverge_above: float = Field(1e12, gt=0)
    # A run also diverges when its training loss (the loss each update returns: the batch's
    # episode loss in closed loop, the imitation loss in open loop) exceeds diverge_factor x
    # its initial value (inf: off). 1e4 is far above what a healthy run does: on gb2025-fig1
    # at paper scale (measured on the CPU) neither loss ever exceeds its initial value (the
    # recorded closed-loop loss peaks at 1.0x, the imitation loss at 1.0x from 36 down to
    # 0.08); the rise of ~60x at paper scale (62.7x measured) is the student's *deployed* loss,
    # which the rule does not read. A diverging run's loss grows by 1e8 x or more within a
    # few updates (gb2025-fig1 smoke at lr 0.05 unclipped: deployed 5e3 -> 1e16-2e17).
    diverge_factor: float = Field(1e4, gt=1)


class OpenLoopCfg(Strict):
    enabled: bool = True
    inputs: Literal["white_noise", "teacher"] = "white_noise"
    epochs: int | None = Field(None, ge=1, description="default: train.epochs")


class GainMapCfg(Strict):
    k1: tuple[float, float] = (-1.0, 0.25)
    k2: tuple[float, float] = (-2.0, 0.25)
    resolution: int = Field(121, ge=8, le=2000)


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
