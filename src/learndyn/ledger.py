"""The claims ledger's run source: finished recipe runs at one scale, run on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from learndyn.core.claims import ClaimResult, NotRun, run_claims
from learndyn.core.store import RunStore, StoreError
from learndyn.errors import ConfigError, LearndynError


@dataclass
class LoadedRun:
    """A finished run: its summary and (lazily) each phase's records."""

    path: Path
    summary: dict

    def records(self, phase: str):
        return RunStore(self.path / phase).load_records()


@dataclass
class LoadedSweep:
    """A finished sweep: its folder, the sweep's scale, its manifest and phase diagram (None
    without a [phase]); `dataset()` its results (an xarray Dataset)."""

    path: Path
    name: str
    scale: str
    manifest: dict
    phase: dict | None
    set: dict = field(default_factory=dict)   # the fields the sweep set in every cell

    @property
    def where(self) -> str:
        """The sweep and scale, with what that scale sets (for a claim's measured text)."""
        sets = ", ".join(f"{k}={v}" for k, v in self.set.items())
        return f"sweep {self.name} --scale {self.scale}" + (f" ({sets})" if sets else "")

    @classmethod
    def read(cls, path: Path, name: str, scale: str) -> "LoadedSweep":
        import json

        from learndyn.sweep import read_manifest
        import tomllib
        ph, st = Path(path) / "phase.json", Path(path) / "sweep.toml"
        sets = tomllib.loads(st.read_text()).get("set", {}) if st.exists() else {}
        return cls(Path(path), name, scale, read_manifest(path),
                   json.loads(ph.read_text()) if ph.exists() else None, sets)

    def dataset(self):
        from learndyn.sweep import open_dataset
        return open_dataset(self.path)


@dataclass
class RecipeRuns:
    """Runs of recipes at `scale` under `runs_dir`, run when missing (and cached)."""

    scale: str
    runs_dir: Path = Path("runs")
    progress: object = None
    seeds: int | None = None   # override every recipe's number of seeds
    overrides: dict = field(default_factory=dict)   # --set: applied to every recipe run
    run_missing: bool = True   # False: a recipe without a finished run makes its claims inconclusive
    _cache: dict = field(default_factory=dict)

    def get(self, recipe: str, overrides: dict | None = None) -> LoadedRun:
        """The finished run of `recipe` (with the ledger's overrides, then `overrides`)."""
        from learndyn.recipes import default_out, load_recipe, run_recipe
        over = {**self.overrides, **({"seeds": self.seeds} if self.seeds else {}),
                **(overrides or {})}
        rcp = load_recipe(recipe, self.scale, over or None)
        out = default_out(rcp, self.scale, self.runs_dir)
        # keyed by the run folder: two requests that resolve to the same run (the recipe's
        # own preset named explicitly, say) read it once
        if out not in self._cache:
            if self.run_missing:
                summary = run_recipe(rcp, out, progress=self.progress, scale=self.scale)
            else:
                name = recipe + "".join(f" --set {k}={v}" for k, v in (overrides or {}).items())
                summary = self._finished(rcp, out, name)
            self._cache[out] = LoadedRun(out, summary)
        return self._cache[out]

    def sweep(self, name: str) -> LoadedSweep:
        """The finished sweep `name` (experiments/sweeps/NAME.toml) for the ledger's scale.
        Smoke reads the sweep's smoke scale. Paper reads the first finished of the file's
        top level (the paper's size) and its other scales in file order (smaller ones, such
        as cpu); when none has finished it runs the last of them (by the files' convention
        the cheapest: li2-fig5's cpu, not its ~52 h paper scale), or with run_missing off
        makes the claim inconclusive. The claim's text names the scale it read."""
        from learndyn.sweep import default_out, finished, find_sweep, load_sweep, sweep_scales
        if ("sweep", name) in self._cache:
            return self._cache[("sweep", name)]
        path = find_sweep(name)
        scales = sweep_scales(path)
        cands = ["smoke"] if self.scale == "smoke" else [s for s in scales if s != "smoke"]
        if not set(cands) <= set(scales):
            raise NotRun(f"not run: the sweep {name} has no {self.scale} scale")
        sweeps = {s: load_sweep(path, s, self.overrides or None) for s in cands}
        outs = {s: default_out(sw, self.runs_dir) for s, sw in sweeps.items()}
        pick = next((s for s in cands if finished(sweeps[s], outs[s])), None)
        if pick is None:
            pick = cands[-1]
            if not self.run_missing:
                raise NotRun(f"not run: no finished {outs[pick]} (learndyn sweep {name} "
                             f"--scale {pick})")
            from learndyn.sweep import LocalExecutor, run_sweep
            run_sweep(sweeps[pick], outs[pick], LocalExecutor())
        loaded = LoadedSweep.read(outs[pick], name, pick)
        self._cache[("sweep", name)] = loaded
        return loaded

    def _finished(self, rcp, out: Path, recipe: str) -> dict:
        """The summary of the finished run of exactly this recipe in `out`, else NotRun."""
        from learndyn.recipes import finished_summary
        hint = (f"(learndyn run {recipe} --scale {self.scale}"
                + (f" --seeds {self.seeds})" if self.seeds else ")"))
        try:
            summary = finished_summary(rcp, out)
        except StoreError:
            raise   # a damaged run folder: one line from the CLI, not a quiet "not run"
        except LearndynError:
            raise NotRun(f"not run: {out} holds a run of an older version of the recipe "
                         f"{hint}") from None
        if summary is None:
            raise NotRun(f"not run: no finished {out} {hint}")
        return summary


def ledger(source: RecipeRuns, paper: str | None = None) -> list[ClaimResult]:
    """Every claim of the worlds in `learndyn.worlds` (of `paper`, if given), checked."""
    from learndyn.worlds import all_claims
    claims = all_claims()
    known = sorted({c.paper for c in claims})
    if paper is not None and paper not in known:
        raise ConfigError("--paper", f"{paper!r} is not one of {known}")
    return run_claims(source, claims, paper)
