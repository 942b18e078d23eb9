"""The crash-safe run store: interrupted writes, damaged folders, the write lock."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import learndyn
from learndyn.cli import app
from learndyn.core.schedule import record_steps
from learndyn.core.store import RunStore
from learndyn.errors import LearndynError

sys.path.insert(0, str(Path(__file__).parent))
from _util import one_line_error  # noqa: E402
from test_trainer import Trainer, init, keys, run, small_problem  # noqa: E402

runner = CliRunner()
STEPS = record_steps(30, 6, 5)   # 12 records: 6 chunks of 2


_TRAINER = []


def trainer():
    """One trainer for the whole file: its chunk program compiles once."""
    if not _TRAINER:
        prob = small_problem()
        _TRAINER.append((prob, Trainer(prob.step, prob.observe, obs_dims=prob.obs_dims,
                                       records_per_chunk=2)))
    return _TRAINER[0]


class Killed(BaseException):
    """Stands for a SIGKILL in-process: nothing after the raise runs (not an Exception, so
    that no handler on the way catches it)."""


@pytest.fixture(scope="module")
def reference():
    prob, tr = trainer()
    return run(tr, init(prob, keys(2)), STEPS)


def resume_equals_reference(path, reference):
    prob, tr = trainer()
    res = run(tr, init(prob, keys(2)), STEPS, store=RunStore(path))
    np.testing.assert_array_equal(res.records.step.values, STEPS)  # no step twice
    # the same programs on the same checkpointed state: the same bits
    for name in reference.records.data_vars:
        np.testing.assert_array_equal(res.records[name].values, reference.records[name].values)
    return res


def partial_to_zarr(subset):
    """A to_zarr that dies part-way through its write (after the group metadata, or after
    the first variable), as a process killed inside the write would."""
    def fake(self, store, *args, **kw):
        if subset:
            first = list(self.data_vars)[:1]
            real(self[first], store, *args, **kw)
        else:
            real(xr.Dataset(), store, mode="w", consolidated=False)
        raise Killed()
    real = xr.Dataset.to_zarr
    return fake


@pytest.mark.parametrize("subset", [False, True], ids=["group-only", "first-variable"])
@pytest.mark.parametrize("at_chunk", [0, 2])
def test_kill_inside_a_records_write_resumes_identically(tmp_path, monkeypatch, reference,
                                                         subset, at_chunk):
    """Killed inside the first (or a later) records write: the rerun does not fail on the
    half-written store and records what an uninterrupted run records."""
    prob, tr = trainer()
    calls = {"n": 0}
    fake = partial_to_zarr(subset)
    real = xr.Dataset.to_zarr

    def sometimes(self, store, *a, **kw):
        calls["n"] += 1
        if calls["n"] == at_chunk + 1:
            return fake(self, store, *a, **kw)
        return real(self, store, *a, **kw)
    monkeypatch.setattr(xr.Dataset, "to_zarr", sometimes)
    with pytest.raises(Killed):
        run(tr, init(prob, keys(2)), STEPS, store=RunStore(tmp_path / "p"))
    monkeypatch.undo()
    partial = RunStore(tmp_path / "p").load_records()   # readable, and only whole chunks
    assert partial.sizes.get("step", 0) == 2 * at_chunk
    resume_equals_reference(tmp_path / "p", reference)


def test_kill_between_records_and_checkpoint_does_not_duplicate(tmp_path, monkeypatch,
                                                                reference):
    """Killed after a chunk's records and before its checkpoint (the first chunk's, or a
    later one's): the chunk is not committed, so the rerun records each step once."""
    for at_chunk in (0, 3):
        prob, tr = trainer()
        real = RunStore.save_checkpoint

        def dies(self, *a, chunk, **kw):
            if chunk == at_chunk:
                raise Killed()
            return real(self, *a, chunk=chunk, **kw)
        monkeypatch.setattr(RunStore, "save_checkpoint", dies)
        path = tmp_path / f"k{at_chunk}"
        with pytest.raises(Killed):
            run(tr, init(prob, keys(2)), STEPS, store=RunStore(path))
        monkeypatch.undo()
        assert RunStore(path).load_records().sizes.get("step", 0) == 2 * at_chunk
        resume_equals_reference(path, reference)


def finished(tmp_path, reference):
    path = tmp_path / "done"
    resume_equals_reference(path, reference)
    return RunStore(path)


def chunk_files(store, variable, kind):
    """The files of `variable` in the records: its chunk (data) files or its metadata."""
    files = [p for p in store.records_path.rglob("*") if p.is_file()
             and variable in p.relative_to(store.records_path).parts]
    meta = [p for p in files if p.name in ("zarr.json", ".zarray", ".zattrs")]
    return meta if kind == "meta" else [p for p in files if p not in meta]


def test_a_deleted_chunk_file_is_refused_not_read_as_nan(tmp_path, reference):
    store = finished(tmp_path, reference)
    victim = sorted(chunk_files(store, "loss", "data"))[1]
    victim.unlink()
    with pytest.raises(LearndynError, match="missing") as err:
        store.load_records()
    assert str(victim) in str(err.value) and "\n" not in str(err.value)


