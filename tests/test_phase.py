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


def test_transition_width_reads_the_cells():
    from learndyn.core.phase import transition_width
    p = [0.1, 0.2, 0.3, 0.4, 0.8]
    # 0 -> 1 between 0.2 and 0.4 (0.3 half way, NaN cells skipped)
    w = transition_width(p, [0.0, 0.0, 0.5, 1.0, float("nan")])
    assert (w["p_lo"], w["p_hi"]) == (0.2, 0.4) and w["ratio"] == pytest.approx(2.0)
    assert transition_width(p, [0.0, 0.0, 0.5, 0.75, 0.75]) is None   # never >= 0.9
    assert transition_width(p, [0.5, 1.0, 1.0, 1.0, 1.0]) is None      # never <= 0.1 before
    # the first cell at >= 0.9 counts, not a later dip
    assert transition_width(p, [0.0, 1.0, 0.5, 1.0, 1.0])["ratio"] == pytest.approx(2.0)


class _Sweeps:
    """A claims source holding one finished sweep's phase diagram (fabricated)."""
    scale = "paper"

    def __init__(self, phase):
        self.phase = phase

    def get(self, recipe, overrides=None):
        from learndyn.core.claims import NotRun
        raise NotRun("no runs")

    def sweep(self, name):
        from learndyn.ledger import LoadedSweep
        return LoadedSweep(None, name, "cpu", {}, self.phase, {"model.K": 512})


def _doc(c, law="c ln M / M", Ms=(23, 41, 71, 127), seeds=20):
    """phase.json of a world whose boundary follows `law` with constant c."""
    from learndyn.core.phase import phase_diagram
    rng = np.random.default_rng(2)
    p = list(np.geomspace(0.02, 0.9, 12))
    f = {"c ln M / M": lambda m: c * math.log(m) / m, "c / M": lambda m: c / m}[law]
    out = [[list(rng.random(seeds) < 1 / (1 + np.exp(-(math.log(q) - math.log(f(m))) / 0.1)))
            for q in p] for m in Ms]
    d = phase_diagram(list(Ms), p, out, n_boot=20)
    return {"M": d["M"], "boundary": d["boundary"], "width": d["width"],
            "laws": [{"law": x.name, "params": list(x.params), "aic": x.aic} for x in d["laws"]],
            "c_logM_over_M": d["c_logM_over_M"]}


def test_li2_sweep_claims_decide_on_the_phase_diagram():
    from learndyn.core.claims import run_claims
    from learndyn.worlds import all_claims
    ids = ("li2.scaling_log_m_over_m", "li2.sharp_transition")
    claims = [c for c in all_claims() if c.id in ids]
    assert {c.sweep for c in claims} == {"li2-fig5"}

    def check(doc):
        return {r.id: r for r in run_claims(_Sweeps(doc), claims)}
    # a ln M / M world with a narrow transition (logistic width 0.1 in ln p: 10 % -> 90 %
    # over x1.55 in p, within the x2 of SHARP_RATIO)
    r = check(_doc(2.7))
    assert r["li2.scaling_log_m_over_m"].verdict == "verified", r["li2.scaling_log_m_over_m"]
    assert "vs the code's 2.7482" in r["li2.scaling_log_m_over_m"].measured
    assert "model.K=512" in r["li2.scaling_log_m_over_m"].measured
    assert r["li2.sharp_transition"].verdict == "verified", r["li2.sharp_transition"]
    # a c / M world: ln M / M is refuted by AIC (over M = 23-127 the two differ by ln M,
    # x1.7, far above the boundaries' scatter at 20 seeds)
    r = check(_doc(6.0, "c / M"))
    assert r["li2.scaling_log_m_over_m"].verdict == "refuted", r["li2.scaling_log_m_over_m"]
    # two boundaries: too few to compare laws; no widths recorded: an older diagram
    doc = _doc(2.7)
    doc["boundary"] = [None, None] + doc["boundary"][2:]
    doc["width"] = None
    r = check(doc)
    assert r["li2.scaling_log_m_over_m"].verdict == "inconclusive"
    assert "too few to decide: 2 group sizes" in r["li2.scaling_log_m_over_m"].measured
    assert r["li2.sharp_transition"].verdict == "inconclusive"
    # a wide transition (x3 between the last failing and first succeeding cell) is refuted
    doc = _doc(2.7)
    doc["width"] = [{"p_lo": 0.1, "p_hi": 0.3, "ratio": 3.0}] * 4
    assert check(doc)["li2.sharp_transition"].verdict == "refuted"
