"""Phase diagrams: a binary outcome per run over two axes, the boundary per row, and a fitted
law for the boundary.

Input: for each cell (row value M, column value p) the outcomes of its runs, each True
(success, e.g. generalises), False (failure, e.g. memorises) or None (censored: still
changing when the run stopped, or diverged; left out, not counted as a failure).

- `cell_fractions`: the success fraction per cell with its 95 % Wilson interval.
- `row_boundary`: per row, the p at which the success probability crosses one half, from a
  logistic fit in log p by maximum likelihood over the row's runs. With few seeds the cells
  often separate perfectly (all fail below some p, all succeed above), where the plain
  maximum-likelihood slope is infinite; a weak ridge on the slope (RIDGE) keeps it finite
  and puts the crossing between the last failing and the first succeeding cell, where the
  data place it.
- `transition_width`: per row, how sharp the 0 -> 1 transition is on the grid: the ratio
  p_hi / p_lo between the smallest p whose cell succeeds in >= HIGH of its runs and the
  largest smaller p whose cell succeeds in <= LOW (None when the row does not go from one to
  the other inside the grid). Read from the cells, not from the logistic fit, whose slope on
  a perfectly separated row is set by the ridge rather than by the data.
- `fit_laws`: the boundaries p*(M) against rival laws, fitted by least squares in log p*:
  c log M / M (natural log), c / M, and c M^-a; compared by AIC (n log(RSS / n) + 2 k);
  `bootstrap_law` resamples runs within cells to give c an interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from learndyn.core.claims import wilson_interval

# The ridge on the logistic slope, per unit of log p: a penalty RIDGE * b^2 / 2 against the
# log-likelihood. 1e-2 leaves a fit with overlapping outcomes essentially unpenalised (its
# slope is O(1-10) per unit log p, a penalty of at most 0.5 against tens of runs' terms) and
# caps a perfectly separated row's slope near sqrt(n / RIDGE) instead of infinity.
RIDGE = 1e-2
# The cell fractions that count as "fails" and "succeeds" for the transition's width: at 4
# seeds a cell, none and all of them; at 20, at most 2 and at least 18.
LOW, HIGH = 0.1, 0.9


def cell_fractions(outcomes: Sequence[Sequence[Sequence[bool | None]]]):
    """outcomes[i][j]: the runs of row i, column j. Returns (fraction, lo, hi, n) arrays of
    shape (rows, cols); NaN where a cell has no decided run."""
    rows, cols = len(outcomes), len(outcomes[0])
    frac, lo, hi, n = (np.full((rows, cols), np.nan) for _ in range(4))
    for i in range(rows):
        for j in range(cols):
            d = [bool(x) for x in outcomes[i][j] if x is not None]
            n[i, j] = len(d)
            if d:
                frac[i, j] = sum(d) / len(d)
                lo[i, j], hi[i, j] = wilson_interval(sum(d), len(d))
    return frac, lo, hi, n


def _logistic_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of P(y = 1) = 1 / (1 + exp(-(a + b (x - mean x)))), ridge RIDGE on b, by
    Newton's method on the penalised log-likelihood (concave: it converges)."""
    xc = x - x.mean()
    a, b = 0.0, 0.0
    for _ in range(200):
        z = np.clip(a + b * xc, -30, 30)
        p = 1 / (1 + np.exp(-z))
        w = p * (1 - p)
        g = np.array([np.sum(y - p), np.sum((y - p) * xc) - RIDGE * b])
        H = np.array([[np.sum(w) + 1e-9, np.sum(w * xc)],
                      [np.sum(w * xc), np.sum(w * xc * xc) + RIDGE]])
        step = np.linalg.solve(H, g)
        a, b = a + step[0], b + step[1]
        if np.max(np.abs(step)) < 1e-10:
            break
    return a - b * x.mean(), b


def row_boundary(p: Sequence[float], runs: Sequence[Sequence[bool | None]]) -> float | None:
    """The p where a row's success probability crosses one half (logistic in log p), or
    None when the row has no decided run, only one outcome, or a falling trend."""
    x, y = [], []
    for pj, rs in zip(p, runs):
        for r in rs:
            if r is not None:
                x.append(math.log(pj))
                y.append(float(bool(r)))
    x, y = np.asarray(x), np.asarray(y)
    if y.size == 0 or y.min() == y.max():
        return None
    a, b = _logistic_fit(x, y)
    if b <= 0:
        return None
    return float(math.exp(-a / b))


