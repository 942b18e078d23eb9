"""The Li2 study: variants x seeds of group-arithmetic training, grokking events, stages,
per-node irrep spectra and energies, figures and summary.

Runs whose variants share shapes (same group, width, split size, weight type, ...) are packed
into one vectorised batch; learning rate, weight decay and V-init scale vary inside a batch.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.core.seeds import run_keys, seed_labels
from learndyn.core.stages import loss_stages
from learndyn.core.store import RunStore
from learndyn.core.summaries import finite_median
from learndyn.core.trainer import Trainer, divergence_limits
from learndyn.groups import parse_group
from learndyn.grokking.config import Li2Recipe, variant_split
from learndyn.grokking.model import Activation, centre_samples
from learndyn.grokking.problem import Li2Problem, active_node_energies, concentration

# Memorisation / generalisation: the first recorded step with train / test accuracy >= 99 %.
EVENT_ACC = 0.99


def resolve_variant(recipe: Li2Recipe, v) -> dict:
    """All settings of one variant (variant fields override the recipe's)."""
    pick = lambda name, default: default if getattr(v, name) is None else getattr(v, name)
    group, M, n_train = variant_split(recipe, v)   # 1 <= n_train < M^2: checked at validation
    return {
        "name": v.name, "group": group, "M": M, "n_train": n_train,
        "K": pick("K", recipe.model.K), "lr": pick("lr", recipe.train.lr),
        "weight_decay": pick("weight_decay", recipe.train.weight_decay),
        "v_scale": pick("v_scale", recipe.model.v_scale),
        "complex_weights": pick("complex_weights", recipe.model.complex_weights),
        "optimizer": pick("optimizer", recipe.train.optimizer),
        "activation": pick("activation", recipe.model.activation),
        "n_residual": pick("n_residual", recipe.model.n_residual),
    }


def _shape_key(s: dict):
    return (s["group"], s["K"], s["n_train"], s["complex_weights"], s["optimizer"],
            s["activation"], s["n_residual"])


def grokking_events(steps, train_acc, test_acc) -> dict:
    """Memorisation and generalisation steps of one run, their delay, and the outcome."""
    def first(acc):
        idx = np.nonzero(np.asarray(acc) >= EVENT_ACC)[0]
        return int(steps[idx[0]]) if len(idx) else None
    mem, gen = first(train_acc), first(test_acc)
    final_test, final_train = float(test_acc[-1]), float(train_acc[-1])
    if not np.isfinite(final_test):
        outcome = "diverged"
    elif final_test >= EVENT_ACC:
        outcome = "generalises"
    elif final_train >= EVENT_ACC:
        outcome = "memorises"
    else:
        outcome = "neither"
    return {"memorisation_step": mem, "generalisation_step": gen,
            "delay": None if mem is None or gen is None else gen - mem,
            "outcome": outcome, "final_test_acc": final_test, "final_train_acc": final_train}


def run_study(recipe: Li2Recipe, store: RunStore, progress=None, figures: bool = True) -> dict:
    t_start = time.time()
    settings = [resolve_variant(recipe, v) for v in recipe.variants]
    batches: "OrderedDict[tuple, list[dict]]" = OrderedDict()
    for s in settings:
        batches.setdefault(_shape_key(s), []).append(s)
    seed_keys = run_keys(recipe.seed, recipe.seeds)  # row i: the key of seed recipe.seed + i
    labels = seed_labels(recipe.seed, recipe.seeds)
    steps = recipe.record.steps(recipe.train.epochs)
    per_variant, finals, records = {}, {}, {}
    train_s = 0.0
    for bi, (key, members) in enumerate(batches.items()):
        s0 = members[0]
        prob = Li2Problem(parse_group(s0["group"]), s0["K"], s0["n_train"],
                          act=Activation(s0["activation"], recipe.model.act_a, recipe.model.act_b),
                          loss=recipe.train.loss, loss_reduction=recipe.train.loss_reduction,
                          optimizer=s0["optimizer"], complex_weights=s0["complex_weights"],
                          n_residual=s0["n_residual"], ridge=recipe.model.ridge_V,
                          n_tracked=min(recipe.n_tracked, s0["K"]))
        runs = [(s, i) for s in members for i in range(recipe.seeds)]
        # the run labelled seed k uses fold_in(PRNGKey(0), k) (core/seeds.py): the same seed has
        # the same split and init in every variant (variants differ only in their settings),
        # and the same as in a recipe with seed = k alone
        seed_idx = np.array([i for _, i in runs])
        keys = seed_keys[seed_idx]
        hp = {k: jnp.asarray([s[k] for s, _ in runs], jnp.float32)
              for k in ("lr", "weight_decay", "v_scale")}
        state0 = jax.vmap(prob.init)(keys, hp["lr"], hp["weight_decay"], hp["v_scale"])
        # a loss above diverge_factor x the run's initial loss (or non-finite) diverges
        limits = (math.inf if math.isinf(recipe.train.diverge_factor) else
                  divergence_limits(prob.step, state0, recipe.train.diverge_factor))
        trainer = Trainer(prob.step, prob.observe, obs_dims=prob.obs_dims,
                          run_map=prob.map_runs, diverge_above=limits)
        label = f"batch {bi + 1}/{len(batches)}"
        res = trainer.run(state0, steps, store=store.child(f"batch{bi}"),
                          progress=progress(label) if progress else None,
                          run_coords={"variant": np.array([s["name"] for s, _ in runs]),
                                      "seed": labels[seed_idx]})
        ds = res.records
        train_s += res.train_s
        final_power = np.asarray(jax.vmap(prob.node_power)(res.state.params.W))  # (R, K, n_irr)
        energies = np.asarray(jax.vmap(lambda st: prob.node_energy(
            st.params.W, prob._pairs[st.train_idx],
            centre_samples(prob._data(st.train_idx)[2])))(res.state))
        for s in members:
            idx = [r for r, (ss, _) in enumerate(runs) if ss is s]
            sub = ds.isel(run=idx)
            records[s["name"]] = sub
            finals[s["name"]] = {"power": final_power[idx], "energy": energies[idx]}
            per_variant[s["name"]] = _analyse_variant(s, sub, final_power[idx], energies[idx],
                                                      res.diverged_at[idx])
    summary = {"recipe": recipe.name, "paper": recipe.paper, "seeds": recipe.seeds,
               "seed": recipe.seed, "epochs": recipe.train.epochs, "variants": per_variant,
               "n_batches": len(batches), "backend": jax.default_backend(),
               # train_s: training wall time over every invocation (a resumed run's parts
               # add up); invocation_s: the command that wrote this summary
               "timing": {"train_s": train_s, "invocation_s": time.time() - t_start}}
    first = next(iter(per_variant.values()))
    summary["stage_boundaries"] = first["stage_boundaries"]
    if figures:
        from learndyn.grokking.figures import draw_all
        summary["figures"] = draw_all(records, finals, summary, store.figures)
    store.write_summary(summary)
    return summary


def _half_step(steps, d) -> int | None:
    """First step at which the cosine distance from the initial weights reaches half of its
    final value: when a weight matrix has done half of its moving."""
    if not np.isfinite(d[-1]) or d[-1] <= 0:
        return None
    return int(steps[np.nonzero(d >= 0.5 * d[-1])[0][0]])


def _growth(g) -> float | None:
    """Peak of a signal over its minimum before the peak."""
    if not np.isfinite(g).any():
        return None
    k = int(np.nanargmax(g))
    lo = np.nanmin(g[:k + 1])
    return float(g[k] / lo) if lo > 0 else None


def _analyse_variant(s, ds, power, energy, diverged_at) -> dict:
    """Per-seed values of one variant's runs, each run's status ("ok" / "diverged") and
    diverged step (the update's index, None if it did not), and medians / fractions over the
    healthy runs only (a diverged run's records stop, its final state is its last finite
    one)."""
    steps = ds.step.values
    diverged_at = np.asarray(diverged_at)
    status = ["diverged" if d >= 0 else "ok" for d in diverged_at]
    events = [grokking_events(steps, ds.train_acc.values[:, r], ds.test_acc.values[:, r])
              for r in range(ds.sizes["run"])]
    for e, st in zip(events, status):
        if st == "diverged":
            e["outcome"] = "diverged"
    stages = []
    for r in range(ds.sizes["run"]):
        g = ds.gf_norm.values[:, r]
        if np.isfinite(g).sum() > 20 and np.all(g[np.isfinite(g)] > 0):
            stages.append(loss_stages(steps, g, 3).boundaries)
        else:
            stages.append(None)
    conc = np.asarray(concentration(jnp.asarray(power)))               # (R,)
    outcomes = [e["outcome"] for e in events]
    run_energy = [float(np.mean(e)) if e.size else None           # mean over active nodes
                  for e in active_node_energies(power, energy)]
    gen_energy = [e for e, o in zip(run_energy, outcomes) if o == "generalises"]
    mem_energy = [e for e, o in zip(run_energy, outcomes) if o == "memorises"]
    ok = [st == "ok" for st in status]
    healthy = lambda values: [v for v, h in zip(values, ok) if h]  # noqa: E731
    h_events, h_outcomes = healthy(events), healthy(outcomes)
    fraction = lambda o: float(np.mean([x == o for x in h_outcomes])) if h_outcomes else None  # noqa: E731
    # the peak step of each signal (after step 0): when V / W / G_F move most
    def peak_step(var):
        v = ds[var].values[1:]
        return [int(steps[1:][np.nanargmax(v[:, r])]) if np.isfinite(v[:, r]).any() else None
                for r in range(v.shape[1])]
    return {
        "settings": {k: v for k, v in s.items() if k != "name"},
        "fraction_generalising": fraction("generalises"),
        "fraction_memorising": fraction("memorises"),
        "generalisation_step": finite_median([e["generalisation_step"] for e in h_events]),
        "memorisation_step": finite_median([e["memorisation_step"] for e in h_events]),
        "delay": finite_median([e["delay"] for e in h_events]),
        "final_test_acc": finite_median([e["final_test_acc"] for e in h_events]),
        "final_train_acc": finite_median([e["final_train_acc"] for e in h_events]),
        "concentrated_node_fraction": finite_median(healthy(list(conc))),
        "energy_mean_generalising": finite_median(gen_energy),
        "energy_mean_memorising": finite_median(mem_energy),
        "stage_boundaries": (np.median([b for b in healthy(stages) if b], axis=0).tolist()
                             if any(healthy(stages)) else None),
        "n_diverged": int(np.sum(diverged_at >= 0)),
        "per_seed": {"status": status,
                     "diverged_at": [int(d) if d >= 0 else None for d in diverged_at],
                     "events": events, "stage_boundaries": stages,
                     "concentrated_node_fraction": conc.tolist(),
                     "energy_mean": run_energy,
                     "gf_peak_step": peak_step("gf_norm"), "cos_W_peak_step": peak_step("cos_W"),
                     "cos_V_peak_step": peak_step("cos_V"),
                     "half_move_step_W": [_half_step(steps, ds.dist0_W.values[:, r])
                                          for r in range(ds.sizes["run"])],
                     "half_move_step_V": [_half_step(steps, ds.dist0_V.values[:, r])
                                          for r in range(ds.sizes["run"])],
                     "gf_growth": [_growth(ds.gf_norm.values[:, r]) for r in range(ds.sizes["run"])]},
    }
