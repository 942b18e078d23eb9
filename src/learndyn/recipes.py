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
import re
import tempfile
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


def _looks_like_path(name_or_path: str) -> bool:
    return name_or_path.endswith(".toml") or "/" in name_or_path or os.sep in name_or_path


def find_recipe(name_or_path: str) -> Path:
    """The recipe file of a recipe name or a path; a missing file or a directory is refused."""
    p = Path(name_or_path)
    if not name_or_path.strip():
        raise ConfigError("RECIPE", f"empty recipe name; available: {', '.join(sorted(list_recipes()))}")
    if _looks_like_path(name_or_path) or (p.exists() and name_or_path not in list_recipes()):
        if p.is_dir():
            raise ConfigError("RECIPE", f"{p} is a directory, not a recipe file (a .toml file)")
        if p.is_file():
            return p
        if _looks_like_path(name_or_path):
            raise ConfigError("RECIPE", f"no recipe file {p} (file not found)")
    found = list_recipes()
    if name_or_path in found:
        return found[name_or_path]
    raise ConfigError("RECIPE", f"no recipe named {name_or_path!r}; available: "
                      f"{', '.join(sorted(found)) or '(none found)'}")


def read_toml(path: Path, what: str) -> dict:
    """A TOML file's table; unreadable, non-UTF-8 or invalid TOML is one ConfigError naming it."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise ConfigError(what, f"{path} is a directory, not a TOML file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(what, f"{path} is not UTF-8 text (byte {err.start}: "
                          f"{err.object[err.start:err.start + 1]!r})") from None
    except OSError as err:
        raise ConfigError(what, f"cannot read {path}: {err.strerror or err}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(what, f"{path} is not valid TOML: {err}") from None


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
    # a model validator's message that starts with the field it is about ("plant.B must ...",
    # "task.type: ..."): name that field, once
    m = re.match(r"([A-Za-z_][\w.]*)(:?) (.*)", msg)
    if m and (m.group(1) == loc or m.group(1).startswith(f"{loc}.") or (not loc and m.group(2))):
        loc, msg = m.group(1), m.group(3)
    return ConfigError(f"{where}{loc}" if loc else where.rstrip(": ") or "recipe", msg)


def load_recipe(name_or_path: str, scale: str = "smoke",
                overrides: dict[str, Any] | None = None) -> BaseModel:
    """Read, apply the scale and overrides (dotted keys), and validate a recipe."""
    if scale not in SCALES:
        raise ConfigError("--scale", f"{scale!r} is not one of {list(SCALES)}")
    path = find_recipe(name_or_path)
    raw = read_toml(path, "RECIPE")
    return validate_recipe(raw, scale, overrides, where=path.stem)


def validate_recipe(raw: dict, scale: str = "smoke", overrides: dict[str, Any] | None = None,
                    where: str = "recipe") -> BaseModel:
    if not isinstance(raw, dict):
        raise ConfigError(where, f"a recipe is a table of fields, got {type(raw).__name__}")
    raw = copy.deepcopy(raw)
    scales = raw.pop("scales", {})
    if not isinstance(scales, dict):
        raise ConfigError(f"{where}: scales", f"must be a table of [scales.smoke] / [scales.paper] "
                          f"tables, got {scales!r}")
    unknown = set(scales) - set(SCALES)
    if unknown:
        raise ConfigError("scales", f"unknown scale {sorted(unknown)[0]!r}; allowed: {list(SCALES)}")
    for name, table in scales.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: scales.{name}", f"must be a table of field overrides, "
                              f"got {table!r}")
    if scale in scales:
        raw = _deep_merge(raw, scales[scale])
    for key, value in (overrides or {}).items():
        node = raw
        parts = key.split(".")
        for i, p in enumerate(parts[:-1]):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{where}: {'.'.join(parts[:i + 1])}",
                                  f"is not a table, so {key!r} cannot be set")
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


def _drop_none(x):
    if isinstance(x, dict):
        return {k: _drop_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_drop_none(v) for v in x]
    return x


def recipe_toml(recipe: BaseModel) -> str:
    # None (TOML has no null) is left out after the fields' serializers ran, so a field whose
    # None has a TOML spelling (train.clip = false) keeps it
    return tomli_w.dumps(_drop_none(recipe.model_dump(mode="json")))


def recipe_hash(recipe: BaseModel) -> str:
    return hashlib.sha256(recipe_toml(recipe).encode()).hexdigest()[:16]


def default_out(recipe: BaseModel, scale: str, runs_dir: Path = Path("runs")) -> Path:
    out = runs_dir / f"{recipe.name}-{scale}-s{recipe.seeds}"
    # recipe.name is a safe file name (validated), so this holds; kept as a guard (symlinks are
    # not followed: a run folder that is a link the user made is fine)
    if Path(os.path.abspath(out)).parent != Path(os.path.abspath(runs_dir)):
        raise ConfigError("name", f"{recipe.name!r} would place the run folder outside {runs_dir}")
    return out


def check_out(out: Path) -> None:
    """Refuse (one line naming --out) a run folder that is a file or cannot be written, before
    anything is trained; creates nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LearndynError(f"--out: {out} is a file, not a folder; choose another --out")
    top = out
    while not top.exists() and top.parent != top:
        top = top.parent
    if not top.is_dir():
        raise LearndynError(f"--out: {top} is a file, so the folder {out} cannot be created; "
                            "choose another --out")
    try:
        _probe_write(top)
    except OSError as err:
        raise LearndynError(f"--out: {out} is not writable ({top}: {err.strerror or err}); "
                            "choose another --out") from None


