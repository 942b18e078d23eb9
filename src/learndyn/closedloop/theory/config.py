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


class Stage2Cfg(Strict):
    """Stage 2 (Fig. 4): the surrogate L_alpha = alpha (|lambda_1|^2)^T_h + (1 - alpha) L_0
    optimised on the four overlaps as free parameters from the main run's overlaps at
    `start_epoch` (the authors' figures notebook: epoch 10, T_h = 10, SGD lr 1e-3, clip 1,
    about 240 steps, alpha in {0, 0.48, 0.52, 0.55, 1}); the angle between the two terms'
    gradients along the run uses the same T_h."""

    start_epoch: int = Field(10, ge=0, description="the main run's epoch the surrogate "
                             "starts from (seed 0)")
    alphas: list[FiniteFloat] = Field([0.0, 0.48, 0.52, 0.55, 1.0], min_length=1,
                                      max_length=50)
    t_h: int = Field(10, ge=1, le=1000, description="the long-term horizon T_h")
    lr: FiniteFloat = Field(1e-3, gt=0)
    steps: int = Field(240, ge=1, le=1_000_000)
    clip: FiniteFloat | None = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _alphas(self):
        if any(not 0 <= a <= 1 for a in self.alphas):
            raise ValueError(f"stage2.alphas: each alpha must lie in [0, 1], got {self.alphas}")
        return self


class HorizonCfg(Strict):
    """Fig. 4's episode lengths: the full model trained as the main run but with T steps an
    episode, one phase per T (the main run is the longest)."""

    horizons: list[int] = Field([3, 5, 10, 20], max_length=20,
                                description="episode lengths T (each >= 2)")
    seeds: int = Field(2, ge=1, le=100_000, description="seeds of each horizon run (the "
                       "recipe's first ones; at most the recipe's seeds)")

    @model_validator(mode="after")
    def _h(self):
        if any(h < 2 for h in self.horizons) or len(set(self.horizons)) != len(self.horizons):
            raise ValueError(f"horizon.horizons: distinct whole numbers >= 2, got "
                             f"{self.horizons}")
        return self


class Stage3Cfg(Strict):
    """Stage 3 (Fig. 5): from the main run's first stable epoch (its first healthy seed), the
    full model trained on with each control weight beta, one run per beta (the same batches
    for all), against the paper's reduced model (gradient descent on the four overlaps as
    free parameters) and the exact induced flow on the Gram matrix of (m, u, v, z)."""

    betas: list[FiniteFloat] = Field([0.0, 0.5, 2.0, 5.0], min_length=1, max_length=50,
                                     description="control-cost weights (the authors': 0, "
                                                 "0.5, 2, 5)")
    epochs: int = Field(1000, ge=1, le=10_000_000)

    @model_validator(mode="after")
    def _betas(self):
        if any(b < 0 for b in self.betas):
            raise ValueError(f"stage3.betas: each beta must be >= 0, got {self.betas}")
        return self


class GbTheoryRecipe(RecipeBase):
    """The rank-one theory model of Ger & Barak, trained and compared with its reductions."""

    study: Literal["gb_theory"] = "gb_theory"
    N: int = Field(100, ge=2, le=100_000, description="neurons of the rank-one agent")
    train: TrainCfg = TrainCfg()
    stage1: Stage1Cfg = Stage1Cfg()
    stage2: Stage2Cfg = Stage2Cfg()
    horizon: HorizonCfg = HorizonCfg()
    stage3: Stage3Cfg = Stage3Cfg()
    record: Schedule = Schedule(dense_until=100_000, per_decade=40)
