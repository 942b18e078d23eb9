"""`learndyn sweep`: the sweep file, the manifest, resume after kill -9, failed cells, the
sweep's Dataset."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import learndyn
from learndyn.errors import ConfigError
from learndyn.sweep import LocalExecutor, load_sweep, open_dataset, read_manifest, run_sweep

SRC = str(Path(learndyn.__file__).resolve().parents[1])

# a two-layer linear network at a tiny size: a cell runs in about a second
TINY = """
name = "tiny"
recipe = "saxe2014-modes"
seeds = 2
[set]
epochs = {epochs}
[grid]
lr = [0.002, 0.004]
[zip]
N2 = [4, 5]
N3 = [4, 5]
"""


def write(tmp: Path, text: str, name: str = "sweep.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_cells_are_the_grid_times_the_zip(tmp_path):
    sw = load_sweep(write(tmp_path, TINY.format(epochs=200)))
    assert [d for d, _ in sw.dims] == ["lr", "N2"]
    assert [c.coords for c in sw.cells] == [
        {"lr": 0.002, "N2": 4, "N3": 4}, {"lr": 0.002, "N2": 5, "N3": 5},
        {"lr": 0.004, "N2": 4, "N3": 4}, {"lr": 0.004, "N2": 5, "N3": 5}]
    # each cell is the recipe with the overrides `learndyn run` would apply
    c = sw.cells[3].recipe
    assert (c.lr, c.N2, c.N3, c.epochs, c.seeds) == (0.004, 5, 5, 200, 2)
    assert len({c.hash for c in sw.cells}) == 4


@pytest.mark.parametrize("text, field", [
    (TINY.format(epochs=200) + "\nbogus = 1\n", "bogus"),
    (TINY.format(epochs=200).replace("lr = [0.002, 0.004]", "lr = 0.002"), "grid.lr"),
    (TINY.format(epochs=200).replace("N3 = [4, 5]", "N3 = [4, 5, 6]"), "zip"),
    (TINY.format(epochs=200).replace("lr = [0.002, 0.004]", "lr = [0.002, -1.0]"), "lr"),
    (TINY.format(epochs=200).replace("[set]", "[set]\nlr = 0.1"), "lr"),
    (TINY.format(epochs=200).replace('recipe = "saxe2014-modes"', 'recipe = "nope"'), "RECIPE"),
])
def test_bad_sweep_is_one_line_naming_the_field(tmp_path, text, field):
    with pytest.raises(ConfigError) as err:
        load_sweep(write(tmp_path, text))
    assert err.value.field.startswith(field) or field in str(err.value)
    assert "\n" not in str(err.value)


def test_scale_table_replaces_the_top_level(tmp_path):
    text = TINY.format(epochs=200) + '\n[scales.big]\nseeds = 3\n[scales.big.set]\nepochs = 300\n'
    sw = load_sweep(write(tmp_path, text), "big")
    assert {(c.recipe.seeds, c.recipe.epochs) for c in sw.cells} == {(3, 300)}
    with pytest.raises(ConfigError, match="--scale"):
        load_sweep(write(tmp_path, text), "huge")


def test_sweep_runs_records_and_resumes_without_recomputing(tmp_path):
    sw = load_sweep(write(tmp_path, TINY.format(epochs=200)))
    out = tmp_path / "out"
    seen = []
    m = run_sweep(sw, out, LocalExecutor(workers=1), progress=lambda d, n, c: seen.append(d))
    assert seen[-1] == 4 and [c["status"] for c in m["cells"].values()] == ["done"] * 4
    for c in m["cells"].values():
        assert c["versions"]["jax"] and c["seconds"] > 0 and (out / c["run"] / "summary.json").exists()
    ds = open_dataset(out)
    assert dict(ds.sizes) == {"lr": 2, "N2": 2, "variant": 1, "seed": 2}
    assert list(ds["N3"].values) == [4.0, 5.0]
    # the Dataset holds what each cell's summary says
    cell = m["cells"]["1-0"]
    summ = json.loads((out / cell["run"] / "summary.json").read_text())
    final = summ["phases"]["train"]["per_seed"]["final_loss"]
    np.testing.assert_array_equal(ds["final_loss"].sel(lr=0.004, N2=4.0).values[0], final)
    # a second run of the finished sweep runs nothing
    again = run_sweep(sw, out, LocalExecutor(workers=1),
                      progress=lambda d, n, c: c and pytest.fail("a finished cell ran again"))
    assert again["cells"] == m["cells"]


def test_failed_cell_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import learndyn.recipes as recipes
    real = recipes.run_recipe

    def flaky(recipe, out, **kw):
        if recipe.lr == 0.004 and recipe.N2 == 4:
            raise RuntimeError("injected failure")
        return real(recipe, out, **kw)
    monkeypatch.setattr(recipes, "run_recipe", flaky)
    sw = load_sweep(write(tmp_path, TINY.format(epochs=200)))
    m = run_sweep(sw, tmp_path / "out", LocalExecutor(workers=1))
    status = {k: c["status"] for k, c in m["cells"].items()}
    assert status == {"0-0": "done", "0-1": "done", "1-0": "failed", "1-1": "done"}
    assert "injected failure" in m["cells"]["1-0"]["error"]
    ds = open_dataset(tmp_path / "out")
    assert str(ds["cell_status"].sel(lr=0.004, N2=4.0).values) == "failed"
    assert np.isnan(ds["final_loss"].sel(lr=0.004, N2=4.0).values).all()
    # a rerun retries the failed cell only
    monkeypatch.setattr(recipes, "run_recipe", real)
    ran = []
    m = run_sweep(sw, tmp_path / "out", LocalExecutor(workers=1),
                  progress=lambda d, n, c: c and ran.append(c["coords"]))
    assert ran == [{"lr": 0.004, "N2": 4, "N3": 4}] and m["cells"]["1-0"]["status"] == "done"


def _cli(args, cwd, **kw):
    env = {**os.environ, "PYTHONPATH": SRC, "LEARNDYN_COMPILE_CACHE": "0"}
    return subprocess.Popen([sys.executable, "-c", "from learndyn.cli import main; main()",
                             *args], cwd=cwd, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def test_kill_9_mid_sweep_then_resume(tmp_path):
    """kill -9 the sweep's whole process group (the sweep and its two workers) once some cells
    are recorded and others are not; the rerun keeps every recorded cell (not recomputed) and
    finishes the rest; the result equals an uninterrupted sweep's."""
    text = TINY.format(epochs=3000).replace("lr = [0.002, 0.004]", "lr = [0.002, 0.003, 0.004]")
    path = write(tmp_path, text)
    out = tmp_path / "killed"
    p = _cli(["sweep", str(path), "--out", str(out), "--workers", "2", "--quiet"], tmp_path)
    deadline = time.time() + 240
    done: dict = {}
    while time.time() < deadline and p.poll() is None:
        try:
            cells = read_manifest(out).get("cells", {})
        except Exception:   # noqa: BLE001 -- the file is replaced atomically; retry
            cells = {}
        done = {k: c for k, c in cells.items() if c.get("status") == "done"}
        if done:
            break
        time.sleep(0.05)
    assert p.poll() is None, "the sweep ended before a kill could land"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    before = read_manifest(out)["cells"]
    assert 1 <= sum(c["status"] == "done" for c in before.values()) < 6
    p = _cli(["sweep", str(path), "--out", str(out), "--workers", "2", "--quiet"], tmp_path)
    assert p.wait(timeout=300) == 0, p.stdout.read().decode()
    after = read_manifest(out)["cells"]
    assert all(c["status"] == "done" for c in after.values())
    for k, c in before.items():
        if c["status"] == "done":
            assert after[k] == c      # recorded before the kill: kept, not run again
    ref = tmp_path / "ref"
    p = _cli(["sweep", str(path), "--out", str(ref), "--workers", "2", "--quiet"], tmp_path)
    assert p.wait(timeout=300) == 0
    a, b = open_dataset(out), open_dataset(ref)
    for name in ("final_loss", "stage_boundaries[0]"):
        # same program, same seeds, same thread count: equal to the bit
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_seed_axis_and_the_benchmark_quick(tmp_path):
    """The sweep benchmark's machinery (quick: its numbers mean nothing): cells over the
    first seed (dimension first_seed beside each cell's seeds), one process against workers."""
    from learndyn.bench_loader import load_harness
    bench = load_harness()
    rows = bench.run_benchmarks(["sweep-local"], quick=True, peak_flops=5e10)
    (row,) = rows
    assert row["name"] == "sweep-local" and row["unit"] == "run"
    assert row["baseline_s"] > 0 and row["learndyn_s"] > 0 and row["fraction_of_peak"] > 0
    sw = load_sweep(write(tmp_path, TINY.format(epochs=100).replace("lr = [0.002, 0.004]",
                                                                   "seed = [0, 2]")))
    run_sweep(sw, tmp_path / "out", LocalExecutor(workers=1))
    ds = open_dataset(tmp_path / "out")
    assert dict(ds.sizes) == {"first_seed": 2, "N2": 2, "variant": 1, "seed": 2}


