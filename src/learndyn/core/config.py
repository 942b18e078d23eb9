"""Configuration pieces shared by every world's recipe schema.

Recipes are validated strictly: a number must be a TOML number (an integer is fine where a
float is wanted), a flag must be true or false, never a string; every float is finite.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field,
                      ValidationInfo, field_validator)

from learndyn.core.seeds import SEED_MAX

FiniteFloat = Annotated[float, AllowInfNan(False)]
"""A float that is neither NaN nor +-inf (every float field of every recipe schema uses it)."""


def _list_to_tuple(v):
    # TOML has arrays, not tuples: accept a list for a tuple field (strict mode would refuse it)
    return tuple(v) if isinstance(v, list) else v


FloatPair = Annotated[tuple[FiniteFloat, FiniteFloat], BeforeValidator(_list_to_tuple)]
"""Two finite floats, written in TOML as a two-element array."""

MAX_FLOATS = 2 ** 34
"""Most floats a recipe may hold at once (64 GiB of float32): a guard against exhausting memory."""

NAME_MAX = 100
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
SAFE_NAME_RULE = (f"letters, digits, '-', '_' and '.', not starting with '.', "
                  f"1 to {NAME_MAX} characters")


def _safe_name(v: str) -> str:
    if not (len(v) <= NAME_MAX and _SAFE_NAME.fullmatch(v)):
        raise ValueError(f"not a safe file name; allowed: {SAFE_NAME_RULE}")
    return v


SafeName = Annotated[str, AfterValidator(_safe_name)]
"""A name that is used in file names (the run folder): no path separators, no leading dot."""


def _label(v: str) -> str:
    if not v.strip() or len(v) > NAME_MAX or not v.isprintable():
        raise ValueError(f"not allowed; allowed: 1 to {NAME_MAX} printable characters, "
                         "not only spaces")
    return v


Label = Annotated[str, AfterValidator(_label)]
"""A short one-line label (shown in tables and figures, never used as a file name)."""


class Strict(BaseModel):
    """A frozen pydantic model that rejects unknown fields (named in the one-line error) and
    values of the wrong type (no "0.01" for a number, no "no" for a flag)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Resolution(Strict):
    """How a recipe's fields were resolved from its file: the scale whose [scales.NAME] table
    was applied, then the overrides (dotted field -> value: --set and --seeds, those that
    changed a field). Filled in by learndyn.recipes.validate_recipe, never written by hand;
    recorded in a run folder's recipe.toml as its [resolved] table."""

    scale: Literal["smoke", "paper"]
    overrides: dict[str, Any] = Field(default_factory=dict)


class RecipeBase(Strict):
    """Fields every recipe has: its name, paper, description and seeds, and (set by
    validation) how it was resolved."""

    name: SafeName = Field(description=f"names the run folder; {SAFE_NAME_RULE}")
    paper: str = ""
    description: str = ""
    seed: int = Field(0, ge=0, le=SEED_MAX,
                      description="first seed: the runs are the seeds seed .. seed + seeds - 1, and "
                                  "the run of seed k uses the key fold_in(PRNGKey(0), k), whatever "
                                  "batch it is in (core/seeds.py); 0 <= seed + seeds - 1 <= 2**32 - 1")
    seeds: int = Field(1, ge=1, le=100_000, description="number of seeds, one vectorised batch")
    preset: str | None = Field(None, description="the [presets.NAME] table applied (see "
                               "learndyn.recipes): e.g. 'reference', the authors' code's "
                               "conventions, or 'paper_text'")
    resolved: Resolution | None = Field(None, description="the scale and overrides this recipe "
                                        "was resolved with (set by learndyn, see Resolution)")

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
