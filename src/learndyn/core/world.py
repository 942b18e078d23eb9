"""The World protocol: the one shape every world takes, and what core does with it.

A world is one package that declares

* ``study``: the value of a recipe's ``study`` field that selects it, and ``papers``;
* ``schema``: its recipe's pydantic model (options are discriminated unions that build
  objects: plants, agents, groups, losses, activations, optimisers);
* ``phases(recipe)``: a generator of :class:`Phase` objects. Core trains each phase it yields
  (through the trainer and the phase's store folder, resuming where a killed run stopped)
  and sends the :class:`~learndyn.core.trainer.RunResult` back into the generator, so a later
  phase can start from an earlier one's result (the open-loop student imitates the trained
  closed-loop teacher);
* ``analyse(recipe, results)``: the summary of the trained phases (a dict of JSON values,
  or a pydantic model, which core dumps), from ``results: {phase name: RunResult}``;
* ``theories(recipe)``: reduced theories attached to the study (``learndyn.core.theory``);
  core records each prediction beside the simulation, reports its error per stage window and
  draws the overlay;
* ``figures(recipe, results, summary, folder)``: draws the world's figures into ``folder``
  and returns ``{figure name: file path}``;
* ``claims()``: the world's claims (a :class:`~learndyn.core.claims.ClaimSet`);
* ``table(summary)``: rows (label, value per column) for ``learndyn show`` (optional).

The worlds are listed in one explicit place, ``learndyn.worlds``; nothing registers itself
when a module is imported. Core never imports a world, and a world never imports another.

Per-run constants (teacher weights, data indices, evaluation sets, hyper-parameters that vary
across the runs of a batch) are a phase's ``consts``: the step and the observables receive
them as an argument, and the divergence guard and the checkpoint touch only ``state``, the
part that evolves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Mapping, Protocol, runtime_checkable

import numpy as np

# step(state, t, consts) -> (state, loss) and observe(state, consts) -> {name: array}, for ONE run
StepFn = Callable[[Any, Any, Any], tuple[Any, Any]]
ObserveFn = Callable[[Any, Any], Mapping[str, Any]]


@dataclass(frozen=True)
class Phase:
    """One trained phase of a study: a batch of runs advanced by `step` and recorded by
    `observe` at `record_steps`.

    name: the phase's store folder and its key in ``results`` (``"closed"``, ``"batch0"``).
    state0, consts: batched pytrees (leading axis: run); consts may be None.
    obs_dims: names of each observable's trailing dims, e.g. ``{"eig": ("eigen",)}``.
    run_coords: per-run coordinates of the records (``{"seed": labels}``).
    diverge_factor: a run diverges when its loss exceeds this multiple of its initial loss
        (or is not finite); ``diverge_above``: an absolute limit as well.
    run_map: optional per-run chunk transform (see ``Trainer``).
    label: the progress bar's label (default: the name).
    """

    name: str
    step: StepFn
    observe: ObserveFn
    state0: Any
    record_steps: np.ndarray
    consts: Any = None
    obs_dims: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    run_coords: Mapping[str, np.ndarray] = field(default_factory=dict)
    diverge_factor: float = 1e4
    diverge_above: float = math.inf
    run_map: Callable | None = None
    label: str = ""


PhasePlan = Generator[Phase, Any, None]


@runtime_checkable
class World(Protocol):
    """What a world declares (see the module docstring)."""

    study: str
    papers: tuple[str, ...]
    schema: type

    def phases(self, recipe) -> PhasePlan: ...

    def analyse(self, recipe, results: dict) -> Any: ...

    def theories(self, recipe) -> list: ...

    def figures(self, recipe, results: dict, summary: dict, folder) -> dict: ...

    def claims(self) -> Any: ...