def test_ray_executor_on_a_local_instance(tmp_path):
    """The Ray path a cluster takes (tasks, results back, the same manifest and Dataset), on a
    local Ray instance of 2 workers started here: the cells equal the local executor's."""
    pytest.importorskip("ray")
    from learndyn.sweep import RayExecutor
    sw = load_sweep(write(tmp_path, TINY.format(epochs=200)))
    m = run_sweep(sw, tmp_path / "ray", RayExecutor("local", workers=2))
    assert [c["status"] for c in m["cells"].values()] == ["done"] * 4
    run_sweep(sw, tmp_path / "local", LocalExecutor(workers=2))
    a, b = open_dataset(tmp_path / "ray"), open_dataset(tmp_path / "local")
    # both run each cell in a single-threaded worker: the same program, equal to the bit
    np.testing.assert_array_equal(a["final_loss"].values, b["final_loss"].values)


def test_li2_fig5_smoke_sweep_writes_its_phase_diagram(tmp_path):
    """The shipped li2-fig5 sweep at smoke scale: outcomes per run over (M, p), censored runs
    counted apart, the diagram's JSON and figure (the fits are tested in test_phase.py)."""
    repo = Path(__file__).resolve().parents[1]
    sw = load_sweep(repo / "experiments" / "sweeps" / "li2-fig5.toml", "smoke",
                    {"train.epochs": 60})
    run_sweep(sw, tmp_path / "f5", LocalExecutor(workers=1))
    doc = json.loads((tmp_path / "f5" / "phase.json").read_text())
    assert doc["M"] == [7.0, 11.0] and doc["p"] == [0.2, 0.5, 0.8]
    ds = open_dataset(tmp_path / "f5")
    for i in range(2):
        for j in range(3):
            o = [str(x) for x in ds["outcome"].isel(group=i).isel({"data.ratio": j}).values.ravel()]
            decided = sum(x in ("generalises", "memorises", "neither") for x in o)
            assert doc["n_decided"][i][j] == decided
            assert doc["n_censored"][i][j] == len(o) - decided
    assert (tmp_path / "f5" / "phase.png").stat().st_size > 10_000
    # the claims that read this sweep are checked on it and written beside it
    from learndyn.sweep import sweep_claims
    rows = {r.id: r for r in sweep_claims(sw, tmp_path / "f5")}
    assert set(rows) == {"li2.scaling_log_m_over_m", "li2.sharp_transition"}
    assert all(r.measured.startswith("sweep li2-fig5 --scale smoke") for r in rows.values())
    saved = json.loads((tmp_path / "f5" / "claims.json").read_text())
    assert [r["id"] for r in saved] == sorted(rows)


