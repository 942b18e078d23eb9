"""The worlds learndyn ships, listed in this one place.

A world is a package with a ``world`` module whose ``WORLD`` object takes the shape of
``learndyn.core.world.World``. Adding a world is one package plus one line here: the recipe's
``study`` value and the module that holds its ``WORLD``. Modules are imported on first use
(``learndyn list`` stays fast), and an import error is raised, never skipped.

A world outside learndyn needs no line here: a recipe names it as ``study = "module:NAME"``,
where ``module`` is importable (installed, on ``PYTHONPATH``, or a ``module.py`` in the
current folder) and ``NAME`` is its World object (or a class, which is called with no
arguments). Its schema's ``study`` field must accept that same string. See the README's
"Your own world" and ``examples/linreg/``.
"""

from __future__ import annotations

import importlib
import os
import sys

from learndyn.errors import ConfigError

# recipe `study` -> the module that defines WORLD
WORLDS: dict[str, str] = {
    "closedloop": "learndyn.closedloop.world",
    "gb_theory": "learndyn.closedloop.theory.world",
    "li2": "learndyn.grokking.world",
    "deep_linear": "learndyn.linear.world",
}


# what core reads off a world (core.world.World); `table` and `stages` are optional
_NEEDS = ("study", "schema", "phases", "analyse", "figures", "claims")


def get_world(study: str):
    """The World of a recipe's ``study``: a listed world, or ``"module:NAME"`` for a world
    outside learndyn. An unknown study is one line naming the allowed values."""
    if study in WORLDS:
        return importlib.import_module(WORLDS[study]).WORLD
    if ":" not in study:
        raise ConfigError("study", f"{study!r} is not one of {sorted(WORLDS)}, nor "
                          "'module:NAME' naming a world of your own")
    return _external_world(study)


def _external_world(study: str):
    module_name, _, attr = study.partition(":")
    if not module_name or not attr:
        raise ConfigError("study", f"{study!r}: a world of your own is 'module:NAME' (both "
                          "parts non-empty)")
    try:
        module = _import_user_module(module_name)
    except ModuleNotFoundError as err:
        # only the named module itself missing is the user's mistake; a module missing
        # inside it is an error of that module and is raised as it is
        if err.name is None or not (module_name == err.name
                                    or module_name.startswith(err.name + ".")):
            raise
        raise ConfigError("study", f"{study!r}: no module {module_name!r} on the Python path "
                          "or in the current folder") from None
    obj = getattr(module, attr, None)
    if obj is None:
        raise ConfigError("study", f"{study!r}: module {module_name!r} has no {attr!r}")
    world = obj() if isinstance(obj, type) else obj
    missing = [n for n in _NEEDS if not hasattr(world, n)]
    if missing:
        raise ConfigError("study", f"{study!r} is not a World: it lacks {', '.join(missing)} "
                          "(see learndyn.core.world)")
    if world.study != study:
        raise ConfigError("study", f"{study!r}: the world's own study is {world.study!r}; "
                          "the recipe must name it the same way")
    return world


def _import_user_module(name: str):
    """Import ``name`` from the Python path, else from the current folder (where a user runs
    ``learndyn`` beside their ``module.py``); the current folder is not left on the path."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        top = name.split(".")[0]
        if err.name != top or os.getcwd() in sys.path:
            raise
    sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(os.getcwd())


def all_worlds() -> list:
    return [get_world(s) for s in WORLDS]


def all_claims() -> list:
    """Every claim of every world (each world's ClaimSet), in the order listed."""
    return [c for w in all_worlds() for c in w.claims()]


def papers() -> list[str]:
    return sorted({c.paper for c in all_claims()})
