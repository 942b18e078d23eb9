"""The closed-loop world's summary: per-phase scalars (stages, first stable step, gains,
peaks), comparisons over seeds, and where the gains go in the gain plane.

``summarise(recipe, results, plant, task)`` is ClosedLoopWorld.analyse; it reads each
phase's records and diverged steps only (core.trainer.RunResult).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.closedloop.analysis import OSC_UNSTABLE, REGION_NAMES, region_of
from learndyn.core.spectra import first_stable_step
from learndyn.core.stages import loss_stages
from learndyn.core.summaries import finite_median, quartiles

# An open-loop peak counts as "above the initial loss" only if it exceeds it by 10 %: the
# evaluation batch is fixed, so smaller excursions would be real but are not what the paper
# means by a transient rise "far above" the initial value.
PEAK_MARGIN = 1.10


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
    if "probe_loss" in ds:
        per["probe_drop_step"] = [probe_drops(steps, ds.probe_loss.values[:, r])
                                  for r in range(n_runs)]
        per["probe_rise"] = [probe_rises(ds.probe_loss.values[:, r], steps, d)
                             for r, d in enumerate(per["probe_drop_step"])]
    if "w_rates" in ds:
        # the imaginary parts (rad/s) of W's continuous-time rates at the last record
        per["w_rates_final"] = [np.imag(ds.w_rates.values[-1, r]).tolist()
                                for r in range(n_runs)]
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
    if "probe_drop_step" in per:
        drops = [d for d, st in zip(per["probe_drop_step"], status) if st == "ok"]
        # per frequency, the median over the healthy seeds whose probe fell (None: none did)
        cols = list(zip(*drops)) if drops else []
        summary["probe_drop_step"] = [finite_median([x for x in c if x is not None])
                                      for c in cols] or None
    return summary


# A frequency is learned (its stair drops) when its probe loss ends at most 1 / MIN_DROP of
# where it started: the paper's stairs fall by an order of magnitude, while a frequency not
# yet learned moves by a few per cent (smoke: 0.4 Hz from 0.230 to 0.228).
MIN_DROP = 2.0


def probe_drops(steps, losses) -> list:
    """Per frequency (losses: (step, freq)), the step at which its probe loss first falls
    half-way, on a log scale, from its initial to its final value: the drop of that
    frequency's stair (None: it fell by less than MIN_DROP, or is not finite)."""
    out = []
    for j in range(losses.shape[1]):
        L = losses[:, j]
        if not (np.isfinite(L[0]) and np.isfinite(L[-1])) or L[-1] * MIN_DROP > L[0]:
            out.append(None)
            continue
        half = np.exp(0.5 * (np.log(L[0]) + np.log(L[-1])))
        below = np.nonzero(L <= half)[0]
        out.append(int(steps[below[0]]) if len(below) else None)
    return out


def summarise(recipe, results: dict, plant, task) -> dict:
    """The summary of the trained phases {"closed": RunResult, "open": RunResult}."""
    summary = {"recipe": recipe.name, "paper": recipe.paper, "seeds": recipe.seeds,
               "seed": recipe.seed, "epochs": {m: int(r.records.step.values[-1])
                                               for m, r in results.items()}}
    for mode, res in results.items():
        summary[mode] = analyse_mode(res.records, res.diverged_at,
                                     recipe.n_stages if mode == "closed" else None)
    summary["stage_boundaries"] = summary["closed"]["stage_boundaries"]
    if hasattr(task, "frequencies"):
        summary["frequencies"] = [float(f) for f in task.frequencies]   # of probe_loss's "freq"
        if "open" in results:
            summary["open"]["per_seed"]["above_closed_fraction"] = above_closed(
                results["closed"].records, results["open"].records)
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

    if has_gain_plane(recipe, plant):
        summary["gain_regions"] = gain_path_regions(results, plant, task)
    if recipe.authors_run:
        from learndyn.closedloop.authors import side_by_side
        summary["authors"] = side_by_side(
            recipe, results, {m: summary[m]["per_seed"]["status"] for m in results})
    return summary


def has_gain_plane(recipe, plant) -> bool:
    """Whether the recipe's policies live in a 2-D gain plane (a regulated plant with two
    states and one control): then the gain map and the gain paths are drawn."""
    return plant.nx == 2 and plant.nu == 1 and recipe.task.type == "regulation"


def gain_path_regions(results, plant, task) -> dict:
    """Where each mode's effective gains go in the gain plane: the fraction of recorded steps
    in each region (all seeds), the fraction of seeds that ever enter the oscillatory-unstable
    region, and per seed the largest spectral radius of A + B K reached inside it (how deep
    the path goes: 1 is the boundary)."""
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


def probe_rises(losses, steps, drops) -> list:
    """Per frequency: the largest ratio of its probe loss to its running minimum before its
    own drop (the whole run when it never drops): a transient rise while other frequencies
    are learned."""
    out = []
    for j in range(losses.shape[1]):
        L = losses[:, j]
        end = len(L) if drops[j] is None else int(np.searchsorted(steps, drops[j]))
        L = L[:max(end, 1)]
        L = L[np.isfinite(L)]
        out.append(float(np.max(L / np.minimum.accumulate(L))) if len(L) else 1.0)
    return out


def above_closed(closed, opened, after: int = 10) -> list:
    """Per seed, the fraction of the records after epoch `after` (those both phases share)
    at which the open-loop student's deployed loss is above the closed-loop network's."""
    cs, os_ = closed.step.values, opened.step.values
    common = np.intersect1d(cs[cs > after], os_)
    ci, oi = np.searchsorted(cs, common), np.searchsorted(os_, common)
    c, o = closed.deployed_loss.values[ci], opened.deployed_loss.values[oi]
    out = []
    for r in range(c.shape[1]):
        ok = np.isfinite(c[:, r]) & np.isfinite(o[:, r])
        out.append(float(np.mean(o[ok, r] > c[ok, r])) if ok.any() else None)
    return out
