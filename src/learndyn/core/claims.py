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
