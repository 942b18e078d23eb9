"""Recipe schema of the deep linear world (Saxe, McClelland & Ganguli 2014).

Dimensions follow the paper's three-layer notation: N1 inputs, N2 hidden units (every hidden
layer of a deeper network has N2), N3 outputs; `depth` D is the number of weight layers
(the paper's N_l - 1), so D = 2 is the paper's three-layer network.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from learndyn.core.config import MAX_FLOATS, FiniteFloat, FloatPair, RecipeBase, Strict
from learndyn.core.schedule import Schedule

DEPTH_MIN, DEPTH_MAX = 2, 6
DIM_MAX = 4096


class TeacherCfg(Strict):
    """The teacher's singular values: `s` (listed), or `n_modes` spaced geometrically from
    s_range[0] down to s_range[1]."""

    s: list[FiniteFloat] | None = Field(None, min_length=1, max_length=DIM_MAX,
                                        description="singular values, each > 0")
    n_modes: int | None = Field(None, ge=1, le=DIM_MAX)
    s_range: FloatPair = (3.0, 0.5)

    @model_validator(mode="after")
    def _one(self):
        if (self.s is None) == (self.n_modes is None):
            raise ValueError("teacher: give exactly one of s (a list of singular values) or "
                             "n_modes (with s_range = [largest, smallest])")
        if self.s is not None and min(self.s) <= 0:
            raise ValueError(f"teacher.s: every singular value must be > 0, got {self.s}")
        hi, lo = self.s_range
        if self.n_modes is not None and not hi >= lo > 0:
            raise ValueError(f"teacher.s_range must be [largest, smallest] with largest >= "
                             f"smallest > 0, got {[hi, lo]}")
        return self

    def values(self) -> np.ndarray:
        """(r,) the teacher's singular values, in the order given (s_range: descending)."""
        if self.s is not None:
            return np.asarray(self.s, float)
        hi, lo = self.s_range
        return np.geomspace(hi, lo, self.n_modes) if self.n_modes > 1 else np.array([hi])


class InitCfg(Strict):
    """balanced: the decoupled, balanced initialisation of Saxe Sec. 2 (every layer holds
    a0^(1/D) on each teacher mode, so the product has strength a0 on each); random: i.i.d.
    N(0, scale^2 / fan_in) entries (the theory's comparisons are then not computed)."""

    type: Literal["balanced", "random"] = "balanced"
    a0: FiniteFloat = Field(1e-3, gt=0, description="initial mode strength of the product")
    scale: FiniteFloat = Field(1e-2, gt=0, description="random init: std x sqrt(fan_in)")


class TheoryCfg(Strict):
    rise: FloatPair = Field((0.1, 0.9), description="the rise time runs from rise[0] s to "
                                                    "rise[1] s of a mode's strength")
    n_stages: int | None = Field(None, ge=2, le=17, description="stages fitted to the loss "
                                 "(default: 2 x modes + 1, a plateau and a drop per mode)")
    align_min: FiniteFloat = Field(0.99, gt=0, le=1, description="a mode counts as decoupled "
                                   "while both of its alignment cosines are at least this")

    @model_validator(mode="after")
    def _rise(self):
        lo, hi = self.rise
        if not 0 < lo < hi < 1:
            raise ValueError(f"theory.rise must be [low, high] with 0 < low < high < 1, "
                             f"got {[lo, hi]}")
        return self


