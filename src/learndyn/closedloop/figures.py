"""Figures of the closed- vs open-loop study: loss curves with stage shading, eigenvalue
paths of P on the complex plane, gain paths over the gain-plane loss map."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from learndyn.report.style import MODE_COLORS, save, shade_stages  # noqa: E402


def loss_curves(results, summary, path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for ax, var, title in [(axes[0], "deployed_loss", "deployed (closed-loop) loss"),
                           (axes[1], "loss", "training objective")]:
        for mode, res in results.items():
            ds = res.records
            x = ds.step.values + 1
            y = ds[var].values
            if not np.isfinite(y).any():          # every run diverged at once
                ax.text(0.5, 0.5 - 0.08 * list(results).index(mode),
                        f"{mode} loop: no healthy run (all diverged)", ha="center",
                        transform=ax.transAxes, color=MODE_COLORS[mode])
                continue
            with warnings.catch_warnings():       # steps where every run has diverged: NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(y, axis=1)
                lo, hi = np.nanpercentile(y, [25, 75], axis=1)
            ax.plot(x, med, color=MODE_COLORS[mode], lw=1.8,
                    label=f"{mode} loop" + (" (median)" if y.shape[1] > 1 else ""))
            if y.shape[1] > 1:
                ax.fill_between(x, lo, hi, color=MODE_COLORS[mode], alpha=0.2, lw=0)
            fs = summary[mode].get("first_stable_step")
            if fs is not None:
                ax.axvline(fs + 1, color=MODE_COLORS[mode], ls=":", lw=1)
        if var == "deployed_loss" and summary.get("authors"):
            # the authors' saved run (checkpoint e after e updates), dashed
            from learndyn.closedloop.authors import authors_run
            theirs = authors_run()
            for mode in results:
                y = np.asarray(theirs[mode]["test_loss"])
                ax.plot(np.arange(len(y)) + 1, y, color=MODE_COLORS[mode], lw=1.0, ls="--",
                        label=f"{mode} loop, authors' saved run")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(1, max(r.records.step.values[-1] for r in results.values()) + 1)
        shade_stages(ax, summary.get("stage_boundaries"), offset=1)
        ax.set_xlabel("epoch + 1")
        ax.set_title(title)
    axes[0].legend(frameon=False, fontsize=8)
    return save(fig, path / "loss_curves")


def eigen_paths(results, path: Path, n_show: int = 4, run: int = 0) -> Path:
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4), squeeze=False,
                             constrained_layout=True)
    th = np.linspace(0, 2 * np.pi, 400)
    for ax, (mode, res) in zip(axes[0], results.items()):
        ev = res.records.eig.values[:, run, :n_show]  # (step, n_show)
        steps = res.records.step.values
        c = np.log10(steps + 1)
        ax.plot(np.cos(th), np.sin(th), color="0.3", lw=0.8)
        for j in range(ev.shape[1]):
            sc = ax.scatter(ev[:, j].real, ev[:, j].imag, c=c, s=6, cmap="viridis")
            ax.scatter(np.conj(ev[:, j]).real, np.conj(ev[:, j]).imag, c=c, s=2,
                       cmap="viridis", alpha=0.3)
        ax.set_aspect("equal")
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
        ax.set_title(f"eig(P), {mode} loop (seed {run})")
        lim = max(1.3, float(np.nanmax(np.abs(ev))) * 1.05) if np.isfinite(ev).any() else 1.3
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    fig.colorbar(sc, ax=axes[0].tolist(), label="log10(epoch + 1)", shrink=0.8)
    return save(fig, path / "eigenvalue_paths")


def gain_paths(results, gm: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.8, 4.6), constrained_layout=True)
    K1, K2 = np.meshgrid(gm["k1"], gm["k2"])
    L = np.log10(np.where(np.isfinite(gm["loss"]), gm["loss"], np.nan))
    L = np.clip(L, np.nanmin(L), np.nanmin(L) + 6)
    im = ax.pcolormesh(K1, K2, L, cmap="Greys", shading="auto")
    fig.colorbar(im, ax=ax, label="log10 loss of u = k1 x1 + k2 x2")
    ax.contour(K1, K2, gm["region"], levels=[0.5, 1.5], colors=["tab:green", "tab:red"],
               linewidths=1)
    ax.axvline(0, color="tab:red", lw=0.6, ls="--")
    ax.plot(gm["k1"], gm["k1"], color="tab:red", lw=0.6, ls="--")
    for mode, res in results.items():
        g = res.records.gains.values[:, :, 0, :]
        for r in range(min(g.shape[1], 10)):
            ax.plot(g[:, r, 0], g[:, r, 1], color=MODE_COLORS[mode], lw=1.2 if r == 0 else 0.5,
                    alpha=1 if r == 0 else 0.4, label=f"{mode} loop" if r == 0 else None)
            ax.plot(g[-1, r, 0], g[-1, r, 1], "o", color=MODE_COLORS[mode], ms=3)
    ax.text(0.02, 0.02, "stable: inside green;  k1 = 0 and k2 = k1 (dashed)", fontsize=7,
            transform=ax.transAxes)
    ax.set_xlim(gm["k1"][0], gm["k1"][-1])
    ax.set_ylim(gm["k2"][0], gm["k2"][-1])
    ax.set_xlabel("k1 (position gain)")
    ax.set_ylabel("k2 (velocity gain)")
    ax.legend(frameon=True, fontsize=8, loc="lower right")
    ax.set_title("effective gains over the gain-plane loss map")
    return save(fig, path / "gain_paths")


def fig6(results, summary, path: Path, run: int = 0) -> Path:
    """Ger & Barak Fig. 6: the staircase (deployed loss, closed and open loop), each
    frequency's probe loss with its drop epoch, W's eigenvalues as continuous-time rates
    against the lines 2 pi f, and the open-loop student's per-frequency losses."""
    freqs = summary["frequencies"]
    cols = plt.cm.plasma(np.linspace(0, 0.85, len(freqs)))
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.9), constrained_layout=True)
    ax = axes[0]
    for mode, res in results.items():
        ds = res.records
        ax.plot(ds.step.values + 1, ds.deployed_loss.values[:, run], color=MODE_COLORS[mode],
                lw=1.6, label=f"{mode} loop")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("deployed tracking loss")
    ax.set_title("(a) the staircase")
    ax.legend(fontsize=7, frameon=False)
    for ax, mode, title in ((axes[1], "closed", "(b) closed loop: probe loss per frequency"),
                            (axes[3], "open", "(d) open-loop student: probe losses")):
        if mode not in results:
            ax.set_visible(False)
            continue
        ds = results[mode].records
        drops = summary[mode]["per_seed"]["probe_drop_step"][run]
        for j, (c, f) in enumerate(zip(cols, freqs)):
            ax.plot(ds.step.values + 1, ds.probe_loss.values[:, run, j], color=c, lw=1.4,
                    label=f"{f:g} Hz" + ("" if drops[j] is None else f": drop {drops[j]}"))
            if drops[j] is not None:
                ax.axvline(drops[j] + 1, color=c, lw=0.7, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epoch + 1")
        ax.set_ylabel("probe loss")
        ax.set_title(title)
        ax.legend(fontsize=7, frameon=False)
    ax = axes[2]
    ds = results["closed"].records
    rates = ds.w_rates.values[-1, run]
    ax.scatter(rates.real, rates.imag, s=8, color="k", zorder=3)
    for c, f in zip(cols, freqs):
        for sgn in (1, -1):
            ax.axhline(sgn * 2 * np.pi * f, color=c, lw=0.8, ls="--")
    ax.set_xlabel("Re (1/s)")
    ax.set_ylabel("Im (rad/s)")
    ax.set_title(f"(c) eig(-I + W) / tau at epoch {int(ds.step.values[-1])}")
    fig.suptitle("Ger & Barak Fig. 6: motor tracking")
    return save(fig, path / "fig6")


def draw_all(results, summary, gm, path: Path) -> dict[str, str]:
    """{figure name: file} of the study's figures (the gain paths only with a gain map;
    fig6 for a tracking task)."""
    out = {"loss": loss_curves(results, summary, path), "eigen": eigen_paths(results, path)}
    if gm is not None and "gains" in next(iter(results.values())).records:
        out["gains"] = gain_paths(results, gm, path)
    if summary.get("frequencies") and "w_rates" in results["closed"].records:
        out["fig6"] = fig6(results, summary, path)
    return {k: str(p) for k, p in out.items()}
