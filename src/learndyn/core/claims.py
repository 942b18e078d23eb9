"""The claims ledger: every claim of a paper as an executable check on recorded data.

A world collects its claims in a `ClaimSet` (`CLAIMS = ClaimSet(paper)`, then
`@CLAIMS.claim(id, text=..., expected=...)` on each check) and returns it from its
`World.claims()`; the ledger gathers the sets of the worlds listed in `learndyn.worlds`
(nothing registers itself in a global table when a module is imported). Each check receives
a context that can fetch finished runs (running the recipe when it has not run yet) and
returns a `Check`: the verdict and the measured numbers as text. Nothing in a verdict is
typed in: it is computed from the records each time.

Inconclusive means "the data to decide is not there", and a check says so explicitly: it
returns `Check("inconclusive", why)`, or raises `MissingData` (or `NotRun`). Any other
exception in a check is a bug, and `run_claims` raises it (as `ClaimCheckError`, naming the
claim) instead of turning it into a verdict; a `LearndynError` (a recipe mistake, a damaged
run folder) passes through unchanged, as the one-line error it already is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol

from learndyn.errors import LearndynError

Verdict = Literal["verified", "refuted", "inconclusive"]
VERDICTS = ("verified", "refuted", "inconclusive")


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    measured: str


@dataclass(frozen=True)
class ClaimResult:
    id: str
    claim: str
    verdict: Verdict
    measured: str
    expected: str

    def as_dict(self) -> dict:
        return {"id": self.id, "claim": self.claim, "verdict": self.verdict,
                "measured": self.measured, "expected": self.expected}


class RunSource(Protocol):
    """What a check may ask for: a finished run of a recipe at the ledger's scale; with
    `overrides` (``{"preset": "paper_text"}``), the run of the recipe with those fields set
    on top of the ledger's own overrides (a check comparing two settings runs both); or a
    finished sweep (`sweep(name)`: a sweep file of experiments/sweeps, its results, its phase
    diagram), for the claims about many runs (a scaling law over a grid)."""

    scale: str

    def get(self, recipe: str, overrides: dict | None = None) -> Any: ...

    def sweep(self, name: str) -> Any: ...


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    text: str
    expected: str
    check: Callable[[RunSource], Check]
    sweep: str | None = None   # the sweep it reads (`learndyn sweep` of it checks the claim)


class ClaimSet:
    """The claims of one paper, in the order they were added (ids unique)."""

    def __init__(self, paper: str):
        self.paper = paper
        self._claims: dict[str, Claim] = {}

    def claim(self, id: str, *, text: str, expected: str, sweep: str | None = None):
        """Add a check function to this set as the claim `id` (`sweep`: the sweep it reads,
        so that running that sweep checks it too)."""
        def deco(fn: Callable[[RunSource], Check]):
            if id in self._claims:
                raise ValueError(f"claim {id!r} added twice to the claims of {self.paper}")
            self._claims[id] = Claim(id, self.paper, text, expected, fn, sweep)
            return fn
        return deco

    def __iter__(self):
        return iter(self._claims.values())

    def __len__(self) -> int:
        return len(self._claims)

    def ids(self) -> list[str]:
        return list(self._claims)


def verdict(ok: bool | None) -> Verdict:
    """True -> verified, False -> refuted, None -> inconclusive."""
    return "inconclusive" if ok is None else ("verified" if ok else "refuted")


def majority(flags) -> bool | None:
    """True when more than half of the decided flags (None = undecided) are true; None when
    no flag is decided. (A vote over a few named things, such as groups; over seeds, a claim
    uses `over_seeds`, which weighs the number of seeds.)"""
    decided = [bool(f) for f in flags if f is not None]
    return None if not decided else sum(decided) > len(decided) / 2


# A claim read seed by seed ("in most seeds") is decided on the fraction of seeds for which
# it holds, with its 95 % Wilson score interval: verified when the interval's lower end is
# above one half, refuted when its upper end is below one half, otherwise inconclusive. So
# all of 4 seeds (interval [0.51, 1]) verify and 2 of 2 ([0.34, 1]) do not: a verdict says how
# much seeds support it. (Wilson rather than the normal approximation: it stays inside [0, 1]
# and keeps its coverage at the few seeds a CPU affords.)
WILSON_Z = 1.959964   # the normal quantile of 97.5 %: a two-sided 95 % interval


def wilson_interval(k: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a proportion k / n ((0, 1) when n = 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class SeedVote:
    """k of n seeds hold; [lo, hi] the 95 % Wilson interval of the fraction."""
    k: int
    n: int
    lo: float
    hi: float

    @property
    def ok(self) -> bool | None:
        """True (verified), False (refuted) or None (inconclusive), as above."""
        if self.n == 0 or self.lo <= 0.5 <= self.hi:
            return None
        return self.lo > 0.5

    def __str__(self) -> str:
        return f"{self.k}/{self.n} seeds (95 % CI {self.lo:.2f}-{self.hi:.2f})"


def over_seeds(flags) -> SeedVote:
    """The vote of per-seed flags (None: the seed cannot say, left out)."""
    decided = [bool(f) for f in flags if f is not None]
    k, n = sum(decided), len(decided)
    return SeedVote(k, n, *wilson_interval(k, n))


# A claim is decided only when at least half of the runs it reads finished healthy (and at
# least one did). Which runs diverge depends on the very dynamics a claim is about (say, the
# seeds whose loss rose most), so the few survivors of a mostly diverged batch are a selected,
# not a representative, sample; with at least half left, the claims' "most seeds" readings
# rest on at least half of what was run. (One seed of one: it must be healthy; of two: one.)
MIN_HEALTHY_FRACTION = 0.5


@dataclass(frozen=True)
class Healthy:
    """The runs a claim may read: `idx`, the indices of the runs that finished without
    diverging in every phase given; `inconclusive`, a Check to return instead when too few
    did (else None); `note`, text for the verdict's measured string (empty when none
    diverged)."""

    idx: list[int]
    n: int
    inconclusive: Check | None
    note: str

    def pick(self, values) -> list:
        """The entries of a per-run list that belong to healthy runs."""
        return [values[i] for i in self.idx]


def healthy_runs(*phases, what: str = "seeds") -> Healthy:
    """The healthy runs among per-run statuses ("ok" / "diverged"), one sequence per phase
    that a claim reads (a run counts only if it is "ok" in every one of them). Too few healthy
    runs (fewer than MIN_HEALTHY_FRACTION of them, or none) make the claim inconclusive, with
    the reason, e.g. "3 of 3 seeds diverged"."""
    if not phases:
        raise ValueError("healthy_runs needs the statuses of at least one phase")
    n = len(phases[0])
    if any(len(p) != n for p in phases):
        raise ValueError(f"phases have different numbers of runs: {[len(p) for p in phases]}")
    idx = [i for i in range(n) if all(p[i] == "ok" for p in phases)]
    bad = n - len(idx)
    reason = f"{bad} of {n} {what} diverged"
    if n == 0 or not idx or len(idx) < MIN_HEALTHY_FRACTION * n:
        why = f"{reason}: too few healthy {what} to decide" if n else f"no {what} to read"
        return Healthy(idx, n, Check("inconclusive", why), reason)
    return Healthy(idx, n, None, f" ({reason}, left out)" if bad else "")


def setting_check(field: str, code, text, read_run: Callable[[], Check | None],
                  compare: Callable[[dict, str], Check]) -> Check:
    """One field of a paper's text against the authors' code (a recipe's `paper_text` and
    `reference` presets, whose values of `field` are `text` and `code`). When they agree
    nothing more runs: "verified", once `read_run()` (reading the recipe's own run as the other
    claims do) returns no inconclusive Check. Otherwise `compare(overrides, label)` runs the
    reference with `field` set to the text's value and decides."""
    if code == text:
        stop = read_run()
        if stop is not None:
            return stop
        return Check("verified", f"the text and the code agree: {field} = {code!r}")
    out = compare({field: text}, f"{field} = {text!r}")
    if out.verdict == "inconclusive":
        return out
    return Check(out.verdict, f"code {field} = {code!r}; " + out.measured)


