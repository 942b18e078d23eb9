"""Figures of the closed-loop theory study: fig3 (stage 1 of the rank-one model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from learndyn.closedloop.theory.analysis import (cubic_np, full_matrix_np, lambda1_sq_np,
                                                 lambda3_approx_np, split_roots_np)
from learndyn.report.style import plt, save, shade_stages

OVERLAP_NAMES = ("$s_{zm}$", "$s_{zu}$", "$s_{vm}$", "$s_{vu}$")


def _first_healthy(status) -> int:
    return next((i for i, st in enumerate(status) if st == "ok"), 0)


def stage1_end(summary: dict, run: int) -> int | None:
    """The epoch stage 1 ends in run `run`: its loss's first stage boundary."""
    b = summary["per_seed"]["stage_boundaries"][run]
    return int(b[0]) if b else None


def model_at(res, m: np.ndarray, epoch: int, run: int):
    """(P (N+2, N+2) float64, the record's step) of run `run` at the record nearest `epoch`."""
    steps = res.records.step.values
    i = int(np.argmin(np.abs(steps - epoch)))
    z, u, v = (np.asarray(res.records[k].values[i, run], float) for k in ("z", "u", "v"))
    return full_matrix_np(m, z, u, v), int(steps[i])


def fig3(recipe, results: dict, summary: dict, path: Path) -> Path:
    s1 = summary["stage1"]
    res = results["train"]
    run = _first_healthy(summary["per_seed"]["status"])
    m = np.asarray(res.state.m, float)[run]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.4), constrained_layout=True)

    ax = axes[0, 0]
    g = np.asarray(s1["s_zm"])
    ax.semilogy(g, s1["simulated"], "o", ms=3, color="k", label="rollouts of built models")
    ax.semilogy(g, s1["paper"], color="tab:red", lw=1.4,
                label=f"eq. 9 (paper), max |Δ ln L| {s1['paper_formula']['max_abs_log_error']:.2g}")
    ax.semilogy(g, s1["exact"], color="tab:blue", lw=1.0, ls="--",
                label=f"eq. 8 (exact, W = 0), max {s1['exact_formula']['max_abs_log_error']:.2g}")
    ax.set_xlabel("$s_{zm}$")
    ax.set_ylabel(f"loss over {recipe.stage1.horizon} steps")
    ax.set_title("(a) stage 1: loss of a position policy")
    ax.legend(fontsize=7, frameon=False)

    ax = axes[0, 1]
    st = results["starts"].records
    szm = st.overlaps.values[:, :, 0]
    cols = plt.cm.coolwarm(np.linspace(0, 1, szm.shape[1]))
    for r in range(szm.shape[1]):
        ax.plot(st.step.values, szm[:, r], color=cols[r], lw=1.2)
    ax.axhline(0, color="0.4", lw=0.6, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("$s_{zm}$")
    ax.set_title(f"(b) $s_{{zm}}$ from {szm.shape[1]} starts")

    ax = axes[0, 2]
    steps = res.records.step.values
    loss = res.records.loss.values[:, run]
    ok = np.isfinite(loss) & (loss > 0)
    ax.loglog(steps[ok] + 1, loss[ok], color="tab:blue", lw=1.5, label="expected loss")
    b = summary["per_seed"]["stage_boundaries"][run]
    if b:
        shade_stages(ax, b, offset=1.0)
    fs = summary["per_seed"]["first_stable_epoch"][run]
    if fs is not None:
        ax.axvline(fs + 1, color="tab:green", lw=1, ls="--", label=f"first stable {fs}")
    ax.set_xlabel("epoch + 1")
    ax.set_ylabel("expected loss")
    ax.set_title(f"(c) rank-one model, seed {int(res.records.seed.values[run])}")
    ax.legend(fontsize=7, frameon=False)

    ax = axes[1, 0]
    s = res.records.overlaps.values[:, run]
    for j in range(4):
        ax.plot(steps, s[:, j], lw=1.3, label=OVERLAP_NAMES[j])
    ax.axhline(0, color="0.4", lw=0.6, ls=":")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, steps[-1])
    ax.set_xlabel("epoch")
    ax.set_ylabel("overlap")
    ax.set_title("(d) the four overlaps")
    ax.legend(fontsize=7, frameon=False, ncol=2)

    end = stage1_end(summary, run)
    ax = axes[1, 1]
    th = np.linspace(0, 2 * np.pi, 300)
    ax.plot(np.cos(th), np.sin(th), color="0.3", lw=0.8)
    if end is not None:
        P, at = model_at(res, m, end, run)
        ev = np.linalg.eigvals(P)
        big = np.abs(ev) > 1e-6
        ax.scatter(ev[big].real, ev[big].imag, s=18, color="tab:purple", zorder=3)
        ax.set_title(f"(e) eig(P) at the stage-1 end (epoch {at})")
    ax.set_aspect("equal")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")

    ax = axes[1, 2]
    if end is not None:
        x = np.zeros(P.shape[0])
        x[:2] = recipe.stage1.x0
        traj = []
        for _ in range(recipe.train.horizon):
            traj.append(x[:2].copy())
            x = P @ x
        traj = np.array(traj)
        ax.plot(traj[:, 0], lw=1.4, label="position")
        ax.plot(traj[:, 1], lw=1.0, label="velocity")
        ax.set_title(f"(f) a trajectory at epoch {at}")
        ax.legend(fontsize=7, frameon=False)
    ax.set_xlabel("step t")
    ax.set_ylabel("state")
    fig.suptitle("Ger & Barak Fig. 3: stage 1 of the rank-one theory model")
    return save(fig, path / "fig3")


