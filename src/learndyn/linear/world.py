"""The deep linear world (Saxe, McClelland & Ganguli 2014) in the shape of core.world.World.

One phase per depth trained: "train" for a recipe with one `depth`, "depth2", "depth3", ...
for a recipe that lists `depths`. Every run (seed k) draws its teacher, its whitened data and
its hidden bases from run_key(k) (core.seeds), so the runs of one seed at different depths
learn the same teacher from the same data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from functools import partial

from learndyn.core.seeds import run_keys, seed_labels
from learndyn.core.theory import Theory, integrate_ode, iterate_map
from learndyn.core.world import Phase
from learndyn.linear import analysis, model
from learndyn.linear.config import DeepLinearRecipe
from learndyn.linear.teacher import run_consts, run_rng


def phase_name(recipe: DeepLinearRecipe, depth: int) -> str:
    return "train" if recipe.depths is None else f"depth{depth}"


def initial(recipe: DeepLinearRecipe, depth: int):
    """(state0, consts) of every seed at `depth`, batched over runs (leading axis), float32.
    Seed k's teacher, data and hidden bases come from run_key(k), in that order, so its
    teacher and data are the same at every depth."""
    s, init = recipe.teacher.values(), recipe.init
    states, consts = [], []
    for key in np.asarray(run_keys(recipe.seed, recipe.seeds)):
        rng = run_rng(key)
        c = run_consts(rng, s, recipe.N1, recipe.N3, recipe.samples())
        if init.type == "balanced":
            states.append(model.init_balanced(rng, c["U"], c["V"], depth, recipe.N2, init.a0))
        else:
            states.append(model.init_random(rng, depth, recipe.N1, recipe.N2, recipe.N3,
                                            init.scale))
        consts.append(c)
    stack = lambda *xs: jnp.asarray(np.stack(xs), jnp.float32)  # noqa: E731
    return (jax.tree_util.tree_map(stack, *states), jax.tree_util.tree_map(stack, *consts))


def build_phase(recipe: DeepLinearRecipe, depth: int) -> Phase:
    """The phase that trains every seed of `recipe` at `depth` weight layers."""
    state0, consts = initial(recipe, depth)
    return Phase(name=phase_name(recipe, depth), step=model.make_step(recipe.lr),
                 observe=model.observe, state0=state0, consts=consts,
                 record_steps=recipe.record.steps(recipe.epochs), obs_dims=model.OBS_DIMS,
                 run_coords={"seed": seed_labels(recipe.seed, recipe.seeds)},
                 diverge_factor=recipe.diverge_factor,
                 label=f"depth {depth}" if recipe.depths is not None else "")


def _strengths_to_outputs(recipe, strength: np.ndarray, off_mode: np.ndarray) -> dict:
    """{strength, loss} of predicted strengths (step, run, mode); the loss on whitened data is
    1/2 sum_i (s_i - a_i)^2 plus the recorded run's 1/2 off_mode^2 at step 0 (zero for a
    balanced start; the theory keeps it constant)."""
    s = np.asarray(recipe.teacher.values(), float)
    loss = 0.5 * np.sum((s - strength) ** 2, axis=-1) + 0.5 * off_mode[None, :] ** 2
    return {"strength": strength, "loss": loss}


def _predict_map(recipe, depth: int, result, consts) -> dict:
    """GD's exact reduced map per mode, c <- c + lr c^(D-1) (s - c^D), a = c^D, from each
    run's recorded initial strengths (balanced init: every layer's mode scalar is a0^(1/D))."""
    rec = result.records
    s = jnp.asarray(recipe.teacher.values(), jnp.float32)
    a0 = rec.strength.values[0]                               # (run, mode)
    c0 = jnp.asarray(np.sign(a0) * np.abs(a0) ** (1.0 / depth), jnp.float32)
    lr = recipe.lr
    steps = rec.step.values

    def f(c, t, _):
        return c + lr * c ** (depth - 1) * (s - c ** depth)
    c = iterate_map(f, c0, steps)                             # (step, run, mode)
    return _strengths_to_outputs(recipe, np.asarray(c, float) ** depth,
                                 rec.off_mode.values[0])


def _predict_flow(recipe, depth: int, result, consts) -> dict:
    """The gradient flow per mode, da/dt = D a^(2-2/D) (s - a) with t = lr x updates (tau =
    1/lr), from each run's recorded initial strengths, integrated by diffrax."""
    rec = result.records
    s = jnp.asarray(recipe.teacher.values(), jnp.float32)
    a0 = jnp.asarray(rec.strength.values[0], jnp.float32)     # (run, mode)
    ts = recipe.lr * rec.step.values.astype(float)

    def f(t, a, _):
        return depth * jnp.abs(a) ** (2.0 - 2.0 / depth) * (s - a)
    a = integrate_ode(f, a0, ts, t0=0.0)
    return _strengths_to_outputs(recipe, np.asarray(a, float), rec.off_mode.values[0])


