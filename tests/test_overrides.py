"""--set KEY=VALUE overrides (run and claims), and the resolution (scale, overrides) that a run
folder's recipe.toml records."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from typer.testing import CliRunner

from _util import one_line_error
from learndyn import recipes
import learndyn.core.study as core_study
from learndyn.cli import app
from learndyn.errors import ConfigError, LearndynError
from learndyn.recipes import default_out, finished_summary, load_recipe, parse_sets, run_recipe

runner = CliRunner()


@pytest.fixture
def fake_study(monkeypatch):
    """Every study's runner returns at once (no training); calls are counted."""
    calls = []

    def run(world, recipe, store, progress=None, figures=True):
        calls.append(recipe)
        return {"recipe": recipe.name, "seeds": recipe.seeds}
    monkeypatch.setattr(core_study, "run_study", run)
    return calls


# -- parsing ------------------------------------------------------------------------------------

def test_values_are_toml_values():
    got = parse_sets(["train.lr=5e-3", "a=true", 'b="x y"', "c=[1, 2]", "task.type=regulation",
                      "d={p = 1}", " e = 3 ", "f=1\ng = 2", "h=", "i=2024x"])
    assert got == {"train.lr": 0.005, "a": True, "b": "x y", "c": [1, 2],
                   "task.type": "regulation", "d": {"p": 1}, "e": 3, "f": "1\ng = 2", "h": "",
                   "i": "2024x"}
    assert type(got["train.lr"]) is float and type(got["e"]) is int
    assert parse_sets(["x=1", "x=2"]) == {"x": 2}   # a later --set of a key wins


@pytest.mark.parametrize("item", ["train.lr", "=3", " =3", "train..lr=1", "a b=1",
                                  "scales.smoke.seeds=3", "resolved.scale=paper"])
def test_malformed_set_is_one_line_naming_set(item, in_tmp_repo, fake_study):
    with pytest.raises(ConfigError, match="^--set:"):
        parse_sets([item])
    for cmd in (["run", "gb2025-fig1", "--quiet"], ["claims", "--no-run", "--json"]):
        one_line_error(runner.invoke(app, [*cmd, "--set", item]), "--set")
    assert not fake_study


@pytest.mark.parametrize("item,field,needle", [
    ("train.lr=abc", "train.lr", "number"),
    ("train.lr=nan", "train.lr", "finite"),
    ("agent.nn=3", "agent.nn", "allowed"),
    ("seeds=0", "seeds", "greater"),
    ("train.clip=yes", "train.clip", ""),
])
def test_bad_value_is_validated_like_the_file(item, field, needle, in_tmp_repo, fake_study):
    line = one_line_error(runner.invoke(app, ["run", "gb2025-fig1", "--quiet", "--set", item]),
                          field, needle)
    assert line.startswith("error: gb2025-fig1: ")
    assert not fake_study and not (in_tmp_repo / "runs").exists()


# -- resolution ---------------------------------------------------------------------------------

def test_overrides_apply_after_the_scale_and_are_recorded():
    plain = load_recipe("gb2025-fig1", "smoke")
    assert plain.train.epochs == 40 and plain.resolved.scale == "smoke"
    assert plain.resolved.overrides == {}
    rcp = load_recipe("gb2025-fig1", "smoke", parse_sets(
        ["train.epochs=7", "agent.n=32", "train.lr=5e-3", "agent.w_init={scale = 0.2}"]))
    assert (rcp.train.epochs, rcp.agent.n, rcp.train.lr) == (7, 32, 0.005)
    # a table value is merged into the table it overrides (as a scale's table is)
    assert rcp.agent.w_init.scale == 0.2 and rcp.agent.w_init == \
        plain.agent.w_init.model_copy(update={"scale": 0.2})
    assert rcp.resolved.overrides == {"train.epochs": 7, "agent.n": 32, "train.lr": 0.005,
                                      "agent.w_init": {"scale": 0.2}}
    # an override that changes nothing is not one (such a run is the plain recipe's)
    same = load_recipe("gb2025-fig1", "smoke", {"train.lr": 0.01, "seeds": 2})
    assert same.resolved.overrides == {} and same == plain
    assert default_out(same, "smoke") == default_out(plain, "smoke")
    # but another type is another value (1 is not 1.0 in TOML)
    assert load_recipe("gb2025-fig1", "smoke", {"train.clip": 1}).resolved.overrides == \
        {"train.clip": 1}


