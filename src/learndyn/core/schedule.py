"""Recording schedules: every step early on, then log-spaced.

A schedule is a sorted array of step indices at which the trainer records observables.
Step s means "after s parameter updates" (s = 0 is the initial state).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class Schedule(BaseModel):
    """When to record: every step up to `dense_until`, then `per_decade` log-spaced points per
    decade of steps, always including the first and last step. `every` (if set) replaces the
    log spacing by a fixed stride after `dense_until`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    dense_until: int = Field(100, ge=0, le=10_000_000, description="record every step up to this step")
    per_decade: int = Field(40, ge=1, le=10_000, description="log-spaced records per decade")
    every: int | None = Field(None, ge=1, description="fixed stride after dense_until")

    def steps(self, n_steps: int) -> np.ndarray:
        """Record steps for a run of `n_steps` updates: sorted unique ints in [0, n_steps]."""
        return record_steps(n_steps, self.dense_until, self.per_decade, self.every)


def record_steps(n_steps: int, dense_until: int = 100, per_decade: int = 40,
                 every: int | None = None) -> np.ndarray:
    """Sorted unique record steps in [0, n_steps]: dense, then log-spaced (or strided)."""
    if n_steps < 0:
        raise ValueError("n_steps must be >= 0")
    dense = np.arange(0, min(dense_until, n_steps) + 1)
    start = max(dense_until, 1)
    if n_steps <= start:
        tail = np.array([], dtype=np.int64)
    elif every is not None:
        tail = np.arange(start, n_steps + 1, every)
    else:
        n_pts = int(np.ceil(per_decade * np.log10(n_steps / start))) + 1
        tail = np.round(np.logspace(np.log10(start), np.log10(n_steps), n_pts)).astype(np.int64)
    out = np.unique(np.concatenate([dense, tail, [n_steps]]).astype(np.int64))
    return out
