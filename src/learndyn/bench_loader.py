"""Where `learndyn bench` finds the benchmark harness, and how it imports it.

The harness and the benchmarks live in the repository's `benchmarks/` folder, not in the
installed package (they import PyTorch baselines and time whole trainings: no part of the
library uses them). `load_harness` imports that folder as the package `learndyn_benchmarks`
(its modules import one another relatively) and returns its `harness` module. The folder
is the first of these that holds a `harness.py`:

    $LEARNDYN_BENCHMARKS                  (a benchmarks folder anywhere)
    ./benchmarks, ../benchmarks, ...      (the current directory and its parents: a checkout)
    the repository this source tree is in (an editable install, `pip install -e .`)

A plain (non-editable) install without a checkout finds none: a one-line error says so.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from learndyn.errors import ConfigError

PACKAGE = "learndyn_benchmarks"


def candidate_dirs() -> list[Path]:
    """The folders searched for harness.py, in order."""
    out = []
    env = os.environ.get("LEARNDYN_BENCHMARKS")
    if env:
        out.append(Path(env))
    cwd = Path.cwd().resolve()
    out += [d / "benchmarks" for d in (cwd, *cwd.parents)]
    out.append(Path(__file__).resolve().parents[2] / "benchmarks")
    return out


def find_benchmarks() -> Path:
    """The benchmarks folder (see the module docstring); ConfigError when there is none."""
    env = os.environ.get("LEARNDYN_BENCHMARKS")
    if env and not (Path(env) / "harness.py").is_file():
        raise ConfigError("LEARNDYN_BENCHMARKS", f"{env} has no harness.py; allowed: a "
                          "benchmarks folder of the learndyn repository")
    for d in candidate_dirs():
        if (d / "harness.py").is_file():
            return d.resolve()
    raise ConfigError("bench", "no benchmarks folder found (the benchmarks ship with the "
                      "learndyn repository, not the installed package): run from a checkout, "
                      "install it with pip install -e, or set LEARNDYN_BENCHMARKS")


def load_harness(folder: Path | None = None) -> ModuleType:
    """The `harness` module of the benchmarks folder `folder` (default: `find_benchmarks()`),
    imported once per process as `learndyn_benchmarks.harness`."""
    folder = Path(folder).resolve() if folder is not None else find_benchmarks()
    package = sys.modules.get(PACKAGE)
    if package is None:
        # a package whose modules are the folder's files (nothing of the folder runs yet)
        spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
    elif Path(package.__path__[0]).resolve() != folder:
        raise ConfigError("bench", f"the benchmarks of {package.__path__[0]} are already "
                          f"loaded in this process; cannot also load {folder}")
    return importlib.import_module(f"{PACKAGE}.harness")