def _shade(ax, b, last):
    ax.axvspan(b[0], b[1], color="tab:orange", alpha=0.12, lw=0, label="stage 2")


def fig4(recipe, results: dict, summary: dict, path: Path) -> Path:
    res = results["train"]
    run = _first_healthy(summary["per_seed"]["status"])
    steps = res.records.step.values
    s = res.records.overlaps.values[:, run].astype(float)
    st2 = summary["stage2"]
    b = st2["per_seed"]["stages"][0]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.4), constrained_layout=True)

    l3, l3a, l1sq, l1sqa = (np.full(len(steps), np.nan) for _ in range(4))
    for i, x in enumerate(s):
        sp = split_roots_np(x)
        if sp is not None:
            l1sq[i], l3[i] = abs(sp[0]) ** 2, sp[1]
            l3a[i] = lambda3_approx_np(x)
            l1sqa[i] = lambda1_sq_np(x, l3a[i])
    ax = axes[0, 0]
    ax.plot(steps, l3, color="tab:blue", lw=1.6, label="$\\lambda_3$ exact")
    ax.plot(steps, l3a, color="k", lw=0.9, ls="--", label="eq. 10")
    ax.plot(steps, l1sq, color="tab:red", lw=1.6, label="$|\\lambda_1|^2$ exact")
    ax.plot(steps, l1sqa, color="0.3", lw=0.9, ls=":", label="eq. 11 with eq. 10")
    ax.axhline(1, color="0.5", lw=0.6)
    _shade(ax, b, steps[-1])
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, steps[-1])
    e3 = st2["per_seed"]["lambda3_error"][0][1]
    ax.set_title(f"(a) near-real root and dominant pair (stage 2 error {e3:.1g})"
                 if e3 is not None else "(a) near-real root and dominant pair")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=7, frameon=False)

    ax = axes[0, 1]
    cos = np.array([np.nan if c is None else c for c in st2["cos_seed0"]])
    ax.plot(steps, cos, color="tab:purple", lw=1.3)
    ax.axhline(-1, color="0.5", lw=0.6)
    _shade(ax, b, steps[-1])
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, steps[-1])
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cos(grad $L_\\infty$, grad $L_0$)")
    ax.set_title("(b) the two terms' gradients (the zig-zag)")

    sur = st2["surrogate"]
    cols = plt.cm.viridis(np.linspace(0, 0.9, len(sur["alphas"])))
    ax = axes[0, 2]
    th = np.linspace(-0.35, 0.35, 200)
    ax.plot(np.cos(th), np.sin(th), color="0.3", lw=0.8)
    for c, a in zip(cols, sur["alphas"]):
        pts = np.array([x for x in a["lambda1"] if x is not None])
        if len(pts):
            ax.plot(pts[:, 0], pts[:, 1], color=c, lw=1.3, label=f"α = {a['alpha']:g}")
            ax.plot(pts[-1, 0], pts[-1, 1], "o", color=c, ms=3)
    ax.set_xlabel("Re $\\lambda_1$")
    ax.set_ylabel("Im $\\lambda_1$")
    ax.set_title(f"(c) $L_\\alpha$ from epoch {recipe.stage2.start_epoch}: dominant pair")
    ax.legend(fontsize=7, frameon=False)

    ax = axes[1, 0]
    for c, a in zip(cols, sur["alphas"]):
        ax.plot(a["radius"], color=c, lw=1.3, label=f"α = {a['alpha']:g}")
    ax.axhline(1, color="0.5", lw=0.6)
    ax.set_xlabel("surrogate step")
    ax.set_ylabel("max |eig(P_eff)|")
    ax.set_title("(d) $L_\\alpha$: spectral radius")
    ax.legend(fontsize=7, frameon=False)

    ax = axes[1, 1]
    hz = summary["horizons"]["runs"]
    hc = plt.cm.plasma(np.linspace(0, 0.85, len(hz)))
    for c, h in zip(hc, hz):
        fs = h["first_stable_epoch"][0]
        ax.plot(h["steps"], h["radius_seed0"], color=c, lw=1.3,
                label=f"T = {h['T']}: stable {'never' if fs is None else f'from {fs}'}")
    ax.axhline(1, color="0.5", lw=0.6)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, hz[0]["steps"][-1])
    ax.set_xlabel("epoch")
    ax.set_ylabel("max |eig(P)|")
    ax.set_title("(e) the full model at episode lengths T (seed 0)")
    ax.legend(fontsize=7, frameon=False)

    ax = axes[1, 2]
    th = np.linspace(0, 2 * np.pi, 300)
    ax.plot(np.cos(th), np.sin(th), color="0.3", lw=0.8)
    roots = np.array([np.roots(cubic_np(x)) for x in s])
    c = np.log10(steps + 1)
    for j in range(3):
        sc = ax.scatter(roots[:, j].real, roots[:, j].imag, c=c, s=5, cmap="viridis")
    fig.colorbar(sc, ax=ax, label="log10(epoch + 1)", shrink=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title("(f) eig(P) over training (roots of eq. 6)")
    fig.suptitle("Ger & Barak Fig. 4: stage 2, stability against the short-term cost")
    return save(fig, path / "fig4")


def fig5(recipe, results: dict, summary: dict, path: Path) -> Path:
    from learndyn.core.store import RunStore
    res = results["stage3"]
    steps = res.records.step.values
    full = res.records.loss.values
    phase = RunStore(Path(path).parent / "stage3")
    preds = {}
    for name in ("gb.free_overlaps", "gb.gram_flow"):
        ds = phase.load_dataset(f"theory-{name}")
        preds[name] = None if ds is None else np.asarray(ds["loss"].values)
    s3 = summary["stage3"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9), constrained_layout=True)
    cols = plt.cm.viridis(np.linspace(0, 0.85, len(s3["betas"])))
    ax = axes[0]
    for j, (c, b) in enumerate(zip(cols, s3["betas"])):
        ax.plot(steps, full[:, j], color=c, lw=1.8, label=f"β = {b:g}")
        if preds["gb.free_overlaps"] is not None:
            ax.plot(steps, preds["gb.free_overlaps"][:, j], color=c, lw=1.0, ls="--")
        if preds["gb.gram_flow"] is not None:
            ax.plot(steps, preds["gb.gram_flow"][:, j], color="k", lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel(f"epoch after {s3['start_epoch']}")
    ax.set_ylabel("expected loss")
    ax.set_title("(a) full (solid), free overlaps (dashed), Gram flow (dotted)")
    ax.legend(fontsize=7, frameon=False)
    ax = axes[1]
    for j, (c, b) in enumerate(zip(cols, s3["betas"])):
        for name, ls in (("gb.free_overlaps", "--"), ("gb.gram_flow", ":")):
            if preds[name] is not None:
                err = np.abs(preds[name][:, j] - full[:, j]) / full[:, j]
                ax.plot(steps, np.maximum(err, 1e-9), color=c, lw=1.1, ls=ls)
    ax.set_yscale("log")
    ax.set_xlabel(f"epoch after {s3['start_epoch']}")
    ax.set_ylabel("|reduced - full| / full")
    ax.set_title("(b) error: free overlaps (dashed), Gram flow (dotted)")
    ax = axes[2]
    nf = summary["noise_free"]
    x = [np.nan if v is None else v for v in nf["sgd_first_stable_epoch"]]
    y = [np.nan if v is None else v for v in nf["first_stable_epoch"]]
    ax.plot(x, y, "o", color="tab:blue")
    hi = np.nanmax(x + y) if np.isfinite(x + y).any() else 1
    ax.plot([0, hi], [0, hi], color="0.5", lw=0.7)
    ax.set_xlabel("first stable epoch, SGD (batch 100)")
    ax.set_ylabel("first stable epoch, GD on the expected loss")
    ax.set_title("(c) noise-free flow against SGD, per seed")
    fig.suptitle("Ger & Barak Fig. 5: stage 3, the reduced models against the full model")
    return save(fig, Path(path) / "fig5")


def draw_all(recipe, results: dict, summary: dict, path: Path) -> dict[str, str]:
    out = {"fig3": str(fig3(recipe, results, summary, Path(path))),
           "fig4": str(fig4(recipe, results, summary, Path(path)))}
    if summary.get("stage3"):
        out["fig5"] = str(fig5(recipe, results, summary, Path(path)))
    return out
