"""The Li2 world (Tian 2025, group-arithmetic grokking) in the shape of core.world.World.

A recipe compares variants x seeds. Variants whose shapes agree (`analysis.shape_key`: group,
width, split size, weight type, optimiser, activation, residual layers) are packed into one
phase, "batch0", "batch1", ... in the order of their first variant; the runs of a phase are
(variant, seed) pairs, variant-major, and their learning rate, weight decay and V-init scale
are per-run constants. The run labelled seed k uses run_key(k) (core/seeds.py) for its split
and initial weights, so the same seed has the same split and init in every variant, and the
same as in a recipe with seed = k alone.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.core.seeds import run_key, run_keys, seed_labels
from learndyn.core.world import Phase
from learndyn.groups import parse_group
from learndyn.grokking.analysis import analyse_variant, resolve_variant, shape_key
from learndyn.grokking.config import Li2Recipe
from learndyn.grokking.problem import Li2Problem


@dataclass(frozen=True)
class Batch:
    """The runs of one phase: `members` (resolved variants, `analysis.resolve_variant`) x
    seeds, and the problem they share.

    seed_idx: (R,) each run's seed offset (seed = recipe.seed + offset); split_keys,
    init_keys: (R, 2) the keys that draw each run's train/test split and its initial weights
    (halves of its seed's key, or of data.seed's / model.init_seed's key when the recipe
    holds one fixed); lr, wd, v_scale: (R,) float32 per-run constants; names: (R,) variant
    names."""

    name: str
    label: str
    problem: Li2Problem
    members: tuple
    seed_idx: np.ndarray
    split_keys: jax.Array
    init_keys: jax.Array
    lr: jax.Array
    wd: jax.Array
    v_scale: jax.Array
    names: np.ndarray

    def runs_of(self, variant: str) -> list[int]:
        """The run indices of one variant in this batch."""
        return [r for r, n in enumerate(self.names) if n == variant]


def problem_of(recipe: Li2Recipe, s: dict) -> Li2Problem:
    """The problem a resolved variant `s` is trained on (shared by its batch)."""
    return Li2Problem(parse_group(s["group"]), s["K"], s["n_train"],
                      act=s["activation"].build(recipe.model.act_a, recipe.model.act_b),
                      loss=recipe.train.loss.build(), optimizer=s["optimizer"].build(),
                      complex_weights=s["complex_weights"], n_residual=s["n_residual"],
                      ridge=recipe.model.ridge_V.build(), residual=recipe.model.residual,
                      complex_init=recipe.model.complex_init,
                      n_tracked=min(recipe.n_tracked, s["K"]),
                      authors_stats=recipe.authors_stats)


def batches(recipe: Li2Recipe) -> list[Batch]:
    """The recipe's phases' runs, batch by batch (nothing is drawn or trained)."""
    groups: "OrderedDict[tuple, list[dict]]" = OrderedDict()
    for v in recipe.variants:
        s = resolve_variant(recipe, v)
        groups.setdefault(shape_key(s), []).append(s)
    seed_keys = run_keys(recipe.seed, recipe.seeds)  # row i: the key of seed recipe.seed + i
    halves = jax.vmap(jax.random.split)(seed_keys)    # (seeds, 2, 2): split key, init key
    split_keys, init_keys = halves[:, 0], halves[:, 1]
    if recipe.data.seed is not None:      # one split for every seed: the half of data.seed's key
        split_keys = jnp.broadcast_to(jax.random.split(run_key(recipe.data.seed))[0],
                                      split_keys.shape)
    if recipe.model.init_seed is not None:   # one initialisation for every seed
        init_keys = jnp.broadcast_to(jax.random.split(run_key(recipe.model.init_seed))[1],
                                     init_keys.shape)
    out = []
    for bi, members in enumerate(groups.values()):
        runs = [(s, i) for s in members for i in range(recipe.seeds)]
        seed_idx = np.array([i for _, i in runs])
        hp = {k: jnp.asarray([s[k] for s, _ in runs], jnp.float32)
              for k in ("lr", "weight_decay", "v_scale")}
        out.append(Batch(f"batch{bi}", f"batch {bi + 1}/{len(groups)}",
                         problem_of(recipe, members[0]), tuple(members), seed_idx,
                         split_keys[seed_idx], init_keys[seed_idx], hp["lr"],
                         hp["weight_decay"], hp["v_scale"],
                         np.array([s["name"] for s, _ in runs])))
    return out


def build_phase(recipe: Li2Recipe, b: Batch) -> Phase:
    """The phase that trains batch `b`: each run's state and constants from its key."""
    prob = b.problem
    state0, consts = jax.vmap(prob.init_from)(b.split_keys, b.init_keys, b.lr, b.wd, b.v_scale)
    labels = seed_labels(recipe.seed, recipe.seeds)
    return Phase(name=b.name, step=prob.step, observe=prob.observe, state0=state0,
                 consts=consts, record_steps=recipe.record.steps(recipe.train.epochs),
                 obs_dims=prob.obs_dims,
                 run_coords={"variant": b.names, "seed": labels[b.seed_idx]},
                 diverge_factor=recipe.train.diverge_factor, run_map=prob.map_runs,
                 label=b.label)


