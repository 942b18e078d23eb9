"""core.claims: claim sets, and which failures of a check are verdicts (none but declared
missing data)."""

import pytest

from learndyn.core.claims import Check, ClaimCheckError, ClaimSet, MissingData, NotRun, run_claims


class _Src:
    scale = "smoke"

    def get(self, recipe):
        raise AssertionError("not used")


def _set():
    cs = ClaimSet("toy-paper")

    @cs.claim("toy.ok", text="holds", expected="x")
    def _ok(src):
        return Check("verified", "1 = 1")

    @cs.claim("toy.missing", text="needs data", expected="x")
    def _missing(src):
        raise MissingData("not recorded: the run has no 'open' phase")

    @cs.claim("toy.notrun", text="needs a run", expected="x")
    def _notrun(src):
        raise NotRun("not run: no finished runs/toy")
    return cs


def test_declared_missing_data_is_inconclusive_with_its_reason():
    rows = {r.id: r for r in run_claims(_Src(), _set())}
    assert rows["toy.ok"].verdict == "verified"
    assert rows["toy.missing"].verdict == "inconclusive"
    assert "no 'open' phase" in rows["toy.missing"].measured
    assert rows["toy.notrun"].verdict == "inconclusive"


@pytest.mark.parametrize("exc", [KeyError("final_gains"), ValueError("bad"), IndexError("0"),
                                 TypeError("None")])
def test_a_check_that_raises_is_a_bug_not_a_verdict(exc):
    cs = _set()

    @cs.claim("toy.buggy", text="buggy", expected="x")
    def _buggy(src):
        raise exc
    with pytest.raises(ClaimCheckError, match="toy.buggy"):
        run_claims(_Src(), cs)


def test_a_claim_id_is_unique_in_its_set_and_paper_filter_applies():
    cs = _set()
    with pytest.raises(ValueError, match="added twice"):
        cs.claim("toy.ok", text="again", expected="x")(lambda src: Check("verified", ""))
    assert run_claims(_Src(), cs, paper="other-paper") == []
    assert cs.ids() == ["toy.ok", "toy.missing", "toy.notrun"]


def test_a_check_returning_an_unknown_verdict_fails():
    cs = ClaimSet("toy-paper")
    cs.claim("toy.odd", text="odd", expected="x")(lambda src: Check("probably", ""))
    with pytest.raises(ClaimCheckError, match="probably"):
        run_claims(_Src(), cs)


def test_wilson_interval_and_the_seed_vote():
    from learndyn.core.claims import over_seeds, wilson_interval
    # textbook values (Wilson 1927; e.g. Newcombe 1998, Table I): 0/10 and 5/10 at 95 %
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    # all of 4 seeds verify, all of 2 cannot; none of 4 refute; undecided seeds are left out
    assert over_seeds([True] * 4).ok is True and over_seeds([True, True]).ok is None
    assert over_seeds([False] * 4).ok is False and over_seeds([None, None]).ok is None
    v = over_seeds([True, True, True, False, None])
    assert (v.k, v.n, v.ok) == (3, 4, None) and str(v).startswith("3/4 seeds (95 % CI 0.30-")
