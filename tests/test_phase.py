"""Phase diagrams (core.phase): fractions with intervals, the boundary per row, fitted laws."""

import math

import numpy as np
import pytest

from learndyn.core.phase import cell_fractions, fit_laws, phase_diagram, row_boundary


def synthetic(c=2.7, Ms=(23, 41, 71, 127, 211), seeds=20, width=0.15, seed=0):
    """Runs drawn from P(success) = logistic((ln p - ln p*) / width), p* = c ln M / M."""
    rng = np.random.default_rng(seed)
    p = list(np.geomspace(0.02, 0.8, 16))
    out = []
    for M in Ms:
        ps = c * math.log(M) / M
        out.append([list(rng.random(seeds) < 1 / (1 + np.exp(-(math.log(q) - math.log(ps))
                                                            / width))) for q in p])
    return list(Ms), p, out


def test_boundary_law_and_interval_recover_the_truth():
    M, p, out = synthetic()
    d = phase_diagram(M, p, out, n_boot=100)
    for m, star in zip(M, d["boundary"]):
        # 20 seeds x 16 ratios a row, logistic width 0.15 in ln p: the fitted crossing lies
        # within 15 % of the true one
        assert star == pytest.approx(2.7 * math.log(m) / m, rel=0.15)
    laws = {x.name: x for x in d["laws"]}
    assert laws["c ln M / M"].params[0] == pytest.approx(2.7, rel=0.1)
    # c / M is rejected outright; over one decade of M, ln M / M looks like a power law of
    # slope 1 - 1 / ln M (0.68 to 0.81 here), so the free power law fits it about as well
    assert laws["c ln M / M"].aic < laws["c / M"].aic - 10
    assert 0.6 < laws["c M^-a"].params[1] < 0.9
    boot = d["c_logM_over_M"]
    assert boot["lo"][0] <= 2.7 <= boot["hi"][0] and boot["n_boot"] == 100


def test_a_c_over_M_world_is_told_apart():
    rng = np.random.default_rng(1)
    M = [23, 41, 71, 127, 211]
    p = list(np.geomspace(0.005, 0.8, 20))
    out = [[list(rng.random(20) < 1 / (1 + np.exp(-(math.log(q) - math.log(3.0 / m)) / 0.1)))
            for q in p] for m in M]
    stars = [row_boundary(p, row) for row in out]
    assert fit_laws(M, stars)[0].name in ("c / M", "c M^-a")
    assert {x.name: x for x in fit_laws(M, stars)}["c / M"].params[0] == pytest.approx(3.0, rel=0.1)


def test_censored_runs_are_left_out_not_failures():
    p = [0.1, 0.2, 0.4]
    row = [[False, False, None], [None, None, None], [True, True, None]]
    frac, lo, hi, n = cell_fractions([row])
    assert frac[0].tolist()[0] == 0.0 and np.isnan(frac[0, 1]) and frac[0, 2] == 1.0
    assert n[0].tolist() == [2, 0, 2]
    # perfectly separated: the crossing lies between the last failing and first succeeding p
    star = row_boundary(p, row)
    assert 0.1 < star < 0.4
    # censored runs counted as failures would move it; they are not
    assert row_boundary(p, [[False, False], [], [True, True]]) == pytest.approx(star)
    assert row_boundary(p, [[True], [True], [True]]) is None
