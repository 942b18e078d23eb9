"""Any linear plant x' = A x + B u, y = C x, given by its matrices in the recipe."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import model_validator

from learndyn.closedloop.plants.base import LinearPlant
from learndyn.core.config import FiniteFloat, Strict


class LinearCfg(Strict):
    """Recipe option ``[plant] type = "linear"`` with A (nx, nx), B (nx, nu), C (ny, nx)."""

    type: Literal["linear"] = "linear"
    A: list[list[FiniteFloat]]
    B: list[list[FiniteFloat]]
    C: list[list[FiniteFloat]]

    @model_validator(mode="after")
    def _matrices(self):
        for name in ("A", "B", "C"):
            m = getattr(self, name)
            if not m or not m[0] or any(len(row) != len(m[0]) for row in m):
                raise ValueError(f"plant.{name} must be a non-empty matrix (a list of rows "
                                 f"of equal, non-zero length), got {m!r}")
        A, B, C = (np.asarray(getattr(self, n), float) for n in ("A", "B", "C"))
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"plant.A must be a square matrix, got shape {A.shape}")
        if B.shape[0] != A.shape[0]:
            raise ValueError(f"plant.B must have {A.shape[0]} rows (nx), got shape {B.shape}")
        if C.shape[1] != A.shape[0]:
            raise ValueError(f"plant.C must have {A.shape[0]} columns (nx), got shape {C.shape}")
        return self

    def build(self) -> LinearPlant:
        return LinearPlant(self.A, self.B, self.C)


OPTION = LinearCfg   # this file's entry in plants.OPTIONS
