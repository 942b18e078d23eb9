"""Stage detection (core.stages): the segmentation finds known breaks, and a curve's float
rounding floor does not decide its stages."""

import numpy as np

from learndyn.core.stages import EPS32, loss_stages, segment


def test_segment_finds_the_breaks_of_a_piecewise_line():
    x = np.linspace(0.0, 3.0, 61)
    # three lines with jumps between them, so each break point belongs to one line only
    y = np.piecewise(x, [x < 1.0, (x >= 1.0) & (x < 2.0), x >= 2.0],
                     [lambda t: -2 * t, lambda t: -3.0 - 0.1 * (t - 1), lambda t: -2.1 - 3 * (t - 2)])
    seg = segment(x, y, 3)
    assert [x[i] for i in seg.breaks] == [1.0, 2.0]
    np.testing.assert_allclose(seg.slopes, [-2.0, -0.1, -3.0], atol=1e-9)   # exact lines
    # the SSE comes from prefix sums (differences of sums of y^2 ~ 1e2): cancellation leaves
    # ~1e-16 x 1e3; 1e-10 is far below any misfit (one point off by 1e-5 gives 1e-10)
    assert seg.sse < 1e-10


def _steps():
    return np.unique(np.round(np.geomspace(1, 600, 60)).astype(int) - 1)


def _curve_with_floor(seed):
    """||G_F||-like: a slow fall, a fast fall, then float32 rounding at 1e-6 of the peak,
    noisy by 20 % (as measured in li2-fig3's eta = 0 runs)."""
    s = _steps().astype(float)
    lx = np.log10(s + 1)
    ly = np.where(lx < 1.5, 1.0 - 0.2 * lx, 0.7 - 8.0 * (lx - 1.5))
    g = 10.0 ** ly
    rng = np.random.default_rng(seed)
    floor = 1e-6 * g.max() * (1 + 0.2 * rng.standard_normal(len(g)))
    return s, np.maximum(g, floor)


def test_the_rounding_floor_does_not_decide_the_stages():
    fits = {tuple(loss_stages(*_curve_with_floor(seed), 3, floor=100 * EPS32).boundaries)
            for seed in range(5)}
    assert len(fits) == 1, fits        # the same stages whatever the noise at the floor
    s, g = _curve_with_floor(0)
    keep = g >= 100 * EPS32 * g.max()
    assert keep.sum() < len(g) - 3     # the floor was reached: points were dropped
    (b,) = fits
    # the same stages as the curve cut where it reaches the floor
    assert list(b) == loss_stages(s[keep], g[keep], 3).boundaries
    # without the floor the last stage is the arrival at the floor (steps where g < 1e-4)
    raw = loss_stages(s, g, 3).boundaries
    assert raw != list(b) and g[np.searchsorted(s, raw[-1])] < 1e-4 * g.max()


def test_floor_keeps_a_curve_above_it_unchanged():
    s = _steps().astype(float)
    g = 10.0 ** (1.0 - 0.5 * np.log10(s + 1))   # falls 1.4 decades: nowhere near the floor
    assert loss_stages(s, g, 3, floor=100 * EPS32) == loss_stages(s, g, 3)


def test_numbers_kept_allows_a_stage_break_one_grid_point_away():
    """scripts/check_summaries.py: a stage break within two points of the fit's log grid is
    'near', further is 'changed'; any other number must stay within RTOL."""
    from _numbers_kept import check_summaries as cs
    base = {"v": {"stage_boundaries": [4, 91], "step": 91}}
    r = cs.compare("li2-x", base, {"v": {"stage_boundaries": [4, 96], "step": 91}})
    assert r["near"] == ["v.stage_boundaries.1: 91 -> 96"] and not r["changed"]
    r = cs.compare("li2-x", base, {"v": {"stage_boundaries": [4, 120], "step": 96}})
    assert r["changed"] == ["v.stage_boundaries.1: 91 -> 120", "v.step: 91 -> 96"]
