"""The claims ledger's run source: finished recipe runs at one scale, run on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from learndyn.core.claims import ClaimResult, papers, run_claims
from learndyn.core.store import RunStore
from learndyn.errors import ConfigError


@dataclass
class LoadedRun:
    """A finished run: its summary and (lazily) each phase's records."""

    path: Path
    summary: dict

    def records(self, phase: str):
        return RunStore(self.path / phase).load_records()


@dataclass
class RecipeRuns:
    """Runs of recipes at `scale` under `runs_dir`, run when missing (and cached)."""

    scale: str
    runs_dir: Path = Path("runs")
    progress: object = None
    seeds: int | None = None   # override every recipe's number of seeds
    _cache: dict = field(default_factory=dict)

    def get(self, recipe: str) -> LoadedRun:
        if recipe not in self._cache:
            from learndyn.recipes import load_recipe, run_recipe
            rcp = load_recipe(recipe, self.scale, {"seeds": self.seeds} if self.seeds else None)
            out = self.runs_dir / f"{rcp.name}-{self.scale}-s{rcp.seeds}"
            summary = run_recipe(rcp, out, progress=self.progress, scale=self.scale)
            self._cache[recipe] = LoadedRun(out, summary)
        return self._cache[recipe]


def register_all() -> None:
    """Import every world's claims so that they register in the ledger."""
    import learndyn.closedloop.claims  # noqa: F401
    try:
        import learndyn.grokking.claims  # noqa: F401
    except ImportError:
        pass


def ledger(source: RecipeRuns, paper: str | None = None) -> list[ClaimResult]:
    register_all()
    if paper is not None and paper not in papers():
        raise ConfigError("--paper", f"{paper!r} is not one of {papers()}")
    return run_claims(source, paper)