def transition_width(p: Sequence[float], fractions: Sequence[float]) -> dict | None:
    """{"p_lo", "p_hi", "ratio"} of a row's transition (above), or None when the row has no
    cell at or above HIGH, or none at or below LOW before it. NaN fractions (no decided
    run) are skipped."""
    pairs = sorted((float(q), float(f)) for q, f in zip(p, fractions)
                   if f is not None and np.isfinite(f))
    hi = next((q for q, f in pairs if f >= HIGH), None)
    if hi is None:
        return None
    lo = max((q for q, f in pairs if q < hi and f <= LOW), default=None)
    if lo is None:
        return None
    return {"p_lo": lo, "p_hi": hi, "ratio": hi / lo}


@dataclass(frozen=True)
class Law:
    name: str
    k: int                                  # fitted parameters
    predict: Callable[[np.ndarray], np.ndarray]   # M -> p* (the fitted parameters bound)
    params: tuple = ()
    rss: float = math.nan                   # residual sum of squares in log p*
    aic: float = math.nan


def _fit_logM_over_M(M, lp):
    c = math.exp(np.mean(lp - np.log(np.log(M) / M)))
    return (c,), lambda m, q=(c,): q[0] * np.log(m) / m


def _fit_one_over_M(M, lp):
    c = math.exp(np.mean(lp + np.log(M)))
    return (c,), lambda m, q=(c,): q[0] / m


def _fit_power(M, lp):
    A = np.stack([np.ones_like(M), -np.log(M)], 1)
    (lc, a), *_ = np.linalg.lstsq(A, lp, rcond=None)
    return (math.exp(lc), a), lambda m, q=(math.exp(lc), a): q[0] * m ** -q[1]


LAWS = {"c ln M / M": (1, _fit_logM_over_M), "c / M": (1, _fit_one_over_M),
        "c M^-a": (2, _fit_power)}


def fit_laws(M: Sequence[float], pstar: Sequence[float]) -> list[Law]:
    """Each law of LAWS fitted to the boundaries (least squares in log p*), best AIC first.
    Rows without a boundary (None) are left out."""
    pts = [(m, q) for m, q in zip(M, pstar) if q is not None and q > 0]
    if len(pts) < 2:
        return []
    Mv = np.array([m for m, _ in pts], float)
    lp = np.log([q for _, q in pts])
    n = len(pts)
    out = []
    for name, (k, fit) in LAWS.items():
        if k >= n:
            continue
        params, f = fit(Mv, lp)
        rss = float(np.sum((lp - np.log(f(Mv))) ** 2))
        aic = n * math.log(max(rss, 1e-300) / n) + 2 * k
        out.append(Law(name, k, f, tuple(float(x) for x in params), rss, aic))
    return sorted(out, key=lambda law: law.aic)


def bootstrap_law(M: Sequence[float], p: Sequence[float], outcomes, law: str = "c ln M / M",
                  n_boot: int = 200, seed: int = 0) -> dict:
    """The law's parameters refitted on `n_boot` resamples (runs drawn with replacement
    within each cell), with the 2.5 / 97.5 percentiles: {"params", "lo", "hi", "n_boot"}."""
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(n_boot):
        stars = []
        for row in outcomes:
            res = [[rs[i] for i in rng.integers(0, len(rs), len(rs))] if rs else []
                   for rs in row]
            stars.append(row_boundary(p, res))
        laws = {x.name: x for x in fit_laws(M, stars)}
        if law in laws:
            fits.append(laws[law].params)
    if not fits:
        return {"params": None, "lo": None, "hi": None, "n_boot": 0}
    arr = np.array(fits)
    return {"params": arr.mean(0).tolist(), "lo": np.percentile(arr, 2.5, 0).tolist(),
            "hi": np.percentile(arr, 97.5, 0).tolist(), "n_boot": len(fits)}


def phase_diagram(M: Sequence[float], p: Sequence[float], outcomes, n_boot: int = 200,
                  seed: int = 0) -> dict:
    """Everything above for one diagram: outcomes[i][j] the runs at M[i], p[j]."""
    frac, lo, hi, n = cell_fractions(outcomes)
    stars = [row_boundary(p, row) for row in outcomes]
    widths = [transition_width(p, row) for row in frac]
    laws = fit_laws(M, stars)
    best = laws[0].name if laws else None
    boot = bootstrap_law(M, p, outcomes, "c ln M / M", n_boot, seed) if laws else None
    return {"M": list(M), "p": list(p), "fraction": frac, "lo": lo, "hi": hi, "n": n,
            "boundary": stars, "width": widths, "laws": laws, "best_law": best, "c_logM_over_M": boot}
