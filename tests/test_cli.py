"""The command line and recipes: errors in one line, run/show/list/claims."""

import json

import pytest
from typer.testing import CliRunner

import learndyn.core.study as core_study
from learndyn.cli import app
from learndyn.errors import ConfigError
from learndyn.recipes import load_recipe, validate_recipe
from _util import one_line_error

runner = CliRunner()


def test_list_shows_recipes():
    r = runner.invoke(app, ["list"])
    assert r.exit_code == 0 and "gb2025-fig1" in r.output


@pytest.mark.parametrize("override,field", [
    ({"agent.n": -3}, "agent.n"),
    ({"agent.nn": 3}, "agent.nn"),
    ({"agent.rank": 500}, "agent.rank"),
    ({"train.optimizer": "lbfgs"}, "train.optimizer"),
    ({"plant.type": "linear", "plant.A": [[1.0, 1.0]], "plant.B": [[0.0]], "plant.C": [[1.0]]},
     "plant.A"),
])
def test_bad_recipe_field_named_in_one_line(override, field):
    with pytest.raises(ConfigError) as err:
        load_recipe("gb2025-fig1", "smoke", override)
    msg = str(err.value)
    assert field in msg and "\n" not in msg


def test_unknown_field_lists_allowed():
    with pytest.raises(ConfigError, match="allowed: .*activation"):
        load_recipe("gb2025-fig1", "smoke", {"agent.nn": 3})


def test_bad_study_and_scale():
    with pytest.raises(ConfigError, match="study"):
        validate_recipe({"name": "x", "study": "nope"})
    with pytest.raises(ConfigError, match="--scale"):
        load_recipe("gb2025-fig1", "huge")


def test_cli_errors_are_one_line(in_tmp_repo):
    one_line_error(runner.invoke(app, ["run", "no-such-recipe"]), "RECIPE", "gb2025-fig1")
    one_line_error(runner.invoke(app, ["run", "gb2025-fig1", "--seeds", "0"]), "seeds")
    one_line_error(runner.invoke(app, ["run", "gb2025-fig1", "--scale", "big"]), "--scale")
    bad = in_tmp_repo / "experiments" / "bad.toml"
    bad.write_text('name = "bad"\nstudy = "closedloop"\n[agent]\nactivation = "sigmoid"\n')
    one_line_error(runner.invoke(app, ["run", "bad"]), "agent.activation", "tanh")
    one_line_error(runner.invoke(app, ["show", "nowhere"]), "RUN")
    one_line_error(runner.invoke(app, ["claims", "--paper", "nobody-2099"]), "--paper")


