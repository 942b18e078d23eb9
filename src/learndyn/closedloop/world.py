"""The closed-loop world (Ger & Barak 2025) in the shape of core.world.World.

Phases
1. ``closed``: every seed trained by BPTT through the plant (one vectorised batch);
2. ``open`` (when ``open_loop.enabled``): a student per seed, starting from the *same initial
   weights*, imitates that seed's trained closed-loop network (the teacher), which the
   ``closed`` phase's result supplies.
Each run's key, evaluation episodes, teacher and learning-rate multiplier are its constants
(training.RunConsts); the evolving state is the agent's weights and optimiser state.
The analysis (closedloop.summary): stages of the closed-loop loss, first stable step of P,
effective gains, and the gain-plane regions the gains pass through.
"""

from __future__ import annotations

import jax
import numpy as np

from learndyn.closedloop.build import build
from learndyn.closedloop.config import ClosedLoopRecipe
from learndyn.closedloop.summary import has_gain_plane, summarise
from learndyn.core.seeds import run_keys, seed_labels
from learndyn.core.world import Phase

LABELS = {"closed": "closed loop", "open": "open loop"}


def _phase(recipe: ClosedLoopRecipe, name: str, problem, state0, consts, epochs: int) -> Phase:
    return Phase(name=name, step=problem.step, observe=problem.observe, state0=state0,
                 consts=consts, record_steps=recipe.record.steps(epochs),
                 obs_dims=problem.obs_dims,
                 run_coords={"seed": seed_labels(recipe.seed, recipe.seeds)},
                 diverge_factor=recipe.train.diverge_factor,
                 diverge_above=recipe.train.diverge_above, label=LABELS[name])


class ClosedLoopWorld:
    """RNN controllers trained in closed loop with a plant, against open-loop students."""

    study = "closedloop"
    papers = ("ger-barak-2025",)
    schema = ClosedLoopRecipe

    def phases(self, recipe: ClosedLoopRecipe):
        _, _, _, problems = build(recipe)
        # the run labelled seed k uses fold_in(PRNGKey(0), k) whatever batch it is in, so a
        # batch member is reproduced by the recipe with seed = k alone (core/seeds.py)
        keys = run_keys(recipe.seed, recipe.seeds)
        pc = problems["closed"]
        s0, c0 = jax.vmap(pc.init)(keys)
        closed = yield _phase(recipe, "closed", pc, s0, c0, recipe.train.epochs)
        if "open" in problems:
            po = problems["open"]
            so, co = jax.vmap(po.init)(keys, s0.params, closed.state.params)
            yield _phase(recipe, "open", po, so, co,
                         recipe.open_loop.epochs or recipe.train.epochs)

    def analyse(self, recipe: ClosedLoopRecipe, results: dict) -> dict:
        plant, task, _, _ = build(recipe)
        return summarise(recipe, results, plant, task)

    def theories(self, recipe: ClosedLoopRecipe) -> list:
        return []

    def stages(self, summary: dict) -> dict:
        return {"closed": summary.get("stage_boundaries")}

    def figures(self, recipe: ClosedLoopRecipe, results: dict, summary: dict, folder) -> dict:
        from learndyn.closedloop.analysis import gain_map
        from learndyn.closedloop.figures import draw_all
        plant, task, _, _ = build(recipe)
        gm = None
        if has_gain_plane(recipe, plant):
            g = recipe.gain_map
            gm = gain_map(plant, task, np.linspace(*g.k1, g.resolution),
                          np.linspace(*g.k2, g.resolution))
        return draw_all(results, summary, gm, folder)

    def claims(self):
        from learndyn.closedloop.claims import CLAIMS
        return CLAIMS

    def table(self, summary: dict) -> list:
        """Rows (label, value per phase) for `learndyn show`."""
        modes = [m for m in ("closed", "open") if m in summary]
        rows = [("quantity", [LABELS[m] for m in modes])]

        def fmt(v):
            if v is None:
                return "—"
            if isinstance(v, float):
                return f"{v:.4g}"
            if isinstance(v, list):
                return "[" + ", ".join(fmt(x) for x in v) + "]"
            return str(v)
        for key in ("initial_deployed_loss", "peak_deployed_loss", "final_loss",
                    "final_objective", "first_stable_step", "final_gains", "stage_boundaries",
                    "n_diverged"):
            rows.append((key, [fmt(summary[m].get(key)) for m in modes]))
        if summary.get("frequencies"):
            hz = "/".join(f"{f:g}" for f in summary["frequencies"])
            rows.append((f"probe drop epoch ({hz} Hz)",
                         [fmt(summary[m].get("probe_drop_step")) for m in modes]))
        over = summary.get("over_seeds", {})
        fs = over.get("first_stable_step", {})
        rows.append(("stable step q25-q75 (n)",
                     [f"{fs[m]['q25']:.0f}-{fs[m]['q75']:.0f} ({fs[m]['n']})"
                      if fs.get(m, {}).get("n") else "—" for m in modes]))
        if "open_peak_above_initial_fraction" in over and "open" in modes:
            frac = over["open_peak_above_initial_fraction"]
            rows.append(("peak > 1.1 x initial",
                         ["" if m == "closed" else fmt(frac) if frac is None else f"{frac:.0%}"
                          for m in modes]))
        authors = summary.get("authors")
        if authors:
            from learndyn.closedloop.authors import COMPARED

            def ratio(r):
                if r is None:
                    return ""
                return " (" + ("/".join(f"{x:.2f}" for x in r) if isinstance(r, list)
                               else f"{r:.2f}") + "x)"
            n_diff = len(authors["differs"])
            rows.append(("authors' run" + (f" ({n_diff} settings differ)" if n_diff else ""),
                         ["theirs (ours/theirs)" if m == modes[0] else "" for m in modes]))
            for name in dict.fromkeys(n for m in modes for n in COMPARED.get(m, ())):
                rows.append((f"  {name}", [
                    fmt(authors[m][name]["authors"]) + ratio(authors[m][name]["ratio"])
                    if m in authors and name in authors[m] else "" for m in modes]))
        return rows


WORLD = ClosedLoopWorld()