def test_default_folder_names_the_overrides():
    plain = load_recipe("gb2025-fig1", "smoke")
    assert default_out(plain, "smoke").name == "gb2025-fig1-smoke-s2"
    a = load_recipe("gb2025-fig1", "smoke", {"train.lr": 0.005})
    b = load_recipe("gb2025-fig1", "smoke", {"train.lr": 0.002})
    names = [default_out(r, "smoke").name for r in (a, b)]
    assert all(re.fullmatch(r"gb2025-fig1-smoke-s2-set[0-9a-f]{8}", n) for n in names)
    assert names[0] != names[1]
    assert default_out(load_recipe("gb2025-fig1", "smoke", {"train.lr": 0.005}),
                       "smoke").name == names[0]   # the same overrides, the same folder
    # seeds is in the name already
    assert default_out(load_recipe("gb2025-fig1", "smoke", {"seeds": 3}), "smoke").name == \
        "gb2025-fig1-smoke-s3"


def test_recipe_toml_records_scale_and_overrides_and_reloads(tmp_path, fake_study):
    rcp = load_recipe("gb2025-fig1", "smoke", {"train.lr": 0.005, "seeds": 3})
    run_recipe(rcp, tmp_path / "out", scale="smoke")
    doc = tomllib.loads((tmp_path / "out" / "recipe.toml").read_text())
    assert doc["resolved"] == {"scale": "smoke", "overrides": {"train.lr": 0.005, "seeds": 3}}
    assert doc["train"]["lr"] == 0.005 and doc["seeds"] == 3
    # a run folder's recipe.toml is itself a recipe: at its own scale only, overrides added
    again = recipes.validate_recipe(doc, "smoke")
    assert again == rcp
    more = recipes.validate_recipe(doc, "smoke", {"agent.n": 8})
    assert more.resolved.overrides == {"train.lr": 0.005, "seeds": 3, "agent.n": 8}
    with pytest.raises(ConfigError, match="^--scale: .*resolved at scale 'smoke'"):
        recipes.validate_recipe(doc, "paper")
    # show prints them on one line, as --set options ([..] is not taken for rich markup)
    rcp = load_recipe("gb2025-fig1", "smoke", parse_sets(["gain_map.k1=[-0.5, 0.25]",
                                                          'description="[bold]x"']))
    run_recipe(rcp, tmp_path / "list", scale="smoke")
    r = runner.invoke(app, ["show", str(tmp_path / "list")])
    assert r.exit_code == 0, r.output
    assert 'scale: smoke; overrides: gain_map.k1=[-0.5, 0.25] description="[bold]x"' in r.output


def test_another_scale_or_other_overrides_are_a_different_recipe(tmp_path, fake_study):
    out = tmp_path / "out"
    rcp = load_recipe("gb2025-fig1", "smoke", {"train.lr": 0.005})
    first = run_recipe(rcp, out, scale="smoke")
    assert run_recipe(rcp, out, scale="smoke") == first and len(fake_study) == 1  # read back
    # the same fields reached another way (a recipe file that has lr = 0.005 itself) are
    # another resolution: refused, not read back
    for other in (load_recipe("gb2025-fig1", "smoke"),
                  load_recipe("gb2025-fig1", "smoke", {"train.lr": 0.002}),
                  load_recipe("gb2025-fig1", "paper", {"train.lr": 0.005, "agent.n": 16,
                                                       "seeds": 2})):
        with pytest.raises(LearndynError, match="different recipe"):
            finished_summary(other, out)
    path = tmp_path / "lr.toml"
    path.write_text(recipes.find_recipe("gb2025-fig1").read_text().replace("lr = 0.01",
                                                                          "lr = 0.005"))
    assert load_recipe(str(path), "smoke").train.lr == 0.005
    with pytest.raises(LearndynError, match="different recipe"):
        finished_summary(load_recipe(str(path), "smoke"), out)


def _as_old_folder(out, scale):
    """Make `out` look written before recipe.toml had [resolved] (the summary's scale kept)."""
    toml = out / "recipe.toml"
    doc = tomllib.loads(toml.read_text())
    doc.pop("resolved", None)
    import tomli_w
    toml.write_text(tomli_w.dumps(doc))
    summary = json.loads((out / "summary.json").read_text())
    summary["scale"] = scale
    (out / "summary.json").write_text(json.dumps(summary))


