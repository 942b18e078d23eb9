"""Shared fixtures. Tests run on the CPU in float32 unless a test asks for float64."""

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# the CLI's persistent compilation cache stays off in the tests (they compile in a fresh
# process each run, as CI does; the cache is tested in test_cli)
os.environ.setdefault("LEARNDYN_COMPILE_CACHE", "0")

import jax  # noqa: E402

# Strict dtype promotion in the tests (issue 10): an implicit promotion between array dtypes
# (int32 + float32, float32 + float64) is an error, so a computation cannot silently change
# precision. Python scalars stay weakly typed. Library code sets nothing process-wide.
jax.config.update("jax_numpy_dtype_promotion", "strict")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def gb_smoke_run(tmp_path_factory):
    """One smoke-scale run of gb2025-fig1, shared by the tests that read a finished run."""
    from learndyn.recipes import load_recipe, run_recipe
    out = tmp_path_factory.mktemp("runs") / "gb2025-fig1-smoke-s2"
    rcp = load_recipe("gb2025-fig1", "smoke")
    summary = run_recipe(rcp, out, scale="smoke")
    return out, summary


@pytest.fixture()
def in_tmp_repo(tmp_path, monkeypatch):
    """Run in an empty folder that has the repo's experiments/ (CLI tests write runs/ there)."""
    shutil.copytree(REPO / "experiments", tmp_path / "experiments")
    monkeypatch.chdir(tmp_path)
    return tmp_path