class DeepLinearWorld:
    """Deep linear networks learning a linear teacher (core.world.World)."""

    study = "deep_linear"
    papers = ("saxe-2014",)
    schema = DeepLinearRecipe

    def phases(self, recipe: DeepLinearRecipe):
        for depth in recipe.depth_list():
            yield build_phase(recipe, depth)

    def analyse(self, recipe: DeepLinearRecipe, results: dict) -> dict:
        phases = {}
        for depth in recipe.depth_list():
            name = phase_name(recipe, depth)
            res = results[name]
            phases[name] = analysis.analyse_phase(recipe, depth, res.records,
                                                  np.asarray(res.diverged_at))
        out = {"study": self.study, "recipe": recipe.name, "paper": recipe.paper,
               "seeds": recipe.seeds, "seed": recipe.seed, "phases": phases}
        if len(phases) > 1:
            out["depth_comparison"] = analysis.depth_comparison(phases)
        return out

    def theories(self, recipe: DeepLinearRecipe) -> list:
        """Per trained depth (balanced init only: the theory's assumption), two theories of
        the strengths and the loss: ``saxe.map`` (gradient descent's exact reduced map,
        iterated by core.theory.iterate_map) and ``saxe.flow`` (the continuous gradient
        flow, integrated by core.theory.integrate_ode; the closed form at depth 2). With
        several depths the names end in the phase (``saxe.map.depth3``)."""
        if recipe.init.type != "balanced":
            return []
        out = []
        for depth in recipe.depth_list():
            name = phase_name(recipe, depth)
            tail = "" if name == "train" else f".{name}"
            out.append(Theory(f"saxe.map{tail}", name, ("strength", "loss"), "reduced",
                              partial(_predict_map, recipe, depth),
                              f"GD's exact reduced map, depth {depth}"))
            out.append(Theory(f"saxe.flow{tail}", name, ("strength", "loss"), "reduced",
                              partial(_predict_flow, recipe, depth),
                              f"gradient flow, depth {depth}"))
        return out

    def stages(self, summary: dict) -> dict:
        """Each phase's loss-stage boundaries (steps) for the theory's error windows: the
        elementwise median over healthy seeds when they found the same number of stages,
        else the first healthy seed's."""
        out = {}
        for name, ph in summary["phases"].items():
            per = ph["per_seed"]
            b = [x for x, st in zip(per["stage_boundaries"], per["status"])
                 if st == "ok" and x]
            if b and all(len(x) == len(b[0]) for x in b):
                out[name] = np.median(np.asarray(b, float), axis=0).tolist()
            elif b:
                out[name] = b[0]
        return out

    def figures(self, recipe, results: dict, summary: dict, folder) -> dict:
        from learndyn.linear.figures import draw_all
        return draw_all(recipe, results, summary, folder)

    def claims(self):
        from learndyn.linear.claims import CLAIMS
        return CLAIMS

    def table(self, summary: dict) -> list:
        """Rows (label, value per phase) for `learndyn show`."""
        names = list(summary["phases"])
        rows = [("phase", names)]

        def fmt(v, f="{:.4g}"):
            return "n/a" if v is None else ", ".join(f.format(x) if x is not None else "n/a"
                                                     for x in (v if isinstance(v, list) else [v]))
        for label, key, src in (("t_half (updates)", "t_half", "median"),
                                ("t_half theory", "t_half", "theory"),
                                ("rise / half", "rise_over_half", "median"),
                                ("max |a - theory| / s", "strength_error", "median"),
                                ("final loss", "final_loss", "median")):
            rows.append((label, [fmt(summary["phases"][n][src].get(key)) for n in names]))
        return rows


WORLD = DeepLinearWorld()