def test_seed_table_over_the_sweep(tmp_path):
    text = 'table = ["train.final_loss", "train.nope"]\n' + TINY.format(epochs=100)
    sw = load_sweep(write(tmp_path, text))
    run_sweep(sw, tmp_path / "out", LocalExecutor(workers=1))
    md = (tmp_path / "out" / "table.md").read_text().splitlines()
    ds = open_dataset(tmp_path / "out")
    v = ds["final_loss"].values.ravel()
    assert md[2].startswith(f"| train.final_loss | {v.size} | {np.median(v):.4g} |")
    assert md[3] == "| train.nope | 0 | n/a | | |"
    with pytest.raises(ConfigError, match="table"):
        load_sweep(write(tmp_path, 'table = "x"\n' + TINY.format(epochs=100)))


def test_seed_cells_are_packed_into_one_batch(tmp_path):
    """Cells that differ only in their seeds, with seed ranges that follow on, run as one
    recipe over all their seeds (one run folder); each cell reads its slice, and the numbers
    are the unpacked cells' up to float32 rounding that depends on the batch size."""
    text = TINY.format(epochs=100).replace("lr = [0.002, 0.004]", "seed = [0, 2, 4]")
    sw = load_sweep(write(tmp_path, text))
    from learndyn.sweep import Pack, packs
    units = packs(sw, sw.cells, parts=1)
    # two groups (N2 = 4 and 5), each one pack of its three cells
    assert len(units) == 2 and all(isinstance(u, Pack) for u in units)
    assert units[0].overrides["seeds"] == 6 and units[0].slices() == [(0, 2), (2, 2), (4, 2)]
    assert len(packs(sw, sw.cells, parts=2)) == 4          # split so that each worker gets one
    m = run_sweep(sw, tmp_path / "packed", LocalExecutor(workers=1))
    runs = {c["run"] for c in m["cells"].values()}
    assert len(runs) == 2 and all("/pack-" in r for r in runs)
    assert sorted(tuple(c["slice"]) for c in m["cells"].values()) == [(0, 2)] * 2 + [(2, 2)] * 2 + [(4, 2)] * 2
    unpacked = load_sweep(write(tmp_path, "pack = false\n" + text, "u.toml"))
    run_sweep(unpacked, tmp_path / "unpacked", LocalExecutor(workers=1))
    a, b = open_dataset(tmp_path / "packed"), open_dataset(tmp_path / "unpacked")
    assert a["final_loss"].shape == b["final_loss"].shape
    # the same runs (seed k's key whatever its batch): float32 rounding differences only
    np.testing.assert_allclose(a["final_loss"].values, b["final_loss"].values, rtol=1e-4)
    # a gap in the seeds breaks the run: [0, 5] do not follow on (0-1, then 5-6)
    gap = load_sweep(write(tmp_path, text.replace("seed = [0, 2, 4]", "seed = [0, 5]"), "g.toml"))
    assert not any(isinstance(u, Pack) for u in packs(gap, gap.cells, parts=1))
