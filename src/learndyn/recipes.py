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

Overrides (`--set train.lr=5e-3`, `--seeds N`; dotted keys) are applied after the scale's
table and validated like the file. The validated recipe records how it was resolved in its
`resolved` field (core/config.Resolution: the scale, and the overrides that changed a field),
which a run folder's recipe.toml keeps as its [resolved] table:

    [resolved]
    scale = "smoke"
    [resolved.overrides]
    "train.lr" = 0.005

Every user mistake becomes one line naming the field and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Iterable, get_args

import tomli_w
from pydantic import BaseModel, ValidationError

from learndyn.core.precision import float32_matmuls
from learndyn.errors import ConfigError, LearndynError

SCALES = ("smoke", "paper")


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
    """`over` merged into `base`, table by table; a table of `over` whose ``type`` differs
    from `base`'s replaces it (one kind's fields are not another's)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if (isinstance(v, dict) and isinstance(out.get(k), dict) and "type" in v
                and not _same(v["type"], out[k].get("type", _MISSING))):
            out[k] = copy.deepcopy(v)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v, f"{prefix}{k}.")
        else:
            out[k] = v
    return out


def _union_members(ann) -> dict:
    """{type tag: model} of a discriminated-union annotation (core.options.named_union), or
    {} for any other annotation."""
    from learndyn.core.options import type_tag
    args = get_args(ann)
    if args and get_args(args[0]):      # Annotated[Union[...], Field(discriminator)]
        args = get_args(args[0])
    if not args or not all(isinstance(m, type) and issubclass(m, BaseModel) for m in args):
        return {}
    try:
        return {type_tag(m): m for m in args}
    except (AttributeError, KeyError, TypeError, ValueError):
        return {}


def _walk(schema: type[BaseModel], loc: tuple) -> tuple[list[str], type[BaseModel] | None]:
    """The user's field path of a pydantic error location (the type tag that pydantic puts
    after a discriminated-union field is dropped: ``plant.linear.A`` is ``plant.A``), and
    the model at the location's parent (None past the models)."""
    path: list[str] = []
    model: type[BaseModel] | None = schema
    rest = list(loc)
    while rest:
        part = rest.pop(0)
        path.append(str(part))
        field = model.model_fields.get(str(part)) if model is not None else None
        ann = getattr(field, "annotation", None) if field else None
        members = _union_members(ann)
        if members and rest and rest[0] in members:
            model = members[rest.pop(0)]
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        elif rest:
            model = None
    return path, model


