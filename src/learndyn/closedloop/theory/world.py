"""The closed-loop theory study (Ger & Barak 2025, Figs. 3-5) in the shape of core.world.World.

Phases
1. ``train``: the rank-one agent (theory/rankone.py) of every seed, trained by SGD on the
   sampled loss of eq. (3) (a fresh batch of starts each update, the global gradient norm
   clipped), m frozen. Recorded: the overlaps s = (s_zm, s_zu, s_vm, s_vu), the exact
   expected loss of the full (N+2)-dimensional loop (eq. 14, computed on the full matrix P,
   no use of the reduction) and the vectors z, u, v (so that the analysis can compute
   eig(P) of the full matrix in float64, on any backend).
2. ``starts``: Fig. 3's stage-1 panel: models built with s_zm at `stage1.n_starts` values
   (theory/rankone.init_with_szm, one key: the first seed's), trained the same way for
   `stage1.epochs` epochs and recorded every epoch.
3. ``T3``, ``T5``, ...: Fig. 4's episode lengths: the main run's first `horizon.seeds` seeds,
   from the same initial weights and data keys, with T = each of `horizon.horizons`.
4. ``stage3``: Fig. 5: the first stabilised seed's state at its first stable epoch, trained
   on with each of `stage3.betas` (one run each, the seed's data key: the same batches).

Theories of stage 3: ``gb.free_overlaps`` (the paper's reduced model, GD on the overlaps as
free parameters) and ``gb.gram_flow`` (the exact induced flow on the Gram matrix), each fed
the batches the full model saw, predict its recorded expected loss.

Theory (core.theory): ``gb.reduced_loss`` predicts the recorded expected loss from the
recorded overlaps through the 4 x 4 P_eff (eq. 5). The reduction is exact, so its error is
float32 rounding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.closedloop.theory.config import GbTheoryRecipe
from learndyn.closedloop.theory.expected_loss import expected_loss, expected_loss_eff
from learndyn.closedloop.theory.gram_flow import clip_factor
from learndyn.closedloop.theory.overlaps import overlaps
from learndyn.closedloop.theory.rankone import (RankOne, init_rank_one, init_with_szm,
                                                sample_x0, theory_loss)
from learndyn.core.seeds import run_keys, seed_labels
from learndyn.core.theory import Theory
from learndyn.core.world import Phase

OBS_DIMS = {"overlaps": ("overlap",), "z": ("neuron",), "u": ("neuron",), "v": ("neuron",)}


def batch_x0(recipe: GbTheoryRecipe, key, t, dtype=jnp.float32):
    """The starts of update t of a run with data key `key` (batch, 2)."""
    tr = recipe.train
    return sample_x0(jax.random.fold_in(key, t), tr.batch, tr.x0_range, dtype)


def consts_of(keys, beta) -> dict:
    """A phase's per-run constants: each run's data key and control weight beta."""
    keys = jnp.asarray(keys)
    return {"key": keys, "beta": jnp.broadcast_to(jnp.asarray(beta, jnp.float32),
                                                  (keys.shape[0],))}


def make_step(recipe: GbTheoryRecipe):
    """step(p, t, consts) -> (p', loss): one SGD update on a fresh batch of starts drawn
    from fold_in(data key, t); m gets no update; the gradient of (z, u, v) is clipped by its
    global norm (optax.clip_by_global_norm's rule, as gram_flow.clip_factor)."""
    tr = recipe.train

    def step(p: RankOne, t, consts):
        x0 = batch_x0(recipe, consts["key"], t, p.z.dtype)
        loss, g = jax.value_and_grad(theory_loss)(p, x0, tr.horizon, consts["beta"])
        g = g._replace(m=jnp.zeros_like(g.m))
        kappa = clip_factor(jnp.sqrt(sum(jnp.sum(gi ** 2) for gi in g)), tr.clip)
        return jax.tree.map(lambda w, gw: w - (tr.lr * kappa) * gw, p, g), loss
    return step


def make_observe(recipe: GbTheoryRecipe):
    tr = recipe.train

    def observe(p: RankOne, consts):
        return {"overlaps": overlaps(p),
                "loss": expected_loss(p, tr.horizon, consts["beta"], tr.x0_range),
                "z": p.z, "u": p.u, "v": p.v}
    return observe


def _keys(recipe: GbTheoryRecipe):
    """(init keys, data keys) of every seed, each (seeds, 2): the run key of seed k split."""
    ks = jax.vmap(lambda k: jax.random.split(k, 2))(run_keys(recipe.seed, recipe.seeds))
    return ks[:, 0], ks[:, 1]


def stage3_start(train) -> tuple[int, int, bool]:
    """(run, record index, stable) stage 3 starts from: the first healthy seed that
    stabilised, at its first stable epoch; when none did, the first healthy seed's last
    record (stable False: the summary says so); with no healthy seed, run 0's first."""
    from learndyn.closedloop.theory.analysis import first_stable, spectral_radius_eff
    steps = train.records.step.values
    rho = spectral_radius_eff(train.records.overlaps.values.astype(float))
    ok = [r for r, st in enumerate(train.status) if st == "ok"]
    for r in ok:
        fs = first_stable(steps, rho[:, r])
        if fs is not None:
            return r, int(np.nonzero(steps == fs)[0][0]), True
    return (ok[0], len(steps) - 1, False) if ok else (0, 0, False)


def horizon_phase(T: int) -> str:
    return f"T{T}"


def start_values(recipe: GbTheoryRecipe) -> np.ndarray:
    lo, hi = recipe.stage1.starts
    return np.linspace(lo, hi, recipe.stage1.n_starts)


def _phase(recipe, name, state0, consts, epochs, coords, label, schedule=None) -> Phase:
    steps = (schedule.steps(epochs) if schedule is not None
             else np.arange(epochs + 1, dtype=np.int64))
    return Phase(name=name, step=make_step(recipe), observe=make_observe(recipe),
                 state0=state0, consts=consts, record_steps=steps, obs_dims=OBS_DIMS,
                 run_coords=coords, diverge_factor=recipe.train.diverge_factor, label=label)


def _predict_reduced(recipe: GbTheoryRecipe, result, consts) -> dict:
    """The expected loss from the recorded overlaps through P_eff (4 x 4)."""
    tr = recipe.train
    s = jnp.asarray(result.records.overlaps.values, jnp.float32)      # (step, run, 4)
    f = jax.vmap(jax.vmap(lambda x: expected_loss_eff(x, tr.horizon, tr.beta, tr.x0_range)))
    return {"loss": np.asarray(f(s))}


def _predict_stage3(recipe: GbTheoryRecipe, model: str, result, consts) -> dict:
    """The expected loss at the record steps of the stage-3 runs, by the paper's free-overlap
    model ("free": SGD on s with the loss of P_eff(s), its own gradient clipped) or by the
    exact induced flow ("gram": eq. 16 on G = X^T X, the full model's clipping), each fed
    the very batches the full model was trained on (batch_x0 with each run's key). One
    compiled program for every run (vmapped over the runs' starts, keys and betas)."""
    from learndyn.closedloop.theory.gram_flow import (free_overlap_gd, gram_gd, gram_of,
                                                      overlaps_from_gram)
    from learndyn.closedloop.theory.overlaps import eff_readout, p_eff
    from learndyn.closedloop.theory.rankone import loop_loss
    tr = recipe.train
    rec = result.records
    steps = jnp.asarray(rec.step.values)
    n = int(rec.step.values[-1])
    p0 = RankOne(m=jnp.asarray(result.state.m, jnp.float32),
                 z=jnp.asarray(rec.z.values[0]), u=jnp.asarray(rec.u.values[0]),
                 v=jnp.asarray(rec.v.values[0]))

    def one(p, key, beta):
        xs = jax.vmap(lambda t: batch_x0(recipe, key, t))(jnp.arange(n))

        def F(s, x):
            return loop_loss(p_eff(s), eff_readout(s), x, tr.horizon, beta)
        if model == "gram":
            hist, _ = gram_gd(gram_of(p), F, n, tr.lr, tr.clip, xs)
            ss = jax.vmap(overlaps_from_gram)(hist)
        else:
            ss, _ = free_overlap_gd(overlaps(p), F, n, tr.lr, tr.clip, xs)
        return jax.vmap(lambda x: expected_loss_eff(x, tr.horizon, beta, tr.x0_range))(ss[steps])
    out = jax.jit(jax.vmap(one))(p0, jnp.asarray(consts["key"]), jnp.asarray(consts["beta"]))
    return {"loss": np.asarray(out).T}


class GbTheoryWorld:
    """The rank-one theory model of Ger & Barak 2025 and its reductions."""

    study = "gb_theory"
    papers = ("ger-barak-2025",)
    schema = GbTheoryRecipe

    def phases(self, recipe: GbTheoryRecipe):
        init_keys, data_keys = _keys(recipe)
        p0 = jax.vmap(lambda k: init_rank_one(k, recipe.N))(init_keys)
        beta = recipe.train.beta
        train = yield _phase(recipe, "train", p0, consts_of(data_keys, beta),
                             recipe.train.epochs,
                             {"seed": seed_labels(recipe.seed, recipe.seeds)}, "rank one",
                             recipe.record)
        s = start_values(recipe)
        k0 = init_keys[0]
        ps = jax.vmap(lambda x: init_with_szm(k0, recipe.N, x))(jnp.asarray(s, jnp.float32))
        dk = jnp.broadcast_to(data_keys[0], (len(s), 2))
        yield _phase(recipe, "starts", ps, consts_of(dk, beta), recipe.stage1.epochs,
                     {"start": s}, "stage-1 starts")
        n = min(recipe.horizon.seeds, recipe.seeds)
        for T in recipe.horizon.horizons:
            sub = recipe.model_copy(update={"train": recipe.train.model_copy(
                update={"horizon": T})})
            ph = _phase(sub, horizon_phase(T), jax.tree.map(lambda x: x[:n], p0),
                        consts_of(data_keys[:n], beta), recipe.train.epochs,
                        {"seed": seed_labels(recipe.seed, n)}, f"T = {T}", recipe.record)
            yield ph
        r, i, _ = stage3_start(train)
        # stage 3 always runs (from the last record when nothing stabilised: the summary's
        # stage3.from_stable says which)
        rec = train.records
        pz = RankOne(m=train.state.m[r], z=jnp.asarray(rec.z.values[i, r]),
                     u=jnp.asarray(rec.u.values[i, r]), v=jnp.asarray(rec.v.values[i, r]))
        nb = len(recipe.stage3.betas)
        yield _phase(recipe, "stage3", jax.tree.map(lambda x: jnp.stack([x] * nb), pz),
                     {"key": jnp.stack([data_keys[r]] * nb),
                      "beta": jnp.asarray(recipe.stage3.betas, jnp.float32)},
                     recipe.stage3.epochs, {"beta": np.asarray(recipe.stage3.betas)},
                     "stage 3", recipe.record)

    def analyse(self, recipe: GbTheoryRecipe, results: dict) -> dict:
        from learndyn.closedloop.theory.analysis import summarise
        return summarise(recipe, results)

    def theories(self, recipe: GbTheoryRecipe) -> list:
        from functools import partial
        return [Theory("gb.reduced_loss", "train", ("loss",), "closed_form",
                       partial(_predict_reduced, recipe),
                       "expected loss through the 4 x 4 P_eff of the overlaps"),
                Theory("gb.free_overlaps", "stage3", ("loss",), "reduced",
                       partial(_predict_stage3, recipe, "free"),
                       "the paper's model: GD on four free overlaps, same batches"),
                Theory("gb.gram_flow", "stage3", ("loss",), "reduced",
                       partial(_predict_stage3, recipe, "gram"),
                       "the exact induced flow on the Gram matrix, same batches")]

    def stages(self, summary: dict) -> dict:
        """The paper's stages (analysis.spectral_stages) of the first healthy seed: stage 1
        until stage2.start_epoch, stage 2 until the first stable epoch, then stage 3."""
        st = summary.get("stage2", {}).get("per_seed", {}).get("stages")
        return {"train": st[0]} if st else {}

    def figures(self, recipe: GbTheoryRecipe, results: dict, summary: dict, folder) -> dict:
        from learndyn.closedloop.theory.figures import draw_all
        return draw_all(recipe, results, summary, folder)

    def claims(self):
        from learndyn.closedloop.theory.claims import CLAIMS
        return CLAIMS

    def table(self, summary: dict) -> list:
        """Rows (label, value) for `learndyn show`."""
        def fmt(v):
            return "n/a" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
        red, s1 = summary["reduction"], summary["stage1"]
        out = [("quantity", ["value"]),
                ("max |roots(P_eff) - eig(P)| (float64)", [fmt(red["max_root_error"])]),
                ("first stable epoch (median)", [fmt(summary["first_stable_epoch"])]),
                ("stage-1 s_zm settles at (median)", [fmt(s1["settle_value_median"])]),
                ("stage-1 settle epoch (max)", [fmt(s1["settle_epoch_max"])]),
                ("eq. 9 max |log error|", [fmt(s1["paper_formula"]["max_abs_log_error"])]),
                ("eq. 8 max |log error|", [fmt(s1["exact_formula"]["max_abs_log_error"])])]
        st2 = summary.get("stage2")
        if st2:
            per = st2["per_seed"]
            e3 = [x[1] for x in per["lambda3_error"] if x[1] is not None]
            cos = [x for x in per["cos_median"] if x is not None]
            out += [("stage 2: max |eq. 10 - lambda_3|", [fmt(max(e3) if e3 else None)]),
                    ("stage 2: median cos(grads) (max)", [fmt(max(cos) if cos else None)])]
            for a in st2["surrogate"]["alphas"]:
                out.append((f"L_alpha, alpha {a['alpha']:g}: min / end radius",
                            [f"{a['min_radius']:.4f} / {a['final_radius']:.4f}"]))
        for h in summary.get("horizons", {}).get("runs", []):
            out.append((f"T = {h['T']}: first stable epoch",
                        [", ".join("never" if f is None else str(f)
                                   for f in h["first_stable_epoch"])]))
        return out


WORLD = GbTheoryWorld()
