"""Recipe schema of the closed-loop theory study (Ger & Barak 2025, Figs. 3-5).

The rank-one linear agent on the dt = 1 double integrator (theory/rankone.py), trained by SGD
with the authors' settings (their theory notebook: N = 100, SGD lr 0.01, the global gradient
norm clipped at 1, a fresh batch of 100 starts x_0 ~ U(-2, 2)^2 each epoch, T = 50 steps,
1000 epochs, beta = 0; one update an epoch).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from learndyn.core.config import FiniteFloat, FloatPair, RecipeBase, Strict
from learndyn.core.schedule import Schedule


class TrainCfg(Strict):
    lr: FiniteFloat = Field(0.01, gt=0, description="SGD learning rate")
    clip: FiniteFloat | None = Field(1.0, gt=0, description="global gradient-norm clip "
                                     "(none: no clipping)")
    batch: int = Field(100, ge=1, le=100_000, description="starts x_0 per update")
    horizon: int = Field(50, ge=2, le=10_000, description="steps T of an episode")
    epochs: int = Field(1000, ge=1, le=10_000_000, description="updates (one an epoch)")
    beta: FiniteFloat = Field(0.0, ge=0, description="weight of the control cost")
    x0_range: FiniteFloat = Field(2.0, gt=0, description="x_0 ~ U(-a, a)^2")
    # a run whose loss passes diverge_factor x its first is recorded as diverged
    diverge_factor: float = Field(1e4, gt=1)


class Stage1Cfg(Strict):
    """Stage 1 (Fig. 3): the loss of a pure position policy over s_zm, against simulated
    rollouts of built models, and s_zm over the first epochs from several starts."""

    s_zm_range: FloatPair = Field((-0.5, 0.3), description="the s_zm grid's ends")
    points: int = Field(41, ge=3, le=10_000, description="s_zm values on the grid")
    horizon: int = Field(100, ge=2, le=10_000, description="steps of each rollout (the "
                         "authors' theory notebook: 100)")
    x0: FloatPair = Field((1.0, -1.0), description="the rollouts' start (position, velocity); "
                          "the authors' notebook: (1, -1)")
    starts: FloatPair = Field((-0.2, 0.2), description="the initial s_zm values' ends")
    n_starts: int = Field(10, ge=1, le=1_000, description="initial s_zm values (training "
                          "runs of the starts phase)")
    epochs: int = Field(50, ge=1, le=100_000, description="epochs the starts are trained")

    @model_validator(mode="after")
    def _ranges(self):
        for name in ("s_zm_range", "starts"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                raise ValueError(f"stage1.{name} must be [low, high] with low < high, "
                                 f"got {[lo, hi]}")
        return self


class GbTheoryRecipe(RecipeBase):
    """The rank-one theory model of Ger & Barak, trained and compared with its reductions."""

    study: Literal["gb_theory"] = "gb_theory"
    N: int = Field(100, ge=2, le=100_000, description="neurons of the rank-one agent")
    train: TrainCfg = TrainCfg()
    stage1: Stage1Cfg = Stage1Cfg()
    record: Schedule = Schedule(dense_until=100_000, per_decade=40)