def _parent(schema: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    return _walk(schema, loc[:-1])[1] if len(loc) > 1 else schema


def _format_validation(err: ValidationError, schema: type[BaseModel], where: str) -> ConfigError:
    e = err.errors()[0]
    path, _ = _walk(schema, tuple(e["loc"]))
    loc = ".".join(path)
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        model = _parent(schema, tuple(e["loc"]))
        allowed = sorted(model.model_fields) if model else []
        msg = "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif e["type"] in ("union_tag_invalid", "union_tag_not_found"):
        ctx = e.get("ctx", {})
        loc = f"{loc}.type" if loc else "type"
        msg = (f"{ctx.get('tag')!r} is not one of [{ctx.get('expected_tags')}]"
               if e["type"] == "union_tag_invalid"
               else f"missing; allowed: {ctx.get('expected_tags')}")
    elif "input" in e and e["type"] != "missing" and not isinstance(e["input"], dict):
        msg = f"{msg} (got {e['input']!r})"
    msg = msg.replace("Value error, ", "")
    # a model validator's message that starts with the field it is about ("plant.B must ...",
    # "task.type: ..."): name that field, once
    m = re.match(r"([A-Za-z_][\w.]*)(:?) (.*)", msg)
    if m and (m.group(1) == loc or m.group(1).startswith(f"{loc}.") or (not loc and m.group(2))):
        loc, msg = m.group(1), m.group(3)
    return ConfigError(f"{where}{loc}" if loc else where.rstrip(": ") or "recipe", msg)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_NOT_SETTABLE = ("scales", "resolved")


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` options -> {dotted KEY: value}, a later KEY replacing an earlier one.
    VALUE is read as a TOML value (5e-3 a float, true a bool, "x" a string, [1, 2] a list,
    {a = 1} a table); anything that is not one TOML value is the string itself (a bare word
    such as regulation). Spaces around KEY and VALUE are dropped."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep:
            raise ConfigError("--set", f"{item!r} is not KEY=VALUE; allowed: a dotted field "
                              "name, '=', a value (e.g. --set train.lr=5e-3)")
        if not key:
            raise ConfigError("--set", f"{item!r} has an empty KEY; allowed: a dotted field "
                              "name before '=' (e.g. --set train.lr=5e-3)")
        parts = key.split(".")
        if not all(_BARE_KEY.fullmatch(p) for p in parts):
            raise ConfigError("--set", f"{key!r} is not a dotted field name; allowed: names of "
                              "letters, digits, '_' and '-' joined by '.' (e.g. train.lr)")
        if parts[0] in _NOT_SETTABLE:
            raise ConfigError("--set", f"{key!r}: {parts[0]} cannot be set; allowed: the "
                              "recipe's fields (--scale chooses the scale table)")
        out[key] = _toml_value(text)
    return out


def _toml_value(text: str) -> Any:
    try:
        doc = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    return doc["v"] if list(doc) == ["v"] else text


def load_recipe(name_or_path: str, scale: str = "smoke",
                overrides: dict[str, Any] | None = None) -> BaseModel:
    """Read, apply the scale and overrides (dotted keys), and validate a recipe."""
    if scale not in SCALES:
        raise ConfigError("--scale", f"{scale!r} is not one of {list(SCALES)}")
    path = find_recipe(name_or_path)
    raw = read_toml(path, "RECIPE")
    return validate_recipe(raw, scale, overrides, where=path.stem)


def preset_field(name: str, preset: str, field: str):
    """The value of the dotted `field` in recipe `name` with `preset` (at paper scale), as the
    recipe would write it (an option by its name): what a claim comparing two presets one
    field at a time sets on top of the other."""
    obj = load_recipe(name, "paper", {"preset": preset})
    for part in field.split("."):
        obj = getattr(obj, part)
    return obj.model_dump(mode="json") if hasattr(obj, "model_dump") else obj


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types (so 1, 1.0 and true differ, as they do in TOML)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


_MISSING = object()


def _apply_override(raw: dict, key: str, value: Any, where: str) -> bool:
    """Set the dotted `key` of `raw` to `value` (a table value is merged into the table it
    replaces, as a scale's table is); True when that changed the recipe. Setting a table's
    ``type`` to another kind replaces the table by ``{type = value}``: the old kind's fields
    do not carry over to the new one (``--set plant.type=linear`` then sets A, B, C)."""
    node = raw
    parts = key.split(".")
    for i, p in enumerate(parts[:-1]):
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: {'.'.join(parts[:i + 1])}",
                              f"is not a table, so {key!r} cannot be set")
    before = node.get(parts[-1], _MISSING)
    if parts[-1] == "type" and len(parts) > 1 and before is not _MISSING \
            and not _same(before, value):
        node.clear()
    if isinstance(value, dict) and isinstance(before, dict):
        node[parts[-1]] = _deep_merge(before, value)
    else:
        node[parts[-1]] = copy.deepcopy(value)
    return before is _MISSING or not _same(before, node[parts[-1]])


def _type_first(overrides: dict) -> list:
    """The overrides with every ``X.type`` before the other fields (a type change clears
    its table, which must not drop fields set with it)."""
    items = list(overrides.items())
    return ([kv for kv in items if kv[0].split(".")[-1] == "type"]
            + [kv for kv in items if kv[0].split(".")[-1] != "type"])


def _apply_preset(raw: dict, chosen: Any, where: str, resolved: bool) -> dict:
    """`raw` with its preset table merged in: a recipe's ``[presets.NAME]`` tables are sets of
    field values (the authors' code's conventions, the paper text's, ...), ``preset = NAME``
    picks one, and ``--set preset=OTHER`` another. The preset is applied before the scale's
    table and the overrides; a resolved recipe (a run folder's recipe.toml) has it applied
    already and keeps it."""
    presets = raw.pop("presets", None)
    if presets is None:
        if chosen is not None and not resolved:
            raise ConfigError(f"{where}: preset", f"{chosen!r}: this recipe defines no "
                              "[presets.NAME] tables")
        if resolved and chosen is not None and not _same(raw.get("preset"), chosen):
            raise ConfigError(f"{where}: preset", f"the run was resolved with preset "
                              f"{raw.get('preset')!r}; another preset is another run "
                              f"(allowed: {raw.get('preset')!r})")
        return raw
    if not isinstance(presets, dict) or not all(isinstance(v, dict) for v in presets.values()):
        raise ConfigError(f"{where}: presets", "must be [presets.NAME] tables of field values")
    if resolved:
        raise ConfigError(f"{where}: resolved", "a resolved recipe (a run folder's "
                          "recipe.toml) has no [presets] tables; remove one of them")
    if not isinstance(chosen, str) or chosen not in presets:
        raise ConfigError(f"{where}: preset", f"{chosen!r} is not one of {sorted(presets)}")
    out = _deep_merge(raw, presets[chosen])
    out["preset"] = chosen
    return out


def validate_recipe(raw: dict, scale: str = "smoke", overrides: dict[str, Any] | None = None,
                    where: str = "recipe") -> BaseModel:
    """The validated recipe of the table `raw` at `scale` with `overrides`; its `resolved`
    field records the scale and the overrides that changed a field. A table that was resolved
    already (a run folder's recipe.toml, with its [resolved] table and no [scales]) keeps its
    scale, which `scale` must then be, and adds the new overrides to its recorded ones."""
    if not isinstance(raw, dict):
        raise ConfigError(where, f"a recipe is a table of fields, got {type(raw).__name__}")
    raw = copy.deepcopy(raw)
    prior = raw.pop("resolved", None)
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
    recorded: dict[str, Any] = {}
    if prior is not None:
        if not isinstance(prior, dict) or not isinstance(prior.get("overrides", {}), dict):
            raise ConfigError(f"{where}: resolved", "must be the table learndyn records (scale, "
                              f"overrides), got {prior!r}")
        if scales:
            raise ConfigError(f"{where}: resolved", "a resolved recipe (a run folder's "
                              "recipe.toml) has no [scales] tables; remove one of them")
        if prior.get("scale") != scale:
            raise ConfigError("--scale", f"{where} was resolved at scale {prior.get('scale')!r} "
                              f"(its [resolved] table), not {scale!r}; allowed: --scale "
                              f"{prior.get('scale')}")
        recorded = dict(prior.get("overrides", {}))
    overrides = dict(overrides or {})
    if "preset" in overrides:
        chosen = overrides.pop("preset")
        if not _same(raw.get("preset", _MISSING), chosen):
            recorded["preset"] = chosen
    else:
        chosen = raw.get("preset")
    raw = _apply_preset(raw, chosen, where, resolved=prior is not None)
    if scale in scales:
        raw = _deep_merge(raw, scales[scale])
    for key, value in _type_first(overrides):
        if _apply_override(raw, key, value, where):
            recorded[key] = value
    raw["resolved"] = {"scale": scale, "overrides": recorded}
    from learndyn.worlds import get_world
    study = raw.get("study")
    if not isinstance(study, str):
        from learndyn.worlds import WORLDS
        raise ConfigError("study", f"{study!r} is not one of {sorted(WORLDS)}")
    schema = get_world(study).schema
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        raise _format_validation(err, schema, f"{where}: ") from None


def resolution(recipe: BaseModel) -> dict:
    """{"scale": ..., "overrides": {...}} of a validated recipe (JSON values), as its
    recipe.toml records them; no scale and no overrides for a recipe built without
    validate_recipe."""
    res = getattr(recipe, "resolved", None)
    return res.model_dump(mode="json") if res is not None else {"scale": None, "overrides": {}}


def overrides_tag(recipe: BaseModel) -> str:
    """"" without overrides, else "-set" and 8 hex digits of a hash of them: what tells the
    default run folders of one recipe with different overrides apart. `seeds` is left out
    (the folder name has the number of seeds)."""
    over = {k: v for k, v in resolution(recipe)["overrides"].items() if k != "seeds"}
    if not over:
        return ""
    text = json.dumps(over, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "-set" + hashlib.sha256(text.encode()).hexdigest()[:8]


def format_overrides(overrides: dict) -> str:
    """The overrides as --set options would write them: train.lr=0.005 agent.n=32."""
    return " ".join(f"{k}={json.dumps(v)}" for k, v in overrides.items()) or "none"


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
    """runs_dir/NAME-SCALE-sSEEDS, with -set<hash8> added when the recipe has overrides
    besides seeds (`overrides_tag`)."""
    out = runs_dir / f"{recipe.name}-{scale}-s{recipe.seeds}{overrides_tag(recipe)}"
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
    different recipe, or of another version of this one, or a corrupt recipe.toml.

    "Exactly" includes how the recipe was resolved: a run at another scale or with other
    overrides is a different recipe. A run folder written before recipe.toml recorded that
    (no [resolved] table) is read when it is a finished run of the same fields at the same
    scale (its summary.json's), and refused in one line otherwise."""
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
    new = tomllib.loads(recipe_toml(recipe))   # same fields and values
    if "resolved" not in old and "resolved" in new:
        summary = store.read_summary()
        fields = {k: v for k, v in new.items() if k != "resolved"}
        if (old != fields or summary is None or not summary.get("complete")
                or summary.get("scale") != new["resolved"]["scale"]):
            raise LearndynError(f"--out: {out} holds a run that does not record its scale and "
                                "overrides (an older learndyn) and is not a finished run of "
                                "this recipe; choose another --out folder or delete it")
    elif old != new:
        raise LearndynError(f"--out: {out} holds a run of a different recipe; choose another "
                            "--out folder or delete it")
    summary = store.read_summary()
    if summary is None or not summary.get("complete"):
        return None
    store.check_run()   # a finished run whose records are damaged is refused, not read as NaN
    return summary


def read_resolution(run_dir: Path) -> dict | None:
    """The [resolved] table (scale, overrides) of a run folder's recipe.toml; None when the
    folder has no recipe.toml or one without it (written by an older learndyn). A corrupt
    recipe.toml is a StoreError."""
    from learndyn.core.store import StoreError
    path = Path(run_dir) / "recipe.toml"
    if not path.is_file():
        return None
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise StoreError(f"RUN: {path} is corrupt ({' '.join(str(err).split())})") from None
    res = doc.get("resolved")
    return res if isinstance(res, dict) else None


def run_recipe(recipe: BaseModel, out: Path, progress=None, scale: str = "",
               figures: bool = True) -> dict:
    """Run a validated recipe into folder `out`; a finished run is read back, not recomputed.
    A folder that cannot be written is refused before anything is trained; the folder's write
    lock (`RunStore.lock`) is held throughout, so a second writer fails in one line; an OSError
    while writing becomes one line naming --out. figures=False draws none (a sweep's cells)."""
    from learndyn.core.store import RunStore
    check_out(out)
    store = RunStore(out)
    with store.lock():   # one writer per run folder
        summary = finished_summary(recipe, out)
        if summary is not None:
            return summary
        try:
            store.write_text("recipe.toml", recipe_toml(recipe))
            from learndyn.core.study import run_study
            from learndyn.worlds import get_world
            world = get_world(recipe.study)
            with float32_matmuls():   # learndyn's precision, for this block only
                summary = run_study(world, recipe, store, progress=progress, figures=figures)
            summary["scale"] = scale or resolution(recipe)["scale"] or ""
            summary["complete"] = True
            store.write_summary(summary)
        except OSError as err:
            raise LearndynError(f"--out: cannot write {err.filename or out} "
                                f"({err.strerror or err})") from None
        return summary