def test_a_deleted_variable_metadata_is_refused_not_dropped(tmp_path, reference):
    store = finished(tmp_path, reference)
    for p in chunk_files(store, "loss", "meta"):
        p.unlink()
    with pytest.raises(LearndynError, match="missing"):
        store.load_records()


def test_a_resized_chunk_file_and_a_corrupt_manifest_are_refused(tmp_path, reference):
    store = finished(tmp_path, reference)
    victim = sorted(chunk_files(store, "eig", "data"))[0]
    victim.write_bytes(victim.read_bytes()[:-3])
    with pytest.raises(LearndynError, match="bytes where the manifest committed"):
        store.load_records()
    man = store.path / "manifest.json"
    man.write_text(man.read_text()[:100])
    with pytest.raises(LearndynError, match="manifest.json: not valid JSON"):
        store.load_records()
    prob, tr = trainer()   # and a resume refuses it too, in one line
    with pytest.raises(LearndynError, match="manifest.json"):
        run(tr, init(prob, keys(2)), STEPS, store=store)


# -- the CLI on a damaged finished run ------------------------------------------------------

def damaged_copy(gb_smoke_run, tmp_path, damage):
    out, _ = gb_smoke_run
    runs = tmp_path / "runs"
    copy = runs / out.name
    shutil.copytree(out, copy)
    store = RunStore(copy / "open")   # not the first phase: show must check every phase
    if damage == "chunk-file":
        target = sorted(chunk_files(store, "loss", "data"))[2]
        target.unlink()
    elif damage == "variable-meta":
        target = chunk_files(store, "gains", "meta")[0]
        for p in chunk_files(store, "gains", "meta"):
            p.unlink()
    elif damage == "summary":
        target = copy / "summary.json"
        target.write_text(target.read_text()[: len(target.read_text()) // 2])
    elif damage == "recipe":
        target = copy / "recipe.toml"
        target.write_text("name = [unclosed\n")
    return runs, copy, target


@pytest.mark.parametrize("damage", ["chunk-file", "variable-meta", "summary", "recipe"])
def test_show_run_and_claims_refuse_a_damaged_run_in_one_line(gb_smoke_run, tmp_path,
                                                              monkeypatch, damage):
    runs, copy, target = damaged_copy(gb_smoke_run, tmp_path, damage)
    monkeypatch.chdir(tmp_path)
    named = str(target) if damage in ("summary", "recipe") else str(copy / "open")
    if damage != "recipe":   # show reads no recipe
        one_line_error(runner.invoke(app, ["show", str(copy)]), named)
    one_line_error(runner.invoke(app, ["run", "gb2025-fig1", "--quiet", "--out", str(copy)]),
                   named)
    one_line_error(runner.invoke(app, ["claims", "--paper", "ger-barak-2025", "--runs-dir",
                                       str(runs), "--no-run"]), named)
    # --run first trains the paper's other recipes that have no run (gb2025-theory and
    # gb2025-fig6 read before gb2025-fig1, their progress bars shown); on reaching the damaged
    # run it stops with one error line, no traceback
    r = runner.invoke(app, ["claims", "--paper", "ger-barak-2025", "--runs-dir", str(runs),
                            "--run"])
    assert r.exit_code == 2, r.output
    last = [ln for ln in r.output.strip().splitlines() if ln.strip()][-1]
    assert last.startswith("error:") and named in last, last
    assert "Traceback" not in r.output


# -- the write lock --------------------------------------------------------------------------

HOLD = """
import sys, time
from learndyn.core.store import RunStore
with RunStore(sys.argv[1]).lock():
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_writer_gets_one_line_naming_the_holder_and_a_kill_frees_the_lock(tmp_path):
    out = tmp_path / "run"
    env_path = str(Path(learndyn.__file__).resolve().parents[1])
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True, env={"PYTHONPATH": env_path, "JAX_PLATFORMS": "cpu",
                                              "PATH": "/usr/bin:/bin"})
    try:
        assert holder.stdout.readline().strip() == "held"
        line = one_line_error(runner.invoke(app, ["run", "gb2025-fig1", "--quiet", "--out",
                                                  str(out)]), f"pid {holder.pid}", "host")
        assert "since" in line
        assert not (out / "recipe.toml").exists()   # the second writer wrote nothing
    finally:
        holder.kill()   # SIGKILL: the OS releases the flock, no stale lock is left
        holder.wait()
    t0 = time.monotonic()
    with RunStore(out).lock():
        pass
    assert time.monotonic() - t0 < 5


def test_old_layout_is_refused_in_one_line(tmp_path):
    old = tmp_path / "closed"
    (old / "records.zarr").mkdir(parents=True)
    (old / "meta.json").write_text('{"chunk": 0, "step": 1, "complete": true}')
    with pytest.raises(LearndynError, match="older learndyn"):
        RunStore(old).load_records()
