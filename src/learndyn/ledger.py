"""The claims ledger's run source: finished recipe runs at one scale, run on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from learndyn.core.claims import ClaimResult, NotRun, papers, run_claims
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
    run_missing: bool = True   # False: a recipe without a finished run makes its claims inconclusive
    _cache: dict = field(default_factory=dict)

    def get(self, recipe: str) -> LoadedRun:
        if recipe not in self._cache:
            from learndyn.recipes import load_recipe, run_recipe
            rcp = load_recipe(recipe, self.scale, {"seeds": self.seeds} if self.seeds else None)
            out = self.runs_dir / f"{rcp.name}-{self.scale}-s{rcp.seeds}"
            if not self.run_missing:
                self._check_finished(out, rcp, recipe)
            summary = run_recipe(rcp, out, progress=self.progress, scale=self.scale)
            self._cache[recipe] = LoadedRun(out, summary)
        return self._cache[recipe]


    def _check_finished(self, out: Path, rcp, recipe: str) -> None:
        """Raise NotRun unless `out` holds a finished run of exactly this recipe."""
        import tomllib

        from learndyn.recipes import recipe_toml
        store = RunStore(out)
        hint = f"(learndyn run {recipe} --scale {self.scale})"
        if not (store.read_summary() or {}).get("complete"):
            raise NotRun(f"not run: no finished {out} {hint}")
        old = store.read_text("recipe.toml")
        if old is None or tomllib.loads(old) != tomllib.loads(recipe_toml(rcp)):
            raise NotRun(f"not run: {out} holds a run of an older version of the recipe {hint}")


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