def final_spectra(b: Batch, state) -> tuple[np.ndarray, np.ndarray]:
    """(power (R, K, L), energy (R, K)) of every run's final weights: each node's irrep power
    and its energy on the run's training pairs (`Li2Problem.node_energy`)."""
    prob = b.problem
    train_idx, _ = jax.vmap(prob.split_from)(b.split_keys)
    power = np.asarray(jax.vmap(prob.node_power)(state.params.W))
    energy = np.asarray(jax.vmap(prob.node_energy)(state.params.W, train_idx))
    return power, energy


class Li2World:
    """Two-layer networks on group arithmetic (core.world.World)."""

    study = "li2"
    papers = ("li2-2025",)
    schema = Li2Recipe

    def phases(self, recipe: Li2Recipe):
        for b in batches(recipe):
            yield build_phase(recipe, b)

    def analyse(self, recipe: Li2Recipe, results: dict) -> dict:
        per_variant = {}
        plan = batches(recipe)
        for b in plan:
            res = results[b.name]
            power, energy = final_spectra(b, res.state)
            for s in b.members:
                idx = b.runs_of(s["name"])
                per_variant[s["name"]] = analyse_variant(
                    s, res.records.isel(run=idx), power[idx], energy[idx],
                    np.asarray(res.diverged_at)[idx])
        first = next(iter(per_variant.values()))
        return {"recipe": recipe.name, "paper": recipe.paper, "seeds": recipe.seeds,
                "seed": recipe.seed, "epochs": recipe.train.epochs, "variants": per_variant,
                "n_batches": len(plan), "stage_boundaries": first["stage_boundaries"],
                # training wall time over every phase (and every invocation of each)
                "timing": {"train_s": float(sum(results[b.name].train_s for b in plan))}}

    def theories(self, recipe: Li2Recipe) -> list:
        return []

    def figures(self, recipe: Li2Recipe, results: dict, summary: dict, folder) -> dict:
        from learndyn.grokking.figures import draw_all
        records, finals = {}, {}
        for b in batches(recipe):
            res = results[b.name]
            power, energy = final_spectra(b, res.state)
            for s in b.members:
                idx = b.runs_of(s["name"])
                records[s["name"]] = res.records.isel(run=idx)
                finals[s["name"]] = {"power": power[idx], "energy": energy[idx]}
        return draw_all(records, finals, summary, folder)

    def claims(self):
        from learndyn.grokking.claims import CLAIMS
        return CLAIMS

    def table(self, summary: dict) -> list:
        """Rows (label, value per variant) for `learndyn show`."""
        vs = summary["variants"]
        names = list(vs)

        def fmt(v, f="{:.4g}"):
            return "n/a" if v is None else f.format(v)
        rows = [("variant", names)]
        for label, key, f in (("generalising", "fraction_generalising", "{:.0%}"),
                              ("memorising", "fraction_memorising", "{:.0%}"),
                              ("still transitioning", "fraction_transitioning", "{:.0%}"),
                              ("generalisation step", "generalisation_step", "{:.0f}"),
                              ("grokking delay", "delay", "{:.0f}"),
                              ("final test acc", "final_test_acc", "{:.3f}"),
                              ("concentrated nodes", "concentrated_node_fraction", "{:.2f}"),
                              ("trivial power share", "trivial_power_share", "{:.3f}"),
                              ("energy E/n^2 (generalising)", "energy_mean_generalising", "{:.4g}"),
                              ("energy E/n^2 (memorising)", "energy_mean_memorising", "{:.4g}"),
                              ("diverged runs", "n_diverged", "{:d}")):
            rows.append((label, [fmt(vs[n].get(key), f) for n in names]))
        return rows


WORLD = Li2World()