class DeepLinearRecipe(RecipeBase):
    """A deep linear network learning a linear teacher by full-batch gradient descent."""

    study: Literal["deep_linear"] = "deep_linear"
    teacher: TeacherCfg = TeacherCfg(s=[3.0, 2.0, 1.0, 0.5])
    N1: int = Field(8, ge=1, le=DIM_MAX, description="input dimension")
    N2: int = Field(8, ge=1, le=DIM_MAX, description="hidden width (every hidden layer)")
    N3: int = Field(8, ge=1, le=DIM_MAX, description="output dimension")
    depth: int = Field(2, ge=DEPTH_MIN, le=DEPTH_MAX, description="number of weight layers")
    depths: list[int] | None = Field(None, min_length=1, max_length=DEPTH_MAX - DEPTH_MIN + 1,
                                     description="depths compared (one phase each); replaces "
                                                 "depth")
    init: InitCfg = InitCfg()
    lr: FiniteFloat = Field(0.002, gt=0, description="learning rate (tau = 1 / lr updates)")
    epochs: int = Field(5000, ge=1, le=100_000_000, description="full-batch updates")
    n_samples: int | None = Field(None, ge=1, description="whitened samples P (default N1); "
                                  "P >= N1")
    record: Schedule = Schedule(dense_until=100, every=20)
    theory: TheoryCfg = TheoryCfg()
    # A run diverges when its loss exceeds diverge_factor x its initial loss. Below the
    # stability bound (checked below) gradient descent only lowers the loss (measured: the
    # recorded loss never exceeds its initial value in either recipe, smoke or paper). Past it
    # (measured at D = 2, s_max = 3, bound 0.33) the strongest mode oscillates without
    # settling at lr 0.36-0.4 (loss stays 0.2-0.4 x initial), and the loss overflows to inf
    # within 62 updates at lr 0.6 and within 9 at lr 1.
    diverge_factor: float = Field(1e4, gt=1)

    @model_validator(mode="after")
    def _shapes(self):
        s = self.teacher.values()
        r = len(s)
        for field in ("N1", "N3"):
            if getattr(self, field) < r:
                raise ValueError(f"{field}: a teacher of {r} modes needs {field} >= {r}, "
                                 f"got {getattr(self, field)}")
        if self.N2 < r:
            raise ValueError(f"N2: the hidden layer ({self.N2} units) is narrower than the "
                             f"teacher's {r} modes; allowed: N2 >= {r}")
        for d in self.depths or []:
            if not DEPTH_MIN <= d <= DEPTH_MAX:
                raise ValueError(f"depths: {d} is not an allowed depth; allowed: "
                                 f"{DEPTH_MIN} to {DEPTH_MAX} weight layers")
        if self.depths is not None and len(set(self.depths)) != len(self.depths):
            raise ValueError(f"depths: each depth once, got {self.depths}")
        if self.n_samples is not None and self.n_samples < self.N1:
            raise ValueError(f"n_samples: whitened inputs (Sigma_xx = I) need at least N1 = "
                             f"{self.N1} samples, got {self.n_samples}")
        if self.init.type == "balanced" and self.init.a0 >= s.min():
            raise ValueError(f"init.a0: the initial strength must be below every singular "
                             f"value (smallest {s.min():.4g}), got {self.init.a0}")
        # GD is stable at the learned solution only while lr x (largest Hessian eigenvalue,
        # D s_max^(2 - 2/D) on the balanced solution) < 2
        for d in self.depth_list():
            h = d * s.max() ** (2 - 2 / d)
            if self.lr * h >= 2:
                raise ValueError(f"lr: {self.lr} is past gradient descent's stability bound "
                                 f"2 / (D s_max^(2-2/D)) = {2 / h:.4g} at depth {d}; "
                                 f"allowed: lr < {2 / h:.4g}")
        P = self.samples()
        weights = self.N2 * (self.N1 + self.N3) + (max(self.depth_list()) - 2) * self.N2 ** 2
        need = self.seeds * (weights * 3 + P * (self.N1 + self.N3 + self.N2))
        if need > MAX_FLOATS:
            raise ValueError(f"seeds: seeds x (weights, data and activations) = {need:.3g} floats "
                             f"is more than the {MAX_FLOATS:.3g} allowed; make N1, N2, N3, "
                             "n_samples or seeds smaller")
        return self

    def depth_list(self) -> list[int]:
        """The depths trained: `depths` if given, else [depth]."""
        return list(self.depths) if self.depths is not None else [self.depth]

    def samples(self) -> int:
        """P, the number of whitened samples."""
        return self.N1 if self.n_samples is None else self.n_samples
