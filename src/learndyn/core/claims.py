"""The claims ledger: every claim of a paper as an executable check on recorded data.

A world registers its claims with `@claim(...)`; each check receives a context that can fetch
finished runs (running the recipe when it has not run yet) and returns a `Check`: the verdict
and the measured numbers as text. Nothing in a verdict is typed in: it is computed from the
records each time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol

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
    """What a check may ask for: a finished run of a recipe at the ledger's scale."""

    scale: str

    def get(self, recipe: str) -> Any: ...


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    text: str
    expected: str
    check: Callable[[RunSource], Check]


REGISTRY: dict[str, Claim] = {}


def claim(id: str, *, paper: str, text: str, expected: str):
    """Register a check function as the claim `id` of `paper`."""
    def deco(fn: Callable[[RunSource], Check]):
        if id in REGISTRY and REGISTRY[id].check is not fn:
            raise ValueError(f"claim {id!r} registered twice")
        REGISTRY[id] = Claim(id, paper, text, expected, fn)
        return fn
    return deco


def verdict(ok: bool | None) -> Verdict:
    """True -> verified, False -> refuted, None -> inconclusive."""
    return "inconclusive" if ok is None else ("verified" if ok else "refuted")


def majority(flags) -> bool | None:
    """True when more than half of the decided flags (None = undecided) are true; None when
    no flag is decided."""
    decided = [bool(f) for f in flags if f is not None]
    return None if not decided else sum(decided) > len(decided) / 2


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


def papers() -> list[str]:
    return sorted({c.paper for c in REGISTRY.values()})


class NotRun(Exception):
    """A claim's recipe has no finished run, and the source was told not to run it."""


def run_claims(source: RunSource, paper: str | None = None) -> list[ClaimResult]:
    """Check every registered claim (of `paper`, if given), in id order."""
    out = []
    for cid in sorted(REGISTRY):
        c = REGISTRY[cid]
        if paper is not None and c.paper != paper:
            continue
        try:
            chk = c.check(source)
        except NotRun as err:
            chk = Check("inconclusive", str(err))
        except (KeyError, ValueError, IndexError) as err:  # missing data -> cannot decide
            chk = Check("inconclusive", f"check could not run: {err}")
        out.append(ClaimResult(c.id, c.text, chk.verdict, chk.measured, c.expected))
    return out
