"""Figures of the Li2 study: accuracy/loss curves with events and stages, ||G_F||, irrep
power of W per node over time, the final per-node spectrum, energy per node."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from learndyn.report.style import save, shade_stages  # noqa: E402
from learndyn.grokking.analysis import active_node_energies  # noqa: E402

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _x(ds):
    return ds.step.values + 1


def curves(records, summary, path: Path) -> Path:
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6), constrained_layout=True)
    for i, (name, ds) in enumerate(records.items()):
        c = COLORS[i % len(COLORS)]
        v = summary["variants"][name]
        axes[0].plot(_x(ds), np.nanmedian(ds.train_acc.values, 1), color=c, ls="--", lw=1)
        axes[0].plot(_x(ds), np.nanmedian(ds.test_acc.values, 1), color=c, lw=1.6, label=name)
        axes[1].plot(_x(ds), np.nanmedian(ds.train_loss.values, 1), color=c, ls="--", lw=1)
        axes[1].plot(_x(ds), np.nanmedian(ds.test_loss.values, 1), color=c, lw=1.6, label=name)
        axes[2].plot(_x(ds), np.nanmedian(ds.gf_norm.values, 1), color=c, lw=1.6, label=name)
        axes[3].plot(_x(ds), np.nanmedian(ds.restricted_loss.values, 1), color=c, lw=1.6)
        axes[3].plot(_x(ds), np.nanmedian(ds.excluded_loss.values, 1), color=c, lw=1, ls=":")
        for ax in axes[:2]:
            for key, ls in (("memorisation_step", ":"), ("generalisation_step", "-.")):
                if v[key] is not None:
                    ax.axvline(v[key] + 1, color=c, ls=ls, lw=0.8)
    titles = ["accuracy (dashed: train, solid: test)", "loss (dashed: train, solid: test)",
              "||G_F|| (Eq. 2)", "test CE: restricted (solid), excluded (dotted)"]
    for ax, t in zip(axes, titles):
        ax.set_xscale("log")
        ax.set_xlabel("epoch + 1")
        ax.set_title(t)
        ax.set_xlim(1, summary["epochs"] + 1)
        shade_stages(ax, summary.get("stage_boundaries"), offset=1)
    axes[1].set_yscale("log")
    axes[2].set_yscale("log")
    axes[3].set_yscale("log")
    axes[0].legend(frameon=False, fontsize=7)
    fig.suptitle("stages from ||G_F||: 1 lazy, 2 independent, 3 interactive feature learning; "
                 "dotted: memorisation, dash-dot: generalisation", fontsize=8)
    return save(fig, path / "curves")


def irrep_heatmap(records, path: Path) -> Path:
    name, ds = next(iter(records.items()))
    share = ds.irrep_share.values[:, 0, :]  # (step, irrep) of run 0
    nodes = ds.node_power.values[:, 0]      # (step, node, irrep)
    node_share = nodes / np.maximum(nodes.sum(-1, keepdims=True), 1e-30)
    final_top = np.argmax(node_share[-1], axis=-1)
    track = node_share[:, np.arange(len(final_top)), final_top]  # (step, node)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    x = _x(ds)
    im = axes[0].pcolormesh(x, np.arange(share.shape[1]), share.T, shading="nearest", cmap="magma")
    axes[0].set_ylabel("irrep (real; 0 = trivial)")
    axes[0].set_title(f"share of W's power per irrep ({name}, seed 0)")
    fig.colorbar(im, ax=axes[0])
    order = np.argsort(final_top)
    im = axes[1].pcolormesh(x, np.arange(track.shape[1]), track[:, order].T, shading="nearest",
                            cmap="viridis", vmin=0, vmax=1)
    axes[1].set_ylabel("tracked node (sorted by final irrep)")
    axes[1].set_title("share of each node's power in its final irrep")
    fig.colorbar(im, ax=axes[1])
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("epoch + 1")
    return save(fig, path / "irrep_power_over_time")


def spectrum(finals, path: Path) -> Path:
    names = list(finals)[:3]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.8), squeeze=False,
                             constrained_layout=True)
    for ax, name in zip(axes[0], names):
        p = finals[name]["power"][0]
        s = p / np.maximum(p.sum(-1, keepdims=True), 1e-30)
        order = np.lexsort((-s.max(-1), np.argmax(s, -1)))
        ax.imshow(s[order].T, aspect="auto", cmap="magma", interpolation="nearest",
                  vmin=0, vmax=1)
        ax.set_xlabel("hidden node (sorted by dominant irrep)")
        ax.set_ylabel("irrep")
        ax.set_title(f"final per-node spectrum: {name}")
    return save(fig, path / "final_spectrum")


def energy(finals, summary, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    groups = {"generalises": [], "memorises": [], "transitioning": [], "neither": []}
    for name, f in finals.items():
        ev = summary["variants"][name]["per_seed"]["events"]
        # active nodes only, as in the summary's energy_mean
        for e, run_energy in zip(ev, active_node_energies(f["power"], f["energy"])):
            if e["outcome"] in groups:
                groups[e["outcome"]].append(run_energy)
    data = [(k, np.concatenate(v)) for k, v in groups.items() if v]
    if data:
        ax.boxplot([d for _, d in data], showfliers=False)
        ax.set_xticks(range(1, len(data) + 1), [f"{k}\n({len(groups[k])} runs)" for k, _ in data])
    ax.set_ylabel("E(w) = ½‖Ỹᵀσ(Xw)‖² / n²  (Thm 1)\nunit-norm active nodes, n training pairs")
    ax.set_title("node energy: generalising vs memorising runs")
    return save(fig, path / "energy_per_node")


def draw_all(records, finals, summary, path: Path) -> dict[str, str]:
    """Every figure of the study: {name: file path}. records: {variant: its records (dims
    step, run)}; finals: {variant: {"power": (R, K, L), "energy": (R, K)}}."""
    paths = (curves(records, summary, path), irrep_heatmap(records, path),
             spectrum(finals, path), energy(finals, summary, path))
    return {Path(p).stem: str(p) for p in paths}