def test_old_run_folders_are_read_or_refused_in_one_line(tmp_path, fake_study, monkeypatch):
    out = tmp_path / "gb2025-fig1-smoke-s2"
    rcp = load_recipe("gb2025-fig1", "smoke")
    first = run_recipe(rcp, out, scale="smoke")
    _as_old_folder(out, "smoke")
    assert finished_summary(rcp, out) == first          # same fields, same scale: read
    assert run_recipe(rcp, out, scale="smoke") == first and len(fake_study) == 1
    r = runner.invoke(app, ["show", str(out)])
    assert r.exit_code == 0 and "overrides: not recorded" in r.output
    _as_old_folder(out, "paper")                         # fields equal, another scale
    with pytest.raises(LearndynError, match="does not record its scale") as info:
        finished_summary(rcp, out)
    assert "\n" not in str(info.value)
    monkeypatch.chdir(tmp_path)
    one_line_error(runner.invoke(app, ["run", "gb2025-fig1", "--quiet", "--out", str(out)]),
                   "--out", "older learndyn")


# -- the commands -------------------------------------------------------------------------------

def test_run_with_set_end_to_end(in_tmp_repo):
    """A real (tiny) run with --set: its own folder, the override recorded and shown."""
    args = ["run", "gb2025-fig1", "--quiet", "--set", "train.epochs=6", "--set",
            "open_loop.epochs=4", "--set", "train.lr=5e-3", "--seeds", "1"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    folders = [p.name for p in (in_tmp_repo / "runs").iterdir()]
    assert len(folders) == 1 and re.fullmatch(r"gb2025-fig1-smoke-s1-set[0-9a-f]{8}", folders[0])
    folder = in_tmp_repo / "runs" / folders[0]
    doc = tomllib.loads((folder / "recipe.toml").read_text())
    assert doc["resolved"] == {"scale": "smoke", "overrides": {
        "train.epochs": 6, "open_loop.epochs": 4, "train.lr": 0.005, "seeds": 1}}
    assert doc["train"]["epochs"] == 6
    shown = runner.invoke(app, ["show", str(folder)])
    assert shown.exit_code == 0, shown.output
    assert ("scale: smoke; overrides: train.epochs=6 open_loop.epochs=4 train.lr=0.005 seeds=1"
            in shown.output)
    again = runner.invoke(app, args)                      # read back, not retrained
    assert again.exit_code == 0 and f"run folder: runs/{folders[0]}" in again.output
    assert [p.name for p in (in_tmp_repo / "runs").iterdir()] == folders


def test_claims_set_applies_to_every_recipe(tmp_path, fake_study):
    """claims --set: every recipe the ledger asks for is loaded with the overrides, into its
    own -set<hash> folder (the plain runs' folders are not read)."""
    from learndyn.cli import _recipe_runs
    from learndyn.core.claims import NotRun
    runs = _recipe_runs("smoke", tmp_path, overrides={"seed": 3}, run_missing=True)
    for name in ("gb2025-fig1", "li2-fig3"):
        loaded = runs.get(name)
        assert re.fullmatch(rf"{name}-smoke-s\d+-set[0-9a-f]{{8}}", loaded.path.name)
        assert loaded.path.parent == tmp_path
        doc = tomllib.loads((loaded.path / "recipe.toml").read_text())
        assert doc["seed"] == 3 and doc["resolved"]["overrides"] == {"seed": 3}
    assert [r.seed for r in fake_study] == [3, 3]
    # --no-run with overrides looks for the overridden folder, and with --seeds too
    plain = default_out(load_recipe("gb2025-fig1", "smoke"), "smoke", tmp_path)
    run_recipe(load_recipe("gb2025-fig1", "smoke"), plain, scale="smoke")
    source = _recipe_runs("smoke", tmp_path, overrides={"seed": 4}, seeds=3, run_missing=False)
    with pytest.raises(NotRun, match=r"gb2025-fig1-smoke-s3-set[0-9a-f]{8}"):
        source.get("gb2025-fig1")
    r = runner.invoke(app, ["claims", "--no-run", "--json", "--runs-dir", str(tmp_path),
                            "--paper", "ger-barak-2025", "--set", "seed=4"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert rows and all(row["verdict"] == "inconclusive" and "-set" in row["measured"]
                        for row in rows)
