"""Stage detection: optimal piecewise-linear segmentation of a recorded signal.

Learning curves of both worlds are sequences of regimes (a fast drop, a plateau, a second
drop, ...). We find them as the least-squares best fit of `n` independent straight lines to
the curve, with breakpoints chosen by dynamic programming (exact, O(n_points^2 * n)).
For loss curves the fit is done on log10(loss) against log10(step + 1), resampled on a
uniform grid so that densely recorded early steps do not dominate the fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segmentation:
    """breaks: indices (into x) where segments 2..n start; slopes/intercepts per segment."""

    breaks: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray
    sse: float


def _prefix(x, y):
    z = np.zeros(1)
    return [np.concatenate([z, np.cumsum(v)]) for v in (np.ones_like(x), x, y, x * x, x * y, y * y)]


def _seg_fit(P, i, j):
    """Least-squares line on points i..j-1: (sse, slope, intercept)."""
    n, sx, sy, sxx, sxy, syy = (p[j] - p[i] for p in P)
    var = n * sxx - sx * sx
    slope = (n * sxy - sx * sy) / var if var > 1e-12 else 0.0
    icpt = (sy - slope * sx) / n
    sse = syy - 2 * slope * sxy - 2 * icpt * sy + slope ** 2 * sxx + 2 * slope * icpt * sx + n * icpt ** 2
    return max(sse, 0.0), slope, icpt


def segment(x: np.ndarray, y: np.ndarray, n_segments: int, min_size: int = 3) -> Segmentation:
    """Best fit of `n_segments` lines to (x, y), x increasing. Each segment has >= min_size points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    m = len(x)
    if n_segments < 1 or m < n_segments * min_size:
        raise ValueError(f"cannot split {m} points into {n_segments} segments of >= {min_size}")
    P = _prefix(x, y)
    cost = np.full((m + 1, m + 1), np.inf)
    for i in range(m):
        for j in range(i + min_size, m + 1):
            cost[i, j] = _seg_fit(P, i, j)[0]
    best = np.full((n_segments + 1, m + 1), np.inf)
    arg = np.zeros((n_segments + 1, m + 1), int)
    best[0, 0] = 0.0
    for k in range(1, n_segments + 1):
        for j in range(k * min_size, m + 1):
            cand = best[k - 1, :j] + cost[:j, j]
            arg[k, j] = int(np.argmin(cand))
            best[k, j] = cand[arg[k, j]]
    bounds, j = [], m
    for k in range(n_segments, 0, -1):
        i = arg[k, j]
        bounds.append((i, j))
        j = i
    bounds = bounds[::-1]
    fits = [_seg_fit(P, i, j) for i, j in bounds]
    return Segmentation(np.array([i for i, _ in bounds[1:]]), np.array([f[1] for f in fits]),
                        np.array([f[2] for f in fits]), float(best[n_segments, m]))


@dataclass(frozen=True)
class StageFit:
    """Stages of a loss curve. boundaries: steps where stages 2..n begin; slopes: d log10(loss) /
    d log10(step + 1) of each stage."""

    boundaries: list[int]
    slopes: list[float]


# float32's resolution: a signal computed in float32 that has fallen below a few hundred
# times EPS32 of its own peak is mostly rounding (see loss_stages' `floor`)
EPS32 = float(np.finfo(np.float32).eps)


def loss_stages(steps: np.ndarray, loss: np.ndarray, n_stages: int = 4,
                n_grid: int = 120, floor: float | None = None) -> StageFit:
    """Stages of a loss curve by segmenting log10(loss) vs log10(step + 1).

    Non-finite losses (a diverged run) are dropped before fitting, and with `floor`, every
    point below `floor` times the curve's peak: a signal that has fallen to its float
    rounding level is noise that differs from machine to machine, and on a log scale that
    noise would decide where the last stage starts.
    """
    steps, loss = np.asarray(steps, float), np.asarray(loss, float)
    ok = np.isfinite(loss) & (loss > 0)
    if floor is not None and ok.any():
        ok &= loss >= floor * np.max(loss[ok])
    steps, loss = steps[ok], loss[ok]
    lx = np.log10(steps + 1)
    grid = np.linspace(lx[0], lx[-1], n_grid)
    ly = np.interp(grid, lx, np.log10(loss))
    seg = segment(grid, ly, n_stages, min_size=max(3, n_grid // 40))
    b = [int(round(10 ** grid[i] - 1)) for i in seg.breaks]
    return StageFit(b, [float(s) for s in seg.slopes])


# The three-stage pattern of a loss curve (a fast drop, a plateau, a second drop): both drops
# fall (negative slopes in log loss against log step) and the plateau falls at least ~3x
# more slowly than either (|s2| <= PLATEAU_SLOPE_RATIO min(|s1|, |s3|)).
PLATEAU_SLOPE_RATIO = 0.3


def three_stage_pattern(slopes, ratio: float = PLATEAU_SLOPE_RATIO) -> bool | None:
    """Whether three fitted stage slopes (s1, s2, s3) show the pattern above (None: no fit)."""
    if slopes is None or len(slopes) < 3:
        return None
    s1, s2, s3 = slopes[:3]
    return bool(s1 < 0 and s3 < 0 and abs(s2) <= ratio * min(abs(s1), abs(s3)))
