"""Importing learndyn changes no process-wide setting; no frozen object is mutated after
construction (caches are explicit)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "learndyn"
MODULES = sorted(
    ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py"))

# what a process-wide setting is: every JAX config value, the environment, the warnings
# filters, NumPy's print and floating-point error settings
_SNAPSHOT = """
import json, os, sys, warnings
import numpy as np
import jax
snap = {"jax": {k: repr((v, getattr(jax.config, k, v))) for k, v in jax.config.values.items()},
        "env": dict(os.environ), "warnings": [repr(f) for f in warnings.filters],
        "numpy": [repr(np.get_printoptions()), repr(np.geterr())]}
print(json.dumps(snap))
"""

# the libraries learndyn builds on, imported first on both sides: what THEY do on import is
# not learndyn's doing (matplotlib, say, may add warnings filters; scipy.integrate adds two)
_DEPENDENCIES = ("import jax, jax.numpy, optax, optax.contrib, numpy, scipy, scipy.integrate, "
                 "xarray, zarr, pydantic, typer, rich, matplotlib, diffrax\n")


def _snapshot(before: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = str(SRC)
    res = subprocess.run([sys.executable, "-c", before + _SNAPSHOT], capture_output=True,
                         text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _diff(a: dict, b: dict) -> dict:
    return {part: {k: (a[part].get(k), b[part].get(k)) for k in set(a[part]) | set(b[part])
                   if a[part].get(k) != b[part].get(k)}
            if isinstance(a[part], dict) else (a[part], b[part])
            for part in a if a[part] != b[part]}


def test_modules_found():
    assert {"learndyn", "learndyn.cli", "learndyn.recipes", "learndyn.groups.base",
            "learndyn.closedloop.world", "learndyn.grokking.world",
            "learndyn.linear.world"} <= set(MODULES)


@pytest.mark.parametrize("order", ["learndyn-first", "dependencies-first"])
def test_importing_learndyn_changes_no_process_setting(order):
    """Every module of learndyn (each world package among them), imported before JAX (the old
    learndyn/__init__.py then set JAX_DEFAULT_MATMUL_PRECISION in the environment) or after
    it (it then called jax.config.update), leaves every JAX config value, the environment,
    the warnings filters and NumPy's settings as a fresh interpreter has them."""
    imports = "".join(f"import {m}\n" for m in MODULES)
    fresh = _snapshot(_DEPENDENCIES)
    after = _snapshot(imports + _DEPENDENCIES if order == "learndyn-first"
                      else _DEPENDENCIES + imports)
    assert after == fresh, _diff(fresh, after)


def test_precision_is_scoped_to_learndyn_work():
    """learndyn computes at "highest" matmul precision inside its block only, and a user's
    own choice (here a precision set with jax.config) is left alone."""
    import jax

    from learndyn.core.precision import float32_matmuls
    before = jax.config.jax_default_matmul_precision
    with float32_matmuls():
        inside = jax.config.jax_default_matmul_precision
    assert inside == "highest" and jax.config.jax_default_matmul_precision == before
    with jax.default_matmul_precision("bfloat16"), float32_matmuls():
        assert jax.config.jax_default_matmul_precision == "bfloat16"


def test_run_recipe_trains_at_highest_precision(tmp_path, monkeypatch):
    """run_recipe's study runs inside float32_matmuls (the precision it sees is "highest")."""
    import jax

    from learndyn import recipes
    seen = {}

    import learndyn.core.study as core_study

    def fake_run(world, recipe, store, progress=None, figures=True):
        seen["precision"] = jax.config.jax_default_matmul_precision
        return {"recipe": recipe.name}
    monkeypatch.setattr(core_study, "run_study", fake_run)
    recipes.run_recipe(recipes.load_recipe("gb2025-fig1", "smoke"), tmp_path / "out",
                       scale="smoke")
    assert seen["precision"] == "highest"
    assert jax.config.jax_default_matmul_precision is None


# -- no frozen object is mutated after construction ---------------------------------------------

def _frozen_dataclasses(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "dataclass" and any(
                        k.arg == "frozen" and getattr(k.value, "value", False) for k in d.keywords):
                    yield node


def test_no_object_setattr_and_no_cached_property_on_frozen_classes():
    """`object.__setattr__` (writing a frozen dataclass's fields) appears nowhere in learndyn,
    and no frozen dataclass holds a functools.cached_property (it writes the instance's
    __dict__ behind the frozen class's back)."""
    setattr_calls, cached_on_frozen = [], []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr == "__setattr__"
                    and getattr(node.value, "id", "") == "object"):
                setattr_calls.append(f"{path.relative_to(SRC)}:{node.lineno}")
        for cls in _frozen_dataclasses(tree):
            for item in cls.body:
                for d in getattr(item, "decorator_list", []):
                    if "cached_property" in ast.unparse(d):
                        cached_on_frozen.append(f"{path.relative_to(SRC)}:{cls.name}.{item.name}")
    assert not setattr_calls and not cached_on_frozen, (setattr_calls, cached_on_frozen)


def test_linear_plant_is_immutable_and_copies_its_input():
    import numpy as np

    from learndyn.closedloop.plants import LinearPlant
    A = np.eye(2)
    p = LinearPlant(A, [[0.0], [1.0]], [[1.0, 0.0]], name="x")
    assert A.flags.writeable                        # the caller's array is not frozen
    assert p.A is not A and not p.A.flags.writeable and p.B.dtype == np.float64
    for attr in ("A", "B", "C", "name"):
        with pytest.raises(AttributeError):
            setattr(p, attr, None)
    assert (p.nx, p.nu, p.ny) == (2, 1, 1)
