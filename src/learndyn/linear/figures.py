"""Figures of the deep linear world: strengths against theory, the loss staircase, depths."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from learndyn.linear import theory
from learndyn.linear.world import phase_name
from learndyn.report.style import plt, save, shade_stages


def _first_healthy(per) -> int:
    return next((i for i, st in enumerate(per["status"]) if st == "ok"), 0)


def strengths_figure(recipe, depth, records, ph, stem: Path) -> Path:
    """Each mode's strength a_i (one seed, solid) and the theory (dashed: the closed form
    for D = 2, the balanced ODE for deeper), against updates."""
    r = _first_healthy(ph["per_seed"])
    steps = records.step.values
    a = records.strength.values[:, r]
    s = np.asarray(ph["s"])
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(s)))
    if recipe.init.type == "balanced":
        pred = theory.strength_ode(recipe.lr * steps.astype(float), s, recipe.init.a0, depth)
    for i, si in enumerate(s):
        ax.plot(steps, a[:, i], color=colors[i], lw=1.6, label=f"s = {si:g}")
        if recipe.init.type == "balanced":
            ax.plot(steps, pred[:, i], color="k", lw=0.8, ls="--")
    ax.set_xlabel("update")
    ax.set_ylabel("mode strength $u_i^T W v_i$")
    ax.set_title(f"depth {depth}: GD (solid) vs exact theory (dashed), seed "
                 f"{int(records.seed.values[r]) if 'seed' in records.coords else r}")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return save(fig, stem)


def loss_figure(recipe, depth, records, ph, stem: Path) -> Path:
    """The loss (one seed) on log-log axes, its fitted stages shaded, the staircase's
    plateau levels (dotted) and the theory's half times (vertical lines)."""
    per = ph["per_seed"]
    r = _first_healthy(per)
    steps = records.step.values
    loss = records.loss.values[:, r]
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    ok = np.isfinite(loss) & (loss > 0)
    ax.loglog(steps[ok] + 1, loss[ok], color="tab:blue", lw=1.6, label="loss")
    for lvl in ph["theory"].get("plateau_losses", [])[:-1]:
        ax.axhline(lvl, color="0.4", lw=0.7, ls=":")
    for t in ph["theory"].get("t_half", []):
        ax.axvline(t + 1, color="tab:red", lw=0.7, alpha=0.7)
    if per["stage_boundaries"][r]:
        shade_stages(ax, per["stage_boundaries"][r], offset=1.0)
    ax.set_xlabel("update + 1")
    ax.set_ylabel("loss")
    ax.set_title(f"depth {depth}: loss staircase (dotted: plateaus; red: theory $t_{{1/2}}$)")
    fig.tight_layout()
    return save(fig, stem)


def depth_figure(recipe, results, summary, stem: Path) -> Path:
    """Left: the strongest mode's a / s at each depth (one seed; dashed: theory). Right:
    t_half and rise / half of each mode against depth, measured (markers, median) and
    theory (lines)."""
    cmp_ = summary["depth_comparison"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(8.4, 3.3))
    s = recipe.teacher.values()
    colors = plt.cm.plasma(np.linspace(0, 0.8, len(cmp_["depths"])))
    for name, d, c in zip(cmp_["phases"], cmp_["depths"], colors):
        rec = results[name].records
        per = summary["phases"][name]["per_seed"]
        r = _first_healthy(per)
        steps = rec.step.values
        ax.plot(steps, rec.strength.values[:, r, 0] / s[0], color=c, lw=1.6, label=f"D = {d}")
        if recipe.init.type == "balanced":
            pred = theory.strength_ode(recipe.lr * steps.astype(float), s[:1], recipe.init.a0, d)
            ax.plot(steps, pred[:, 0] / s[0], color="k", lw=0.7, ls="--")
    ax.set_xlabel("update")
    ax.set_ylabel(f"$a_1 / s_1$ (s = {s[0]:g})")
    ax.legend(fontsize=7, frameon=False)
    depths = cmp_["depths"]
    for i in range(len(s)):
        col = plt.cm.viridis(0.9 * i / max(1, len(s) - 1))
        meas = [row[i] if row else None for row in cmp_["t_half"]]
        th = [row[i] if row else None for row in cmp_["theory_t_half"]]
        bx.plot(depths, [np.nan if v is None else v for v in meas], "o", color=col,
                label=f"s = {s[i]:g}")
        bx.plot(depths, [np.nan if v is None else v for v in th], "-", color=col, lw=0.8)
    bx.set_yscale("log")
    bx.set_xlabel("depth D (weight layers)")
    bx.set_ylabel("$t_{1/2}$ (updates)")
    bx.set_xticks(depths)
    q = [row[0] if row else None for row in cmp_["rise_over_half"]]
    bx.set_title("rise/half of mode 1: " + ", ".join("n/a" if v is None else f"{v:.3f}"
                                                     for v in q), fontsize=8)
    bx.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return save(fig, stem)


def draw_all(recipe, results, summary, folder) -> dict:
    """Every figure of a recipe into `folder`: {name: PNG path}."""
    folder = Path(folder)
    out = {}
    for depth in recipe.depth_list():
        name = phase_name(recipe, depth)
        rec, ph = results[name].records, summary["phases"][name]
        suffix = "" if name == "train" else f"_{name}"
        out[f"strengths{suffix}"] = str(strengths_figure(recipe, depth, rec, ph,
                                                         folder / f"strengths{suffix}"))
        out[f"loss{suffix}"] = str(loss_figure(recipe, depth, rec, ph, folder / f"loss{suffix}"))
    if "depth_comparison" in summary:
        out["depth"] = str(depth_figure(recipe, results, summary, folder / "depth"))
    return out
