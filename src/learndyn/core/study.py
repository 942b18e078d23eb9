"""One orchestration for every world: train its phases, analyse, compare with theory, draw.

    run_study(world, recipe, store, progress)

1. Phases: core iterates ``world.phases(recipe)`` (a generator of ``Phase``), trains each one
   through the trainer into the store folder named after the phase (a killed run resumes
   after its last committed chunk; a finished phase is read back, not recomputed), and sends
   the ``RunResult`` back into the generator, so a later phase can start from it.
2. Analysis: ``world.analyse(recipe, results)`` gives the summary (a dict, or a pydantic
   model that core dumps to JSON values).
3. Theories: each of ``world.theories(recipe)`` predicts observables of one phase; core
   stores the prediction beside the records and reports its error over each stage window
   (``world.stages(summary)``: {phase: boundaries}, if the world defines it) and over the
   whole run (``learndyn.core.theory``) under ``summary["theory"]``, and draws the overlay.
4. Figures: ``world.figures(...)`` and one overlay per theory, listed in
   ``summary["figures"]``; 5. ``summary.json``.

Each phase's divergence limit is ``diverge_factor`` times the run's initial loss (and the
absolute ``diverge_above``), recomputed from the initial state, so a resumed phase gets the
same limits.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import jax

from learndyn.core.store import RunStore
from learndyn.core.trainer import RunResult, Trainer, divergence_limits
from learndyn.core.world import Phase, World

ProgressFactory = Callable[[str], Callable[[int, int], None] | None]


def phase_limits(phase: Phase):
    """Each run's loss limit: min(diverge_above, diverge_factor x its initial loss)."""
    if math.isinf(phase.diverge_factor):
        return phase.diverge_above
    return divergence_limits(phase.step, phase.state0, phase.diverge_factor,
                             phase.diverge_above, consts=phase.consts, takes_consts=True)


def train_phase(phase: Phase, store: RunStore | None, progress: ProgressFactory | None = None
                ) -> RunResult:
    """Train one phase into ``store.child(phase.name)`` (None: in memory only)."""
    trainer = Trainer(phase.step, phase.observe, obs_dims=phase.obs_dims,
                      run_map=phase.run_map, diverge_above=phase_limits(phase),
                      takes_consts=True)
    return trainer.run(phase.state0, phase.record_steps,
                       store=store.child(phase.name) if store is not None else None,
                       progress=progress(phase.label or phase.name) if progress else None,
                       run_coords=phase.run_coords, consts=phase.consts)


def train_phases(world: World, recipe, store: RunStore | None,
                 progress: ProgressFactory | None = None
                 ) -> tuple[dict[str, RunResult], dict[str, Phase]]:
    """Every phase of the world's plan for ``recipe``, in order: ({phase name: RunResult},
    {phase name: Phase})."""
    results: dict[str, RunResult] = {}
    phases: dict[str, Phase] = {}
    plan = world.phases(recipe)
    try:
        phase = next(plan)
        while True:
            if phase.name in results:
                raise ValueError(f"{type(world).__name__} yields two phases named {phase.name!r}")
            phases[phase.name] = phase
            results[phase.name] = train_phase(phase, store, progress)
            phase = plan.send(results[phase.name])
    except StopIteration:
        pass
    return results, phases


def _as_dict(summary) -> dict:
    dump = getattr(summary, "model_dump", None)
    return dump(mode="json") if dump else dict(summary)


def run_study(world: World, recipe, store: RunStore, progress: ProgressFactory | None = None,
              figures: bool = True) -> dict:
    """Train, analyse, compare with theory, draw and summarise ``recipe`` with ``world``;
    returns the summary (also written to ``summary.json``)."""
    from learndyn.core.theory import run_theories

    t_start = time.time()
    results, phases = train_phases(world, recipe, store, progress)
    summary = {"study": world.study, **_as_dict(world.analyse(recipe, results))}
    theories = list(world.theories(recipe)) if hasattr(world, "theories") else []
    drawn: dict = {}
    if theories:
        # each phase's stage boundaries (steps), for the per-stage error windows
        stages = world.stages(summary) if hasattr(world, "stages") else {}
        summary["theory"] = run_theories(
            theories, results, store, stages,
            consts_by_phase={name: ph.consts for name, ph in phases.items()},
            figures=store.figures if figures else None)
        if figures:
            drawn.update({f"theory-{t.name}": str(store.figures / f"{t.dataset}.png")
                          for t in theories})
    summary.setdefault("timing", {})
    summary["timing"].update({f"{name}_s": r.train_s for name, r in results.items()})
    # train_s of a phase: its training wall time over every invocation (a resumed run's parts
    # add up); invocation_s: the command that wrote this summary
    summary["timing"]["invocation_s"] = time.time() - t_start
    summary["backend"] = jax.default_backend()
    if figures:
        summary["figures"] = {**dict(world.figures(recipe, results, summary, store.figures)),
                              **drawn}
    store.write_summary(summary)
    return summary
