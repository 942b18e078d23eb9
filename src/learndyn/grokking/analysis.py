"""Analysis of Li2 runs: active nodes, irrep concentration, node energies, grokking events,
and the per-variant summary.

Irrep powers ``(..., K, L)`` are indexed like ``groups.real_irreps``: irrep 0 is the trivial
one (constant functions on the group). A node's trivial power is an offset, not a feature, so
concentration is decided on the non-trivial irreps only and the trivial irrep's share of the
power is reported beside it (``trivial_power_share``).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from learndyn.core.stages import EPS32, loss_stages
from learndyn.core.summaries import finite_median
from learndyn.grokking.config import Li2Recipe, variant_split
from learndyn.grokking.observables import _TINY

__all__ = ["ACTIVE_NORM", "CONCENTRATION", "EVENT_ACC", "NONTRIVIAL_MIN", "TRIVIAL", "active_node_energies",
           "active_nodes", "analyse_variant", "concentration", "grokking_events",
           "resolve_variant", "settings_json", "shape_key", "trivial_power_share"]

# A node "concentrates" on one irrep when that irrep holds at least this share of its
# non-trivial power.
CONCENTRATION = 0.9
# The stages are fitted to log ||G_F|| above GF_FLOOR x its peak. Below that ||G_F|| is float32
# rounding: in li2-fig3's eta = 0 runs it falls from a peak of 16 to a floor of ~8e-6 (1e-6
# of its start), where the same run on one CPU with AVX-512 and with SSE4.2 code differs by
# 1-20 % (against < 1e-3 above 1.3e-4); two machines put the last stage at steps 240 and 253.
# 100 EPS32 (1.2e-5 of the peak) keeps every point whose rounding was measured below ~1e-3.
GF_FLOOR = 100 * EPS32
# Nodes whose weight norm is below 10 % of the largest node's are "inactive" (weight decay
# shrinks unused nodes toward zero, leaving noise whose irrep spectrum means nothing).
ACTIVE_NORM = 0.1
# A node whose non-trivial irreps hold less than this share of its power is constant up to
# rounding (a float32 constant node shows ~1e-7 of its power there), so no feature: far above
# rounding and far below any node that carries a feature (its share is O(1)).
NONTRIVIAL_MIN = 1e-4
# Memorisation / generalisation: the first recorded step with train / test accuracy >= 99 %.
EVENT_ACC = 0.99
# A run that has not generalised by its end is "memorises" only if its accuracies have
# settled: over the last LATE_FRACTION of its steps (from the first record at or after
# (1 - LATE_FRACTION) x the last step) neither its test nor its train accuracy rose by more
# than RISE_TOL. Otherwise it is "transitioning": still learning when the run stopped, an
# outcome censored by the run's length (a longer run may yet generalise), not a failure.
# 0.01 is one point of accuracy: at the smallest test sets of the recipes (~100 pairs) one
# more correct pair; the last fifth of a run spans the last 0.1 decade of its log-spaced
# records at least.
LATE_FRACTION = 0.2
RISE_TOL = 0.01
# The index of the trivial irrep (groups.real_irreps orders it first).
TRIVIAL = 0


def active_nodes(power):
    """Nodes whose norm is at least ACTIVE_NORM times the largest node norm of their run
    (a node's irrep powers, the trivial one included, sum to its squared norm).
    power: (..., K, L) -> (..., K) bool"""
    total = power.sum(-1)
    return total >= ACTIVE_NORM ** 2 * total.max(-1, keepdims=True)


def active_node_energies(power, energy) -> list[np.ndarray]:
    """Per run, E(w) of its active nodes (a node decayed to zero has no direction, so no
    defined energy). power: (R, K, L), energy: (R, K)."""
    keep = np.asarray(active_nodes(jnp.asarray(power))) & np.isfinite(energy)
    return [np.asarray(energy[r])[keep[r]] for r in range(len(keep))]


def concentration(power):
    """Fraction of active nodes whose dominant NON-TRIVIAL irrep holds >= CONCENTRATION of
    their non-trivial power (a node with no non-trivial power is not concentrated: a constant
    node is no feature). power: (..., K, L) -> (...,)"""
    nontrivial = jnp.delete(power, TRIVIAL, axis=-1)
    share_top = nontrivial.max(-1) / jnp.maximum(nontrivial.sum(-1), _TINY)
    has_feature = nontrivial.sum(-1) >= NONTRIVIAL_MIN * power.sum(-1)
    active = active_nodes(power)
    return jnp.sum((share_top >= CONCENTRATION) & has_feature & active, -1) / jnp.maximum(jnp.sum(active, -1), 1)


def trivial_power_share(power):
    """Mean over the active nodes of the trivial irrep's share of each node's power.
    power: (..., K, L) -> (...,)"""
    share = power[..., TRIVIAL] / jnp.maximum(power.sum(-1), _TINY)
    active = active_nodes(power)
    n_active = jnp.maximum(jnp.sum(active, -1), 1).astype(share.dtype)
    return jnp.sum(jnp.where(active, share, 0.0), -1) / n_active


def grokking_events(steps, train_acc, test_acc) -> dict:
    """Memorisation and generalisation steps of one run, their delay, and the outcome."""
    def first(acc):
        idx = np.nonzero(np.asarray(acc) >= EVENT_ACC)[0]
        return int(steps[idx[0]]) if len(idx) else None
    mem, gen = first(train_acc), first(test_acc)
    final_test, final_train = float(test_acc[-1]), float(train_acc[-1])
    late = late_rise(steps, train_acc, test_acc)
    if not np.isfinite(final_test):
        outcome = "diverged"
    elif final_test >= EVENT_ACC:
        outcome = "generalises"
    elif late > RISE_TOL:
        outcome = "transitioning"
    elif final_train >= EVENT_ACC:
        outcome = "memorises"
    else:
        outcome = "neither"
    return {"memorisation_step": mem, "generalisation_step": gen,
            "delay": None if mem is None or gen is None else gen - mem,
            "outcome": outcome, "final_test_acc": final_test, "final_train_acc": final_train,
            "late_rise": late}


def late_rise(steps, train_acc, test_acc) -> float:
    """The larger rise of test or train accuracy over the last LATE_FRACTION of the run (from
    the first record at or after (1 - LATE_FRACTION) x the last step to the last record);
    NaN records (a diverged run's) are dropped first."""
    steps = np.asarray(steps)
    tr, te = np.asarray(train_acc, float), np.asarray(test_acc, float)
    keep = np.isfinite(tr) & np.isfinite(te)
    if keep.sum() < 2:
        return 0.0
    steps, tr, te = steps[keep], tr[keep], te[keep]
    i = int(np.searchsorted(steps, (1 - LATE_FRACTION) * steps[-1]))
    i = min(i, len(steps) - 2)
    return float(max(te[-1] - te[i], tr[-1] - tr[i]))


def resolve_variant(recipe: Li2Recipe, v) -> dict:
    """All settings of one variant (variant fields override the recipe's). "optimizer" and
    "activation" are the option objects (config); `settings_json` writes them as the
    recipe does."""
    pick = lambda name, default: default if getattr(v, name) is None else getattr(v, name)  # noqa: E731
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


def settings_json(s: dict) -> dict:
    """A variant's settings as JSON values (options as the recipe writes them: "adam")."""
    return {k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v)
            for k, v in s.items() if k != "name"}


def shape_key(s: dict) -> tuple:
    """What two variants must share to be trained in one vectorised batch (lr, weight decay
    and V-init scale may differ: they are per-run constants)."""
    return (s["group"], s["K"], s["n_train"], s["complex_weights"], s["optimizer"],
            s["activation"], s["n_residual"])


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


def analyse_variant(s: dict, ds, power, energy, diverged_at) -> dict:
    """Per-seed values of one variant's runs, each run's status ("ok" / "diverged") and
    diverged step (the update's index, None if it did not), and medians / fractions over the
    healthy runs only (a diverged run's records stop, its final state is its last finite
    one). ds: the variant's records (dims step, run); power: (R, K, L) final irrep power per
    node; energy: (R, K) final node energies; diverged_at: (R,)."""
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
        fin = g[np.isfinite(g)]
        if np.all(fin > 0) and np.sum(fin >= GF_FLOOR * fin.max(initial=0.0)) > 20:
            stages.append(loss_stages(steps, g, 3, floor=GF_FLOOR).boundaries)
        else:
            stages.append(None)
    conc = np.asarray(concentration(jnp.asarray(power)))               # (R,)
    trivial = np.asarray(trivial_power_share(jnp.asarray(power)))     # (R,)
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
    # the authors' Gram statistics at the last record (when the run recorded them): the ratio
    # of the mean |off-diagonal| to the mean |diagonal| entry of each Gram matrix, and the
    # distance of F F^T from a I + b 11^T, per seed (a diverged run's last finite record)
    authors = {}
    if "FtF_diag_avg" in ds:
        def last(var):
            cols = [c[np.isfinite(c)] for c in ds[var].values.T]
            return [float(c[-1]) if c.size else None for c in cols]
        ratio = lambda a, b: [x / y if x is not None and y else None  # noqa: E731
                              for x, y in zip(last(a), last(b))]
        authors = {"FtF_offdiag_over_diag": ratio("FtF_offdiag_avg", "FtF_diag_avg"),
                   "P1FFt_offdiag_over_diag": ratio("P1FFt_offdiag_avg", "P1FFt_diag_avg"),
                   "FFt_dist_ideal": last("FFt_dist_ideal")}
    return {
        **({"authors_gram": {k: finite_median(healthy(v)) for k, v in authors.items()}}
           if authors else {}),
        "settings": settings_json(s),
        "fraction_generalising": fraction("generalises"),
        "fraction_memorising": fraction("memorises"),
        "fraction_transitioning": fraction("transitioning"),
        "generalisation_step": finite_median([e["generalisation_step"] for e in h_events]),
        "memorisation_step": finite_median([e["memorisation_step"] for e in h_events]),
        "delay": finite_median([e["delay"] for e in h_events]),
        "final_test_acc": finite_median([e["final_test_acc"] for e in h_events]),
        "final_train_acc": finite_median([e["final_train_acc"] for e in h_events]),
        "concentrated_node_fraction": finite_median(healthy(list(conc))),
        "trivial_power_share": finite_median(healthy(list(trivial))),
        "energy_mean_generalising": finite_median(gen_energy),
        "energy_mean_memorising": finite_median(mem_energy),
        "stage_boundaries": (np.median([b for b in healthy(stages) if b], axis=0).tolist()
                             if any(healthy(stages)) else None),
        "n_diverged": int(np.sum(diverged_at >= 0)),
        "per_seed": {"status": status,
                     "diverged_at": [int(d) if d >= 0 else None for d in diverged_at],
                     "events": events, "stage_boundaries": stages,
                     "concentrated_node_fraction": conc.tolist(),
                     "trivial_power_share": trivial.tolist(),
                     "energy_mean": run_energy,
                     "gf_peak_step": peak_step("gf_norm"), "cos_W_peak_step": peak_step("cos_W"),
                     "cos_V_peak_step": peak_step("cos_V"),
                     "half_move_step_W": [_half_step(steps, ds.dist0_W.values[:, r])
                                          for r in range(ds.sizes["run"])],
                     "half_move_step_V": [_half_step(steps, ds.dist0_V.values[:, r])
                                          for r in range(ds.sizes["run"])],
                     "gf_growth": [_growth(ds.gf_norm.values[:, r]) for r in range(ds.sizes["run"])],
                     **authors},
    }