def _probe_write(folder: Path) -> None:
    """Raises OSError unless a file can be created in `folder` (read-only file systems too)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(13, "Permission denied")
    fd, name = tempfile.mkstemp(prefix=".learndyn-probe-", dir=folder)
    os.close(fd)
    os.unlink(name)


def finished_summary(recipe: BaseModel, out: Path) -> dict | None:
    """The summary of a finished run of exactly `recipe` in folder `out`, or None when `out`
    holds no finished run. Raises LearndynError when `out` holds a run (finished or not) of a
    different recipe, or of another version of this one, or a corrupt recipe.toml."""
    from learndyn.core.store import RunStore, StoreError
    store = RunStore(out)
    path = Path(out) / "recipe.toml"
    if not path.exists():
        return None
    try:
        old = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        # a damaged run folder (StoreError), which the ledger reports rather than "not run"
        raise StoreError(f"--out: {path} is corrupt ({' '.join(str(err).split())}); delete "
                         "it or choose another --out folder") from None
    if old != tomllib.loads(recipe_toml(recipe)):  # same fields and values
        raise LearndynError(f"--out: {out} holds a run of a different recipe; choose another "
                            "--out folder or delete it")
    summary = store.read_summary()
    if summary is None or not summary.get("complete"):
        return None
    store.check_run()   # a finished run whose records are damaged is refused, not read as NaN
    return summary


def run_recipe(recipe: BaseModel, out: Path, progress=None, scale: str = "") -> dict:
    """Run a validated recipe into folder `out`; a finished run is read back, not recomputed.
    A folder that cannot be written is refused before anything is trained; the folder's write
    lock (`RunStore.lock`) is held throughout, so a second writer fails in one line; an OSError
    while writing becomes one line naming --out."""
    from learndyn.core.store import RunStore
    check_out(out)
    store = RunStore(out)
    with store.lock():   # one writer per run folder
        summary = finished_summary(recipe, out)
        if summary is not None:
            return summary
        try:
            store.write_text("recipe.toml", recipe_toml(recipe))
            study = _studies()[recipe.study]
            summary = study.run(recipe, store, progress=progress)
            summary["scale"] = scale
            summary["complete"] = True
            store.write_summary(summary)
        except OSError as err:
            raise LearndynError(f"--out: cannot write {err.filename or out} "
                                f"({err.strerror or err})") from None
        return summary