def test_finished_run_summary_and_figures(gb_smoke_run):
    out, summary = gb_smoke_run
    for mode in ("closed", "open"):
        for key in ("final_loss", "peak_deployed_loss", "initial_deployed_loss",
                    "first_stable_step", "final_gains"):
            assert key in summary[mode]
        assert len(summary[mode]["final_gains"]) == 2
    assert "stage_boundaries" in summary
    assert 0.0 <= summary["over_seeds"]["open_peak_above_initial_fraction"] <= 1.0
    assert summary["over_seeds"]["first_stable_step"]["closed"].keys() >= {"median", "q25", "q75"}
    for name in ("loss_curves", "eigenvalue_paths", "gain_paths"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
    assert (out / "recipe.toml").exists() and (out / "closed" / "records.zarr").exists()
    r = runner.invoke(app, ["show", str(out)])
    assert r.exit_code == 0 and "final_loss" in r.output
    r = runner.invoke(app, ["show", str(out), "--json"])
    assert json.loads(r.output)["recipe"] == "gb2025-fig1"


def test_rerun_of_finished_run_does_not_recompute(gb_smoke_run, monkeypatch):
    import learndyn.recipes as recipes
    out, summary = gb_smoke_run

    def boom(*a, **k):
        raise AssertionError("recomputed a finished run")
    rcp = load_recipe("gb2025-fig1", "smoke")
    monkeypatch.setattr(core_study, "run_study", boom)
    again = recipes.run_recipe(rcp, out, scale="smoke")
    assert again["closed"]["final_loss"] == summary["closed"]["final_loss"]


def test_claims_json_has_exactly_the_keys(gb_smoke_run):
    out, _ = gb_smoke_run
    r = runner.invoke(app, ["claims", "--paper", "ger-barak-2025", "--scale", "smoke",
                            "--runs-dir", str(out.parent), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    ids = {row["id"] for row in rows}
    assert {"gb.closed.plateau", "gb.closed.stabilises_at_plateau_end", "gb.open.deployed_peak",
            "gb.same_final_loss", "gb.gain_paths"} <= ids
    for row in rows:
        assert set(row) == {"id", "claim", "verdict", "measured", "expected"}
        assert row["verdict"] in ("verified", "refuted", "inconclusive")


def test_claims_no_run_reads_finished_runs_and_runs_nothing(gb_smoke_run, monkeypatch):
    """--no-run: a recipe with a finished run is checked; one without a run, or with a run of
    an older version of the recipe, gives inconclusive claims instead of being run."""
    import shutil

    import learndyn.recipes as recipes
    out, _ = gb_smoke_run
    runs = out.parent.parent / "no-run-ledger"
    shutil.copytree(out, runs / out.name)

    def boom(*a, **k):
        raise AssertionError("--no-run ran a recipe")
    monkeypatch.setattr(core_study, "run_study", boom)

    def verdicts(runs_dir):
        r = runner.invoke(app, ["claims", "--scale", "smoke", "--runs-dir", str(runs_dir),
                                "--json", "--no-run"])
        assert r.exit_code == 0, r.output
        return {row["id"]: row for row in json.loads(r.output)}

    rows = verdicts(runs)
    li2 = [row for cid, row in rows.items() if cid.startswith("li2.")]
    assert li2 and all(row["verdict"] == "inconclusive" and "not run" in row["measured"]
                       for row in li2)
    gb = rows["gb.closed.plateau"]
    assert "not run" not in gb["measured"]   # the finished gb run was read

    # an older version of the recipe in the run folder: not used, not rerun
    toml = runs / out.name / "recipe.toml"
    toml.write_text(toml.read_text().replace("seed = 0", "seed = 7"))
    assert "older version" in verdicts(runs)["gb.closed.plateau"]["measured"]


def test_ledger_reads_at_80_columns():
    """One block per claim: id and verdict on one line, long measured text wrapped within
    the width (not squeezed into 13-character cells)."""
    from learndyn.cli import ledger_lines
    from learndyn.core.claims import ClaimResult
    long = "; ".join(f"seed {i}: slopes -1.34/-0.19/-6.80 breaks [10, 109]" for i in range(8))
    rows = [ClaimResult("gb.closed.plateau", "closed-loop loss: a fast drop, a plateau, then a "
                        "second drop", "verified", long, "stage slopes s1, s3 < 0"),
            ClaimResult("gb.matches_authors_run", "ours matches theirs", "refuted", "x", "y")]
    lines = [t.plain for t in ledger_lines(rows, "claims ledger (paper scale)", 80)]
    assert all(len(x) <= 80 for x in lines)
    assert lines[2].startswith("gb.closed.plateau") and lines[2].endswith("verified")
    assert any(x.startswith("  measured: seed 0") for x in lines)
    # the measured text is all there, wrapped over whole words
    body = " ".join(x.strip() for x in lines if x.startswith("    ") or "measured:" in x)
    assert "seed 7: slopes -1.34/-0.19/-6.80 breaks [10, 109]" in body
    assert lines[-1] == "2 claims: 1 verified, 1 refuted, 0 inconclusive"


def test_compilation_cache_folder():
    from pathlib import Path

    from learndyn.cli import compilation_cache_dir
    assert compilation_cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/learndyn/jax")
    assert compilation_cache_dir({}) == Path.home() / ".cache" / "learndyn" / "jax"
    for off in ("0", "false", "OFF"):
        assert compilation_cache_dir({"LEARNDYN_COMPILE_CACHE": off}) is None
    # the user's own JAX cache setting is left alone
    assert compilation_cache_dir({"JAX_COMPILATION_CACHE_DIR": "/mine"}) is None


def test_gb_smoke_numbers_kept(gb_smoke_run):
    """gb2025-fig1's smoke summary equals its committed baseline (scripts/check_summaries.py;
    the baseline changes only in a commit that says why)."""
    from _numbers_kept import assert_numbers_kept
    assert_numbers_kept("gb2025-fig1", gb_smoke_run[1])


def test_fully_diverged_run_prints_its_summary(tmp_path):
    """Every seed diverges (lr 0.05, no clipping: at update 1, measured): `run` and `show`
    print the summary with its statuses and exit 0 (this ended in a TypeError in
    _print_summary), and the figures are drawn without an all-NaN warning."""
    import warnings
    out = tmp_path / "diverged"
    args = ["run", "gb2025-fig1", "--scale", "smoke", "--quiet", "--out", str(out),
            "--set", "train.lr=0.05", "--set", "train.clip=false", "--seeds", "3",
            "--set", "train.epochs=20", "--set", "open_loop.epochs=20"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["closed"]["per_seed"]["status"] == ["diverged"] * 3
    shown = runner.invoke(app, ["show", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "n_diverged" in shown.output and "3" in shown.output
