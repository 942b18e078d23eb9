"""Run health: the divergence rule of every world, run statuses in the summaries, and claims
decided from healthy runs only (issue 9)."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.closedloop.claims import CLAIMS
from learndyn.core.claims import NotRun, run_claims
from learndyn.core.store import RunStore
from learndyn.core.study import run_study
from learndyn.core.trainer import Trainer
from learndyn.ledger import LoadedRun
from learndyn.worlds import all_claims, get_world
from learndyn.recipes import load_recipe


class Runs:
    """A RunSource over runs made here: recipe name -> (recipe, out folder), each run once,
    without figures (to keep the tests fast); other recipes are NotRun."""

    scale = "smoke"

    def __init__(self, made: dict):
        self.made, self.done = made, {}

    def get(self, name):
        if name not in self.made:
            raise NotRun(f"not run here: {name}")
        if name not in self.done:
            rcp, out = self.made[name]
            self.done[name] = LoadedRun(out, run_study(get_world(rcp.study), rcp, RunStore(out),
                                                       figures=False))
        return self.done[name]


# -- the rule --------------------------------------------------------------------------------

def _geometric(state, t):
    """A run whose loss is its state, multiplied by its rate at every update."""
    x, rate = state
    return (x * rate, rate), x


def test_relative_rule_flags_a_loss_above_factor_times_initial_and_not_below():
    from learndyn.core.trainer import divergence_limits
    # losses 1, 2, 4, ... (run 0), 3, 6, ... (run 1) and 1, 1.5, 2.25, ... (run 2): powers of
    # two and these products are exact in float32, so the limit is met exactly where expected
    factor = 64.0
    s0 = (jnp.array([1.0, 3.0, 1.0]), jnp.array([2.0, 2.0, 1.5]))
    limits = divergence_limits(_geometric, s0, factor)
    np.testing.assert_array_equal(limits, [64.0, 192.0, 64.0])
    res = Trainer(_geometric, lambda s: {"x": s[0]}, diverge_above=limits).run(
        s0, np.arange(1, 11))
    # runs 0 and 1 reach exactly 64 x initial at update 6 (kept: the limit is not exceeded)
    # and exceed it at update 7; run 2 ends at 1.5^9 = 38 x initial (healthy)
    assert res.status == ["diverged", "diverged", "ok"]
    assert list(res.diverged_at) == [7, 7, -1]
    assert np.isnan(res.records.x.values[-1, 0])
    # the absolute limit still applies beside the relative one: min(above, factor x initial)
    both = divergence_limits(_geometric, s0, factor, above=100.0)
    np.testing.assert_array_equal(both, [64.0, 100.0, 64.0])


def test_zero_initial_loss_gets_the_absolute_limit_only():
    """A relative limit of 0 would flag every update (e.g. an open-loop student that starts
    equal to its teacher): such a run keeps only `above`."""
    from learndyn.core.trainer import divergence_limits
    s0 = (jnp.array([0.0, 2.0]), jnp.array([1.0, 1.0]))
    np.testing.assert_array_equal(divergence_limits(_geometric, s0, 10.0, above=1e6),
                                  [1e6, 20.0])


# -- the shared claim helper ---------------------------------------------------------------

def test_healthy_runs_picks_healthy_and_says_when_too_few():
    from learndyn.core.claims import MIN_HEALTHY_FRACTION, healthy_runs
    ok, bad = "ok", "diverged"
    h = healthy_runs([ok, bad, ok, ok])
    assert h.idx == [0, 2, 3] and h.inconclusive is None and "1 of 4 seeds diverged" in h.note
    assert h.pick(["a", "b", "c", "d"]) == ["a", "c", "d"]
    # a run counts only if it is healthy in every phase given
    h = healthy_runs([ok, ok, ok, bad], [bad, ok, ok, ok])
    assert h.idx == [1, 2] and h.inconclusive is None          # 2 of 4 = MIN_HEALTHY_FRACTION
    assert MIN_HEALTHY_FRACTION == 0.5
    h = healthy_runs([ok, bad, bad])                             # 1 of 3 < half
    assert h.inconclusive.verdict == "inconclusive"
    assert "2 of 3 seeds diverged" in h.inconclusive.measured
    h = healthy_runs([bad, bad, bad], what="runs")
    assert h.idx == [] and "3 of 3 runs diverged" in h.inconclusive.measured
    h = healthy_runs([ok, ok])
    assert h.idx == [0, 1] and h.note == ""
    with pytest.raises(ValueError):
        healthy_runs([ok], [ok, ok])


# -- the closed-loop world -------------------------------------------------------------------

def test_healthy_gb_smoke_run_is_all_ok(gb_smoke_run):
    """The default smoke run trips neither rule, in either phase."""
    _, summary = gb_smoke_run
    for mode in ("closed", "open"):
        per = summary[mode]["per_seed"]
        assert per["status"] == ["ok"] * summary["seeds"]
        assert per["diverged_at"] == [None] * summary["seeds"]
        assert summary[mode]["n_diverged"] == 0


@pytest.fixture(scope="module")
def gb_diverged(tmp_path_factory):
    """gb2025-fig1 at smoke scale, 3 seeds, lr 0.05 and no gradient clipping: every seed
    diverges within the first few updates (measured: closed loop at update 1)."""
    rcp = load_recipe("gb2025-fig1", "smoke", {"train.lr": 0.05, "train.clip": None,
                                                "seeds": 3, "train.epochs": 20,
                                                "open_loop.epochs": 20})
    out = tmp_path_factory.mktemp("health") / "gb-diverged"
    return Runs({"gb2025-fig1": (rcp, out)}), out


def test_gb_diverged_runs_have_statuses_and_every_claim_is_inconclusive(gb_diverged):
    src, out = gb_diverged
    # the claims that read gb2025-fig1 (the closed-loop world's but its gb.tracking.*, which
    # read gb2025-fig6; gb2025-theory's are NotRun here)
    fig1 = [c for c in CLAIMS if not c.id.startswith("gb.tracking.")]
    rows = run_claims(src, fig1, "ger-barak-2025")
    assert len(rows) == len(fig1) == 14
    for r in rows:
        assert r.verdict == "inconclusive", (r.id, r.measured)
        assert "3 of 3 seeds" in r.measured and "diverged" in r.measured, (r.id, r.measured)
    summary = json.loads((out / "summary.json").read_text())
    for mode in ("closed", "open"):
        per = summary[mode]["per_seed"]
        assert per["status"] == ["diverged"] * 3
        assert all(isinstance(d, int) and d >= 0 for d in per["diverged_at"])
        assert summary[mode]["n_diverged"] == 3
    # aggregates over seeds read healthy seeds only: there are none
    assert summary["over_seeds"]["open_peak_above_initial_fraction"] is None
    assert summary["over_seeds"]["final_loss_ratio_open_over_closed"]["n"] == 0


def test_gb_claims_leave_out_a_diverged_seed():
    """One seed of three diverged in closed loop: the open-loop claims read the other two
    (and say so); the over-seeds numbers are theirs."""
    from learndyn.closedloop import claims as gb

    def phase(status, peak, init, final):
        return {"per_seed": {"status": status, "peak_deployed_loss": peak,
                             "initial_deployed_loss": init, "final_loss": final,
                             "peak_step": [5, 5, 5]},
                "diverged_at": [None if s == "ok" else 1 for s in status]}
    summ = {"closed": phase(["ok", "ok", "diverged"], [10, 10, 1e17], [10, 10, 10], [1, 1, None]),
            "open": phase(["ok", "ok", "ok"], [12, 9, 1e19], [10, 10, 10], [1.2, 1.1, None])}
    src = type("S", (), {"get": lambda self, n: type("R", (), {"summary": summ})()})()
    chk = gb._peak(src)
    # healthy seeds 0, 1: peak/initial 1.2 and 0.9, median 1.05, 1 of 2 above 1.1 -> the
    # Wilson interval holds 1/2: inconclusive; seed 2's 1e18 is left out (with it the median
    # would be 1.2)
    assert chk.verdict == "inconclusive" and "1 of 3 seeds" in chk.measured
    assert "median 1.05 " in chk.measured and "1/2 seeds (95 % CI 0.09-0.91)" in chk.measured
    same = gb._same(src)
    assert same.verdict == "verified" and "ratio median 1.15" in same.measured


# -- the Li2 world -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def li2_diverged(tmp_path_factory):
    """li2-fig3 at smoke scale with Adam at lr 1e3, 2 seeds, 20 epochs, V trained (the
    paper_text preset): the training loss leaves its initial value (about 0.48) for about
    1e22 after one update (measured). (With the reference preset's ridge V the loss stays
    bounded: V is refitted to the features at every step.)"""
    base = tmp_path_factory.mktemp("health-li2")
    rcp = load_recipe("li2-fig3", "smoke", {"preset": "paper_text", "train.lr": 1e3,
                                            "seeds": 2, "train.epochs": 20})
    return Runs({"li2-fig3": (rcp, base / "li2-fig3")}), base


def test_li2_large_lr_runs_are_flagged_and_their_claims_inconclusive(li2_diverged):
    src, base = li2_diverged
    summary = src.get("li2-fig3").summary
    for vname, v in summary["variants"].items():
        assert v["n_diverged"] == 2, vname
    rows = {r.id: r for r in run_claims(src, all_claims(), "li2-2025")}
    read_here = {"li2.wd_needed", "li2.gf_grows_before_grokking", "li2.v_moves_before_w",
                 "li2.features_are_irreps"}     # the claims that read li2-fig3
    for cid in read_here:
        assert rows[cid].verdict == "inconclusive", (cid, rows[cid].measured)
        assert "2 of 2 seeds diverged" in rows[cid].measured, (cid, rows[cid].measured)
    summary = json.loads((base / "li2-fig3" / "summary.json").read_text())
    for vname, v in summary["variants"].items():
        per = v["per_seed"]
        assert per["status"] == ["diverged", "diverged"], vname
        assert all(isinstance(d, int) and 0 <= d < 20 for d in per["diverged_at"])
        assert v["fraction_generalising"] is None      # no healthy seed to count
