"""Plain-text rendering of a summary for worlds without a dedicated table."""

from __future__ import annotations

from rich.table import Table


def _flat(d: dict, prefix: str = ""):
    for k, v in d.items():
        if k in ("per_seed", "figures"):
            continue
        if isinstance(v, dict):
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def print_generic_summary(console, summary: dict) -> None:
    t = Table(title=f"{summary.get('recipe')} ({summary.get('scale', '')})")
    t.add_column("quantity")
    t.add_column("value", overflow="fold")
    for k, v in _flat(summary):
        t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    console.print(t)
