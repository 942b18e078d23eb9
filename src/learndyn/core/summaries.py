"""Seed-level summaries of per-seed scalars, skipping missing (None) and non-finite values."""

from __future__ import annotations

import numpy as np


def finite_median(values):
    """Median over seeds of the finite values (None if there are none). Vector values give
    the element-wise median as a list, scalars a float."""
    v = [x for x in values if x is not None and np.all(np.isfinite(x))]
    if not v:
        return None
    med = np.median(np.asarray(v, float), axis=0)
    return med.tolist() if med.ndim else float(med)


def quartiles(values) -> dict:
    """Median, quartiles and count of the finite scalar values."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if len(v) == 0:
        return {"median": None, "q25": None, "q75": None, "n": 0}
    q = np.percentile(v, [25, 50, 75])
    return {"median": float(q[1]), "q25": float(q[0]), "q75": float(q[2]), "n": int(len(v))}