class NotRun(Exception):
    """A claim's recipe has no finished run, and the source was told not to run it."""


class MissingData(Exception):
    """A check's declared reason to be inconclusive: the data it needs is not recorded (an
    older run, a phase the recipe did not train). Its message is the verdict's text."""


class ClaimCheckError(RuntimeError):
    """A claim's check raised something other than MissingData / NotRun: a bug, reported
    with the claim's id, never as a verdict."""


def run_claims(source: RunSource, claims, paper: str | None = None) -> list[ClaimResult]:
    """Check every claim of `claims` (an iterable of Claim; of `paper`, if given), in id
    order. A check that raises MissingData or NotRun is inconclusive with its message; any
    other exception propagates as ClaimCheckError."""
    out = []
    for c in sorted(claims, key=lambda c: c.id):
        if paper is not None and c.paper != paper:
            continue
        try:
            if c.sweep is not None and not hasattr(source, "sweep"):
                raise NotRun(f"not run: reads the sweep {c.sweep}, and this run source holds "
                             "no sweeps")
            chk = c.check(source)
        except (NotRun, MissingData) as err:
            chk = Check("inconclusive", str(err))
        except LearndynError:
            raise           # a user's mistake or a damaged run folder: its own one line
        except Exception as err:
            raise ClaimCheckError(f"claim {c.id}: its check failed with "
                                  f"{type(err).__name__}: {err} (a bug in the check or in "
                                  "the run it reads, not a verdict)") from err
        if chk.verdict not in VERDICTS:
            raise ClaimCheckError(f"claim {c.id}: its check returned the verdict "
                                  f"{chk.verdict!r}, not one of {VERDICTS}")
        out.append(ClaimResult(c.id, c.text, chk.verdict, chk.measured, c.expected))
    return out
