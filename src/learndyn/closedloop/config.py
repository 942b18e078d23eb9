"""Recipe schema of the closed-loop world (validated by pydantic, loaded from TOML)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from learndyn.closedloop.agents import InitSpec, RNNAgent
from learndyn.closedloop.plants import OPTIONS as PLANT_OPTIONS
from learndyn.closedloop.tasks import OPTIONS as TASK_OPTIONS
from learndyn.core.config import MAX_FLOATS, FiniteFloat, FloatPair, RecipeBase, Strict
from learndyn.core.options import named_union
from learndyn.core.schedule import Schedule


class InitCfg(Strict):
    dist: Literal["normal", "uniform"] = "normal"
    scale: FiniteFloat = Field(0.01, ge=0)
    per_sqrt_fan_in: bool = False

    def build(self) -> InitSpec:
        return InitSpec(self.dist, self.scale, self.per_sqrt_fan_in)


Plant = named_union(*PLANT_OPTIONS)
"""[plant]: one of the plants of closedloop.plants.OPTIONS, chosen by `type`."""
Task = named_union(*TASK_OPTIONS)
"""[task]: regulation or tracking (closedloop.tasks.OPTIONS), chosen by `type`."""


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

    def build(self, plant, task) -> RNNAgent:
        """The agent for `plant` and `task`: it reads the plant's observation and the task's
        reference, and drives the plant's controls."""
        return RNNAgent(n=self.n, n_in=plant.ny + task.n_ref, n_out=plant.nu,
                        activation=self.activation, leak=self.leak, rank=self.rank,
                        g_bulk=self.g_bulk, w_init=self.w_init.build(),
                        w_in_init=self.w_in_init.build(), w_out_init=self.w_out_init.build(),
                        uv_init=self.uv_init.build(), trainable=tuple(self.trainable))


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
    time_reduction: Literal["mean", "sum"] = Field(
        "mean", description="the imitation loss over time: mean (the paper's (1/T) sum_t) or "
                            "sum (the authors' code)")
    trainable: list[Literal["W", "W_in", "W_out", "U", "V"]] | None = Field(
        None, min_length=1, description="weights the student trains (default: "
                                        "agent.trainable; Fig. 6's student also trains W_in)")


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
    plant: Plant = PLANT_OPTIONS[0]()
    agent: AgentCfg = AgentCfg()
    task: Task = TASK_OPTIONS[0]()
    train: TrainCfg = TrainCfg()
    open_loop: OpenLoopCfg = OpenLoopCfg()
    record: Schedule = Schedule()
    gain_map: GainMapCfg = GainMapCfg()
    n_stages: int = Field(4, ge=2, le=8, description="regimes fitted to the closed-loop loss")
    authors_run: Literal["", "gb2025-fig1"] = Field(
        "", description="put the authors' saved run beside this one in the summary "
                        "(closedloop/authors.py); '' for none")

    @model_validator(mode="after")
    def _consistent(self):
        present = {"W_in", "W_out"} | ({"W"} if self.agent.rank is None else {"U", "V"})
        if self.open_loop.trainable is not None and not present & set(self.open_loop.trainable):
            raise ValueError(f"open_loop.trainable names no weight this agent has "
                             f"(agent.rank = {self.agent.rank}); allowed: {sorted(present)}")
        plant = self.plant.build()
        nx, nu, ny = plant.nx, plant.nu, plant.ny
        # the tracking cost compares the plant's positions (all of a linear plant's state) with a
        # 2-D reference
        if self.task.type == "tracking" and (ny != 2 or len(plant.position_index) != 2):
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
