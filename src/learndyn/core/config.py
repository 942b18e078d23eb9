"""Configuration pieces shared by every world's recipe schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """A frozen pydantic model that rejects unknown fields (named in the one-line error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RecipeBase(Strict):
    """Fields every recipe has: its name, paper, description and seeds."""

    name: str
    paper: str = ""
    description: str = ""
    seed: int = Field(0, ge=0, description="base seed; run i uses fold_in(PRNGKey(seed), i)")
    seeds: int = Field(1, ge=1, le=100_000)
