"""Build plant, agent, task and problems from a validated recipe."""

from __future__ import annotations

from learndyn.closedloop.agents import InitSpec, RNNAgent
from learndyn.closedloop.config import ClosedLoopRecipe, InitCfg
from learndyn.closedloop.plants import DampedPendulum, LinearPlant, PointMass2D, k_integrator
from learndyn.closedloop.tasks import Regulation, SinusoidTracking
from learndyn.closedloop.training import ControlProblem, make_optimizer
from learndyn.errors import ConfigError


def build_plant(cfg):
    if cfg.type == "k_integrator":
        return k_integrator(cfg.k, cfg.dt)
    if cfg.type == "point_mass":
        return PointMass2D(dt=cfg.dt, clamp=cfg.clamp)
    if cfg.type == "linear":
        return LinearPlant(cfg.A, cfg.B, cfg.C)
    return DampedPendulum(dt=cfg.dt, g_over_l=cfg.g_over_l, damping=cfg.damping,
                          upright=cfg.upright)


def build_task(cfg, plant):
    if cfg.type == "regulation":
        return Regulation(nx=plant.nx, horizon=cfg.horizon, x0_range=cfg.x0_range,
                          beta=cfg.beta, time_reduction=cfg.time_reduction)
    return SinusoidTracking(dt=plant.dt if hasattr(plant, "dt") else 0.1, horizon=cfg.horizon,
                            amp=cfg.amp, freqs_x=tuple(cfg.freqs_x), freqs_y=tuple(cfg.freqs_y),
                            ramp_s=cfg.ramp_s, position_index=tuple(int(i) for i in plant.position_index),
                            nx=plant.nx)


def _init(c: InitCfg) -> InitSpec:
    return InitSpec(c.dist, c.scale, c.per_sqrt_fan_in)


def build_agent(cfg, plant, task):
    return RNNAgent(n=cfg.n, n_in=plant.ny + task.n_ref, n_out=plant.nu,
                    activation=cfg.activation, leak=cfg.leak, rank=cfg.rank, g_bulk=cfg.g_bulk,
                    w_init=_init(cfg.w_init), w_in_init=_init(cfg.w_in_init),
                    w_out_init=_init(cfg.w_out_init), uv_init=_init(cfg.uv_init),
                    trainable=tuple(cfg.trainable))


def build(recipe: ClosedLoopRecipe):
    """(plant, task, agent, {mode: ControlProblem}) for the recipe."""
    plant = build_plant(recipe.plant)
    task = build_task(recipe.task, plant)
    if recipe.task.type == "tracking" and plant.ny != 2:
        raise ConfigError("task.type", "'tracking' needs a plant with 2 observed positions "
                          "(plant.type = 'point_mass')")
    agent = build_agent(recipe.agent, plant, task)
    t = recipe.train
    opt = make_optimizer(t.optimizer, t.lr, t.clip, t.momentum)
    kw = dict(batch=t.batch, eval_batch=t.eval_batch, batch_reduction=t.batch_reduction,
              fit_gains=True)
    problems = {"closed": ControlProblem(agent, plant, task, opt, "closed", **kw)}
    if recipe.open_loop.enabled:
        mode = "open_noise" if recipe.open_loop.inputs == "white_noise" else "open_teacher"
        problems["open"] = ControlProblem(agent, plant, task, opt, mode, **kw)
    return plant, task, agent, problems
