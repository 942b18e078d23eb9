"""Training problems of the closed-loop world, in the trainer's (step, observe) form.

Modes
  closed        BPTT through the unrolled agent + plant on the task's loss.
  open_noise    teacher-student: both networks read i.i.d. N(0, 1) inputs; the student
                imitates the teacher's outputs, (1/T) sum_t ||u_s - u_t||^2.
  open_teacher  the teacher drives the plant in closed loop; the student reads the same
                observations and imitates the teacher's outputs.
Every mode records the deployed (closed-loop) loss of the network being trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from learndyn.closedloop.analysis import coupled_matrix, effective_gains
from learndyn.core.spectra import sorted_eigvals
from learndyn.closedloop.rollout import closed_loop, closed_loop_loss, open_loop
from learndyn.errors import ConfigError

MODES = ("closed", "open_noise", "open_teacher")


class TrainState(NamedTuple):
    """What evolves: the agent being trained and its optimiser state."""

    params: dict
    opt_state: Any


class RunConsts(NamedTuple):
    """What one run holds fixed (core.world: a phase's consts, never checkpointed)."""

    key: jax.Array        # (2,) uint32, this run's key; step t uses fold_in(key, t)
    teacher: dict | None  # the teacher's parameters (open-loop modes)
    eval_x0: jax.Array    # (B_eval, nx) fixed evaluation episodes
    eval_ref: jax.Array   # (B_eval, T + 1, nr)
    lr_scale: jax.Array   # () multiplies this run's updates (sweeps of the learning rate)


@dataclass(frozen=True, eq=False)
class ControlProblem:
    """One run of training an RNN agent with a plant, in one of MODES."""

    agent: Any
    plant: Any
    task: Any
    optimizer: optax.GradientTransformation
    mode: str = "closed"
    batch: int = 100
    eval_batch: int = 200
    fit_gains: bool = True
    batch_reduction: str = "mean"   # "sum" multiplies the training objective by the batch size
    # the imitation loss over time: "mean" (the paper's (1/T) sum_t) or "sum" (the authors' code)
    imitation_time: str = "mean"

    @property
    def _batch_factor(self) -> float:
        return float(self.batch) if self.batch_reduction == "sum" else 1.0

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError("mode", f"{self.mode!r} is not one of {list(MODES)}")
        if self.imitation_time not in ("mean", "sum"):
            raise ConfigError("open_loop.time_reduction",
                              f"{self.imitation_time!r} is not one of ['mean', 'sum']")
        if self.batch_reduction not in ("mean", "sum"):
            raise ConfigError("train.batch_reduction",
                              f"{self.batch_reduction!r} is not one of ['mean', 'sum']")

    # -- init ---------------------------------------------------------------------------
    def init(self, key: jax.Array, params: dict | None = None,
             teacher: dict | None = None, lr_scale: float = 1.0
             ) -> tuple[TrainState, RunConsts]:
        """A run's (state, consts): `params` (default: fresh from the agent's init with
        `key`). `lr_scale` multiplies the run's learning rate (vmap it to sweep learning
        rates)."""
        k_init, k_eval, k_run = jax.random.split(key, 3)
        if params is None:
            params = self.agent.init(k_init)
        if self.mode != "closed" and teacher is None:
            raise ConfigError("mode", f"{self.mode} training needs a teacher network")
        x0, ref = self.task.sample(k_eval, self.eval_batch)
        return (TrainState(params, self.optimizer.init(params)),
                RunConsts(k_run, teacher, x0, ref, jnp.asarray(lr_scale, jnp.float32)))

    # -- objectives ----------------------------------------------------------------------
    def task_loss(self, params, x0, ref):
        """Batch mean of the task's episode loss (the closed-loop training objective)."""
        return closed_loop_loss(self.agent, params, self.plant, self.task, x0, ref)

    def deployed_loss(self, params, x0, ref):
        """Batch mean of the deployed loss (the task's `deployed_task`: its objective, or
        the state cost without the control term)."""
        return closed_loop_loss(self.agent, params, self.plant, self.task.deployed_task(),
                                x0, ref)

    def _imitation_inputs(self, teacher, key, batch):
        T = self.task.horizon
        if self.mode == "open_noise":
            return jax.random.normal(key, (batch, T, self.agent.n_in))
        x0, ref = self.task.sample(key, batch)
        run = lambda x, r: closed_loop(self.agent, teacher, self.plant, self.task, x, r)
        _, _, _, ys = jax.vmap(run)(x0, ref)
        inp = jax.vmap(jax.vmap(self.task.agent_input))(ys[:, 1:], ref[:, 1:])
        return inp  # (B, T, n_in): input read after step t

    def imitation_loss(self, params, teacher, inputs):
        us = jax.vmap(lambda i: open_loop(self.agent, params, i))(inputs)
        ut = jax.vmap(lambda i: open_loop(self.agent, teacher, i))(inputs)
        per_step = jnp.sum((us - ut) ** 2, axis=-1)              # (B, T)
        if self.imitation_time == "sum":
            return jnp.mean(jnp.sum(per_step, axis=-1))
        return jnp.mean(per_step)

    def objective(self, params, teacher, key):
        """The training loss of this mode on a fresh batch (batch-mean episode loss, times the
        batch size when batch_reduction = "sum")."""
        if self.mode == "closed":
            x0, ref = self.task.sample(key, self.batch)
            return self._batch_factor * self.task_loss(params, x0, ref)
        inputs = self._imitation_inputs(teacher, key, self.batch)
        return self._batch_factor * self.imitation_loss(params, teacher,
                                                        jax.lax.stop_gradient(inputs))

    # -- trainer interface -----------------------------------------------------------------
    def step(self, state: TrainState, t: jax.Array, consts: RunConsts):
        key = jax.random.fold_in(consts.key, t)
        loss, grads = jax.value_and_grad(self.objective)(state.params, consts.teacher, key)
        loss = loss / self._batch_factor
        masks = self.agent.masks(state.params)
        grads = jax.tree_util.tree_map(lambda g, m: g * m, grads, masks)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        updates = jax.tree_util.tree_map(lambda u: consts.lr_scale * u, updates)
        params = optax.apply_updates(state.params, updates)
        return state._replace(params=params, opt_state=opt_state), loss

    obs_dims = {"eig": ("eigen",), "gains": ("ctrl", "state"), "probe_loss": ("freq",),
                "w_rates": ("eigen_w",)}

    def observe(self, state: TrainState, consts: RunConsts) -> dict:
        p = state.params
        deployed = self.deployed_loss(p, consts.eval_x0, consts.eval_ref)
        if self.mode == "closed":
            # the objective on the evaluation episodes (the deployed loss when they agree)
            loss = (deployed if self.task.deployed_task() is self.task
                    else self.task_loss(p, consts.eval_x0, consts.eval_ref))
        else:
            inputs = self._imitation_inputs(consts.teacher,
                                            jax.random.fold_in(consts.key, 2**31 - 1),
                                            self.eval_batch)
            loss = self.imitation_loss(p, consts.teacher, inputs)
        ev = sorted_eigvals(coupled_matrix(self.agent, p, self.plant, self.task))
        out = {"loss": loss, "deployed_loss": deployed, "eig": ev.astype(jnp.complex64),
               "radius": jnp.abs(ev[0])}
        if hasattr(self.task, "probes"):
            # the deployed loss of each single-frequency probe episode (fixed per run)
            ref = self.task.probes(jax.random.fold_in(consts.key, 2**31 - 2))
            x0 = jnp.zeros((ref.shape[0], self.task.nx), ref.dtype)
            out["probe_loss"] = jax.vmap(
                lambda x, r: self.deployed_loss(p, x[None], r[None]))(x0, ref)
            # W's eigenvalues as continuous-time rates: those of (-I + W) / tau, tau = dt /
            # leak for a leaky agent (a discrete-time agent: log(lambda) / dt); the imaginary
            # part is an angular frequency (rad/s), to set against 2 pi f
            lam = jnp.linalg.eigvals(self.agent.recurrent(p))
            dt = self.task.dt
            rates = ((lam - 1) * (self.agent.leak / dt) if self.agent.leak is not None
                     else jnp.log(lam) / dt)
            out["w_rates"] = rates[jnp.argsort(-jnp.abs(jnp.imag(rates)))].astype(jnp.complex64)
        if self.fit_gains:
            out["gains"] = effective_gains(self.agent, p, self.plant, self.task,
                                           consts.eval_x0, consts.eval_ref)
        return out
