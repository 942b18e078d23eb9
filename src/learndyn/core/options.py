"""Options below the recipe boundary are objects: one helper for the discriminated unions.

A recipe option with several kinds (a plant, an agent, a loss, an optimiser, a group) is a
set of pydantic models, each with a literal ``type`` field and a ``build(...)`` method that
makes the object it names. ``named_union(A, B, ...)`` is the annotation of a field that takes
any one of them, chosen by ``type`` (pydantic's discriminated union): a wrong ``type`` is one
validation error that lists the allowed values, and nothing below the TOML branches on a
string. A new kind is one more model in the union; there is no fall-through default.

    class Pendulum(BaseModel):
        type: Literal["pendulum"] = "pendulum"
        damping: float = 0.1
        def build(self): ...

    Plant = named_union(Pendulum, PointMass)

    class Recipe(BaseModel):
        plant: Plant = Pendulum()
"""

from __future__ import annotations

from typing import Annotated, Union, get_args

from pydantic import Field


def type_tag(model) -> str:
    """The literal value of a member's ``type`` field."""
    ann = model.model_fields["type"].annotation
    (tag,) = get_args(ann)
    return tag


def named_union(*members):
    """The annotation of a field holding any one of ``members``, selected by ``type``."""
    if not members:
        raise ValueError("named_union needs at least one member")
    tags = [type_tag(m) for m in members]
    if len(set(tags)) != len(tags):
        raise ValueError(f"named_union: two members share a type tag in {tags}")
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Field(discriminator="type")]


def tags(union) -> list[str]:
    """The allowed ``type`` values of a union made by :func:`named_union` (or one model)."""
    args = get_args(union)
    if not args:
        return [type_tag(union)]
    return [type_tag(m) for m in get_args(args[0])]
