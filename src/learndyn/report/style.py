"""Shared figure style: colours, stage shading, saving as PNG + PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MODE_COLORS = {"closed": "tab:blue", "open": "tab:orange"}
STAGE_COLORS = ["#f2f2f2", "#dfe9f5", "#f5eadf", "#e3f2e1", "#efe3f2", "#f5f5dc", "#e0f0f0",
                "#f0e0e0"]

plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                     "savefig.dpi": 160})


def shade_stages(ax, boundaries, offset: float = 0.0, labels: bool = True) -> None:
    """Shade alternating stages between the x-axis limits at the given boundaries (steps)."""
    if not boundaries:
        return
    lo, hi = ax.get_xlim()
    edges = [lo] + [b + offset for b in boundaries] + [hi]
    for i in range(len(edges) - 1):
        ax.axvspan(edges[i], edges[i + 1], color=STAGE_COLORS[i % len(STAGE_COLORS)], zorder=0,
                   lw=0)
        if labels:
            ax.text(edges[i], 1.0, f" {i + 1}", transform=ax.get_xaxis_transform(),
                    fontsize=7, va="top", color="0.35")
    ax.set_xlim(lo, hi)


def save(fig, stem: Path) -> Path:
    """Save as stem.png and stem.pdf; return the PNG path. The suffixes are appended, so a
    stem with dots in its name ("theory-saxe.exact") keeps them."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = (stem.with_name(stem.name + s) for s in (".png", ".pdf"))
    fig.savefig(png)
    fig.savefig(pdf)
    plt.close(fig)
    return png
