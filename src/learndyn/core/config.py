"""Configuration pieces shared by every world's recipe schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from learndyn.core.seeds import SEED_MAX


class Strict(BaseModel):
    """A frozen pydantic model that rejects unknown fields (named in the one-line error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RecipeBase(Strict):
    """Fields every recipe has: its name, paper, description and seeds."""

    name: str
    paper: str = ""
    description: str = ""
    seed: int = Field(0, ge=0, le=SEED_MAX,
                      description="first seed: the runs are the seeds seed .. seed + seeds - 1, and "
                                  "the run of seed k uses the key fold_in(PRNGKey(0), k), whatever "
                                  "batch it is in (core/seeds.py); 0 <= seed + seeds - 1 <= 2**32 - 1")
    seeds: int = Field(1, ge=1, le=100_000, description="number of seeds, one vectorised batch")

    @field_validator("seeds")
    @classmethod
    def _last_seed_in_key_range(cls, seeds: int, info: ValidationInfo) -> int:
        # fold_in takes a uint32, so the last seed must fit too (seed itself is checked by its
        # own bounds; it is absent from info.data when it failed them)
        seed = info.data.get("seed")
        if seed is not None and seed + seeds - 1 > SEED_MAX:
            raise ValueError(f"seed + seeds - 1 = {seed + seeds - 1} is beyond the key range "
                             f"0..{SEED_MAX} (2**32 - 1); with seeds = {seeds}, seed may be at "
                             f"most {SEED_MAX - seeds + 1}")
        return seeds
