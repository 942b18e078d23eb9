"""The closed- vs open-loop study (Ger & Barak Figs. 1c, 2a-c) for any recipe of this world.

1. closed loop: every seed trained by BPTT through the plant (one vectorised batch);
2. open loop: a student per seed, starting from the *same initial weights*, imitates that
   seed's trained closed-loop network (the teacher);
3. analysis: stages of the closed-loop loss, first stable step of P, effective gains, and
   the gain-plane loss map; 4. figures; 5. summary.json.
Each trained phase has its own store folder, so an interrupted study resumes where it was.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import jax
import numpy as np

from learndyn.closedloop.analysis import gain_map
from learndyn.closedloop.build import build
from learndyn.closedloop.config import ClosedLoopRecipe
from learndyn.core.seeds import run_keys, seed_labels
from learndyn.core.spectra import first_stable_step
from learndyn.core.stages import loss_stages
from learndyn.core.summaries import finite_median, quartiles
from learndyn.core.store import RunStore
from learndyn.core.trainer import Trainer, divergence_limits

ProgressFactory = Callable[[str], Callable[[int, int], None] | None]

# An open-loop peak counts as "above the initial loss" only if it exceeds it by 10 %: the
# evaluation batch is fixed, so smaller excursions would be real but are not what the paper
# means by a transient rise "far above" the initial value.
PEAK_MARGIN = 1.10


def _limits(step, state0, train):
    """Each run's divergence limit: train.diverge_above, and train.diverge_factor x the run's
    initial training loss (recomputed from the initial state, so a resumed phase gets the
    same limits)."""
    if math.isinf(train.diverge_factor):
        return train.diverge_above
    return divergence_limits(step, state0, train.diverge_factor, train.diverge_above)


def analyse_mode(ds, diverged_at, n_stages: int | None) -> dict:
    """Per-seed scalars of one trained phase."""
    steps = ds.step.values
    dep = ds.deployed_loss.values  # (step, run)
    n_runs = dep.shape[1]
    per = {"initial_deployed_loss": [], "peak_deployed_loss": [], "peak_step": [],
           "final_loss": [], "final_objective": [], "first_stable_step": [],
           "final_gains": [], "stage_boundaries": [], "stage_slopes": []}
    for r in range(n_runs):
        d = dep[:, r]
        ok = np.isfinite(d)
        per["initial_deployed_loss"].append(float(d[0]))
        per["peak_deployed_loss"].append(float(np.nanmax(d)) if ok.any() else None)
        per["peak_step"].append(int(steps[np.nanargmax(d)]) if ok.any() else None)
        per["final_loss"].append(float(d[-1]) if ok[-1] else None)
        obj = ds.loss.values[-1, r]
        per["final_objective"].append(float(obj) if np.isfinite(obj) else None)
        per["first_stable_step"].append(first_stable_step(steps, ds.radius.values[:, r]))
        if "gains" in ds:
            g = ds.gains.values[-1, r, 0]
            per["final_gains"].append(g.tolist() if np.all(np.isfinite(g)) else None)
        if n_stages and ok.sum() > 6 * n_stages:
            st = loss_stages(steps, dep[:, r], n_stages)
            per["stage_boundaries"].append(st.boundaries)
            per["stage_slopes"].append(st.slopes)
        else:
            per["stage_boundaries"].append(None)
            per["stage_slopes"].append(None)
    status = ["diverged" if x >= 0 else "ok" for x in diverged_at]
    # each run's status in this phase and the update that diverged (None: it did not)
    per["status"] = status
    per["diverged_at"] = [int(x) if x >= 0 else None for x in diverged_at]
    # the medians are over the runs healthy in this phase (a diverged run's curve stops)
    ok = lambda key: [v for v, st in zip(per[key], status) if st == "ok"]  # noqa: E731
    summary = {
        "initial_deployed_loss": finite_median(ok("initial_deployed_loss")),
        "peak_deployed_loss": finite_median(ok("peak_deployed_loss")),
        "final_loss": finite_median(ok("final_loss")),
        "final_objective": finite_median(ok("final_objective")),
        "first_stable_step": quartiles(ok("first_stable_step"))["median"],
        "final_gains": finite_median(ok("final_gains")),
        "stage_boundaries": finite_median(ok("stage_boundaries")),
        "n_diverged": int(sum(s == "diverged" for s in status)),
        "diverged_at": per["diverged_at"],
        "per_seed": per,
    }
    return summary


def run_study(recipe: ClosedLoopRecipe, store: RunStore, progress: ProgressFactory | None = None,
              figures: bool = True) -> dict:
    """Train, analyse, draw and summarise; returns the summary (also written to summary.json)."""
    t_start = time.time()
    plant, task, agent, problems = build(recipe)
    # the run labelled seed k uses fold_in(PRNGKey(0), k) whatever batch it is in, so a batch
    # member is reproduced by the recipe with seed = k alone (core/seeds.py)
    keys = run_keys(recipe.seed, recipe.seeds)
    labels = seed_labels(recipe.seed, recipe.seeds)
    steps = recipe.record.steps(recipe.train.epochs)
    results, timings = {}, {}
    prog = (lambda label: progress(label)) if progress else (lambda label: None)

    pc = problems["closed"]
    s0 = jax.vmap(pc.init)(keys)
    trainer = Trainer(pc.step, pc.observe, obs_dims=pc.obs_dims,
                      diverge_above=_limits(pc.step, s0, recipe.train))
    results["closed"] = trainer.run(s0, steps, store=store.child("closed"),
                                    progress=prog("closed loop"),
                                    run_coords={"seed": labels})
    timings["closed_s"] = results["closed"].train_s

    if "open" in problems:
        po = problems["open"]
        teacher = results["closed"].state.params
        so = jax.vmap(po.init)(keys, s0.params, teacher)
        epochs = recipe.open_loop.epochs or recipe.train.epochs
        trainer_o = Trainer(po.step, po.observe, obs_dims=po.obs_dims,
                            diverge_above=_limits(po.step, so, recipe.train))
        results["open"] = trainer_o.run(so, recipe.record.steps(epochs), store=store.child("open"),
                                        progress=prog("open loop"),
                                        run_coords={"seed": labels})
        timings["open_s"] = results["open"].train_s

    summary = {"recipe": recipe.name, "paper": recipe.paper, "seeds": recipe.seeds,
               "seed": recipe.seed, "epochs": {m: int(r.records.step.values[-1])
                                               for m, r in results.items()}}
    for mode, res in results.items():
        summary[mode] = analyse_mode(res.records, res.diverged_at,
                                     recipe.n_stages if mode == "closed" else None)
    summary["stage_boundaries"] = summary["closed"]["stage_boundaries"]
    # over seeds: only the seeds healthy in every phase the number reads (an open-loop student
    # of a diverged teacher imitates a frozen, broken network)
    healthy = {m: [st == "ok" for st in summary[m]["per_seed"]["status"]] for m in results}
    over = {"first_stable_step": {m: quartiles([v for v, h in zip(
        summary[m]["per_seed"]["first_stable_step"], healthy[m]) if h]) for m in results}}
    if "open" in results:
        per = summary["open"]["per_seed"]
        both = [c and o for c, o in zip(healthy["closed"], healthy["open"])]
        above = [p is not None and p > PEAK_MARGIN * i
                 for p, i, h in zip(per["peak_deployed_loss"], per["initial_deployed_loss"], both)
                 if h]
        over["open_peak_above_initial_fraction"] = float(np.mean(above)) if above else None
        fl = [(o, c) for o, c, h in zip(summary["open"]["per_seed"]["final_loss"],
                                        summary["closed"]["per_seed"]["final_loss"], both)
              if h and o is not None and c is not None]
        over["final_loss_ratio_open_over_closed"] = quartiles([o / c for o, c in fl])
        over["n_healthy_both_phases"] = int(sum(both))
    summary["over_seeds"] = over

    gm = None
    if plant.nx == 2 and plant.nu == 1 and recipe.task.type == "regulation":
        g = recipe.gain_map
        gm = gain_map(plant, task, np.linspace(*g.k1, g.resolution), np.linspace(*g.k2, g.resolution))
        summary["gain_regions"] = _gain_path_regions(results, plant, task)
    # closed_s / open_s: training wall time of each phase over every invocation (a resumed
    # run's parts add up); invocation_s: the command that wrote this summary
    timings["invocation_s"] = time.time() - t_start
    summary["timing"] = timings
    summary["backend"] = jax.default_backend()
    if figures:
        from learndyn.closedloop.figures import draw_all
        summary["figures"] = draw_all(results, summary, gm, store.figures)
    store.write_summary(summary)
    return summary


def _gain_path_regions(results, plant, task) -> dict:
    """Where each mode's effective gains go in the gain plane: the fraction of recorded steps
    in each region (all seeds), the fraction of seeds that ever enter the oscillatory-unstable
    region, and per seed the largest spectral radius of A + B K reached inside it (how deep
    the path goes: 1 is the boundary)."""
    import jax.numpy as jnp

    from learndyn.closedloop.analysis import OSC_UNSTABLE, REGION_NAMES, region_of
    A, B, _ = plant.linearize()
    A, B = jnp.asarray(A, jnp.float32), jnp.asarray(B, jnp.float32)

    def classify(k):
        K = k[None, :]
        return region_of(A, B, K), jnp.max(jnp.abs(jnp.linalg.eigvals(A + B @ K)))
    out = {}
    for mode, res in results.items():
        g = res.records.gains.values[:, :, 0, :]  # (step, run, 2)
        flat = g.reshape(-1, 2)
        ok = np.all(np.isfinite(flat), axis=1)
        reg, rad = np.full(len(flat), -1), np.full(len(flat), np.nan)
        if ok.any():
            r, q = jax.vmap(classify)(jnp.asarray(flat[ok]))
            reg[ok], rad[ok] = np.asarray(r), np.asarray(q)
        reg, rad = reg.reshape(g.shape[:2]), rad.reshape(g.shape[:2])
        # fractions over the seeds healthy in this phase (a diverged path stops); the depth
        # is per seed, every seed, for the claims to pick the healthy ones
        ok = np.asarray(res.diverged_at) < 0
        frac = {REGION_NAMES[k]: float(np.mean(reg[:, ok] == k)) if ok.any() else None
                for k in REGION_NAMES}
        depth = np.where(reg == OSC_UNSTABLE, rad, -np.inf).max(axis=0)
        out[mode] = {"fraction_of_steps": frac,
                     "fraction_of_seeds_entering_oscillatory_unstable":
                         float(np.mean(np.any(reg[:, ok] == OSC_UNSTABLE, axis=0)))
                         if ok.any() else None,
                     "max_radius_in_oscillatory_unstable": [float(d) if np.isfinite(d) else None
                                                            for d in depth]}
    return out
