"""Recipes: TOML files under experiments/, one per reproduced figure or study.

A recipe is a table of fields validated by the world's pydantic schema (`study` names the
world), plus `[scales.smoke]` / `[scales.paper]` tables whose (dotted) keys override fields:

    name = "gb2025-fig1"
    study = "closedloop"
    [train]
    epochs = 1000
    [scales.smoke]
    train.epochs = 40
    agent.n = 16

Every user mistake becomes one line naming the field and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import tomli_w
from pydantic import BaseModel, ValidationError

from learndyn.errors import ConfigError, LearndynError

SCALES = ("smoke", "paper")


@dataclass(frozen=True)
class Study:
    schema: type[BaseModel]
    run: Callable[..., dict]


def _studies() -> dict[str, Study]:
    """The worlds' study runners (imported lazily: `learndyn list` stays fast)."""
    from learndyn.closedloop.config import ClosedLoopRecipe
    from learndyn.closedloop.study import run_study as run_closedloop
    studies = {"closedloop": Study(ClosedLoopRecipe, run_closedloop)}
    try:
        from learndyn.grokking.config import Li2Recipe
        from learndyn.grokking.study import run_study as run_li2
        studies["li2"] = Study(Li2Recipe, run_li2)
    except ImportError:
        pass
    return studies


def recipe_dirs() -> list[Path]:
    """Where recipes are looked up: $LEARNDYN_RECIPES, ./experiments, the repo's experiments/."""
    dirs = []
    if os.environ.get("LEARNDYN_RECIPES"):
        dirs.append(Path(os.environ["LEARNDYN_RECIPES"]))
    dirs.append(Path.cwd() / "experiments")
    dirs.append(Path(__file__).resolve().parents[2] / "experiments")
    seen, out = set(), []
    for d in dirs:
        if d.is_dir() and d.resolve() not in seen:
            seen.add(d.resolve())
            out.append(d)
    return out


def list_recipes() -> dict[str, Path]:
    """name -> path of every recipe found (first directory wins)."""
    out: dict[str, Path] = {}
    for d in recipe_dirs():
        for p in sorted(d.glob("*.toml")):
            out.setdefault(p.stem, p)
    return out


def find_recipe(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" and p.exists():
        return p
    found = list_recipes()
    if name_or_path in found:
        return found[name_or_path]
    raise ConfigError("RECIPE", f"no recipe named {name_or_path!r}; available: "
                      f"{', '.join(sorted(found)) or '(none found)'}")


def _deep_merge(base: dict, over: dict, prefix: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v, f"{prefix}{k}.")
        else:
            out[k] = v
    return out


def _format_validation(err: ValidationError, schema: type[BaseModel], where: str) -> ConfigError:
    e = err.errors()[0]
    loc = ".".join(str(x) for x in e["loc"])
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        model = schema
        for part in e["loc"][:-1]:
            field = model.model_fields.get(str(part))
            ann = getattr(field, "annotation", None) if field else None
            model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
            if model is None:
                break
        allowed = sorted(model.model_fields) if model else []
        msg = "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif "input" in e and e["type"] != "missing" and not isinstance(e["input"], dict):
        msg = f"{msg} (got {e['input']!r})"
    msg = msg.replace("Value error, ", "")
    return ConfigError(f"{where}{loc}" if loc else where.rstrip(": ") or "recipe", msg)


def load_recipe(name_or_path: str, scale: str = "smoke",
                overrides: dict[str, Any] | None = None) -> BaseModel:
    """Read, apply the scale and overrides (dotted keys), and validate a recipe."""
    if scale not in SCALES:
        raise ConfigError("--scale", f"{scale!r} is not one of {list(SCALES)}")
    path = find_recipe(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), f"not valid TOML: {err}") from None
    return validate_recipe(raw, scale, overrides, where=path.stem)


def validate_recipe(raw: dict, scale: str = "smoke", overrides: dict[str, Any] | None = None,
                    where: str = "recipe") -> BaseModel:
    raw = dict(raw)
    scales = raw.pop("scales", {})
    unknown = set(scales) - set(SCALES)
    if unknown:
        raise ConfigError("scales", f"unknown scale {sorted(unknown)[0]!r}; allowed: {list(SCALES)}")
    if scale in scales:
        raw = _deep_merge(raw, scales[scale])
    for key, value in (overrides or {}).items():
        node = raw
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    studies = _studies()
    study = raw.get("study")
    if study not in studies:
        raise ConfigError("study", f"{study!r} is not one of {sorted(studies)}")
    schema = studies[study].schema
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        raise _format_validation(err, schema, f"{where}: ") from None


def recipe_toml(recipe: BaseModel) -> str:
    return tomli_w.dumps(recipe.model_dump(mode="json", exclude_none=True))


def recipe_hash(recipe: BaseModel) -> str:
    return hashlib.sha256(recipe_toml(recipe).encode()).hexdigest()[:16]


def default_out(recipe: BaseModel, scale: str, runs_dir: Path = Path("runs")) -> Path:
    return runs_dir / f"{recipe.name}-{scale}-s{recipe.seeds}"


def finished_summary(recipe: BaseModel, out: Path) -> dict | None:
    """The summary of a finished run of exactly `recipe` in folder `out`, or None when `out`
    holds no finished run. Raises LearndynError when `out` holds a run (finished or not) of a
    different recipe, or of another version of this one."""
    from learndyn.core.store import RunStore
    store = RunStore(out)
    old = store.read_text("recipe.toml")
    if old is None:
        return None
    try:
        old_fields = tomllib.loads(old)
    except tomllib.TOMLDecodeError as err:
        from learndyn.core.store import StoreError
        raise StoreError(f"{out / 'recipe.toml'}: not valid TOML ({err}); the run folder is "
                         "damaged, delete it or choose another --out folder") from None
    if old_fields != tomllib.loads(recipe_toml(recipe)):  # same fields and values
        raise LearndynError(f"--out: {out} holds a run of a different recipe; choose another "
                            "--out folder or delete it")
    summary = store.read_summary()
    if summary is None or not summary.get("complete"):
        return None
    store.check_run()   # a finished run whose records are damaged is refused, not read as NaN
    return summary


def run_recipe(recipe: BaseModel, out: Path, progress=None, scale: str = "") -> dict:
    """Run a validated recipe into folder `out`; a finished run is read back, not recomputed.
    The folder's write lock (`RunStore.lock`) is held throughout: a second writer fails."""
    from learndyn.core.store import RunStore
    store = RunStore(out)
    with store.lock():   # one writer per run folder; a second one gets a one-line error
        summary = finished_summary(recipe, out)
        if summary is not None:
            return summary
        store.write_text("recipe.toml", recipe_toml(recipe))
        study = _studies()[recipe.study]
        summary = study.run(recipe, store, progress=progress)
        summary["scale"] = scale
        summary["complete"] = True
        store.write_summary(summary)
        return summary
