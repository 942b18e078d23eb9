"""Build plant, task, agent and the training problems of a validated recipe.

Every option builds itself (``recipe.plant.build()``, ``recipe.task.build(plant)``,
``recipe.agent.build(plant, task)``); this module only wires them together.
"""

from __future__ import annotations

import dataclasses

from learndyn.closedloop.config import ClosedLoopRecipe
from learndyn.closedloop.training import ControlProblem
from learndyn.core.optim import make_optimizer

# [open_loop] inputs -> the ControlProblem mode of the open-loop student
OPEN_LOOP_MODES = {"white_noise": "open_noise", "teacher": "open_teacher"}


def build(recipe: ClosedLoopRecipe):
    """(plant, task, agent, {phase: ControlProblem}) for the recipe."""
    plant = recipe.plant.build()
    task = recipe.task.build(plant, recipe.train.batch)
    agent = recipe.agent.build(plant, task)
    t = recipe.train
    opt = make_optimizer(t.optimizer, t.lr, 0.0, t.momentum, clip=t.clip or None)
    kw = dict(batch=t.batch, eval_batch=t.eval_batch, batch_reduction=t.batch_reduction,
              fit_gains=True)
    problems = {"closed": ControlProblem(agent, plant, task, opt, "closed", **kw)}
    if recipe.open_loop.enabled:
        student = agent if recipe.open_loop.trainable is None else dataclasses.replace(
            agent, trainable=tuple(recipe.open_loop.trainable))
        problems["open"] = ControlProblem(student, plant, task, opt,
                                          OPEN_LOOP_MODES[recipe.open_loop.inputs], **kw,
                                          imitation_time=recipe.open_loop.time_reduction)
    return plant, task, agent, problems
