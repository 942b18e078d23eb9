"""Figures of the closed-loop theory study: fig3 (stage 1 of the rank-one model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from learndyn.closedloop.theory.analysis import full_matrix_np
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


def draw_all(recipe, results: dict, summary: dict, path: Path) -> dict[str, str]:
    return {"fig3": str(fig3(recipe, results, summary, Path(path)))}
