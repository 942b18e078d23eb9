"""Bad input is refused in one line, naming the field, before anything is trained or written
(issue 9): non-finite floats, wrong types, unsafe names, empty lists and matrices,
data-dependent checks, recipe files and --out folders that cannot be used."""

import errno
import tempfile

import pytest
from typer.testing import CliRunner

import learndyn.recipes as recipes
import learndyn.core.study as core_study
from learndyn.cli import app
from learndyn.errors import ConfigError, LearndynError
from learndyn.recipes import list_recipes, load_recipe, recipe_toml, run_recipe, validate_recipe
from _util import one_line_error

runner = CliRunner()
INF, NAN = float("inf"), float("nan")
LINEAR = {"plant.type": "linear", "plant.A": [[1.0, 1.0], [0.0, 1.0]], "plant.B": [[0.0], [1.0]],
          "plant.C": [[1.0, 0.0]]}


def refused(recipe, override, field, *needles):
    """load_recipe refuses the override with one line that names `field` (and the needles)."""
    with pytest.raises(ConfigError) as err:
        load_recipe(recipe, "smoke", override)
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert f"{field}:" in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


@pytest.fixture()
def no_training(monkeypatch):
    """Every study's runner fails the test: these inputs must be refused before training."""
    def boom(*a, **k):
        raise AssertionError("trained on bad input")
    monkeypatch.setattr(core_study, "run_study", boom)


# -- the defects of issue 9 ---------------------------------------------------------------------

@pytest.mark.parametrize("recipe,override,field", [
    ("gb2025-fig1", {"train.lr": INF}, "train.lr"),                  # every seed diverged at step 0
    ("gb2025-fig1", {"agent.trainable": []}, "agent.trainable"),     # nothing trained
    ("gb2025-fig1", {"name": "../../escaped"}, "name"),              # run folder outside runs/
    ("gb2025-fig1", {"name": "/tmp/absolute"}, "name"),
    ("gb2025-fig1", {"name": ""}, "name"),
    ("li2-fig3", {"model.act_a": NAN}, "model.act_a"),               # ran to exit 0
    ("gb2025-fig1", {"train.lr": "0.01"}, "train.lr"),               # silently coerced
    ("gb2025-fig1", {"open_loop.enabled": "no"}, "open_loop.enabled"),
    ("gb2025-fig1", {"task.beta": INF}, "task.beta"),                # traceback while drawing
    ("gb2025-fig1", {"plant.dt": INF}, "plant.dt"),
    ("gb2025-fig1", {"gain_map.k1": [NAN, 0.2]}, "gain_map.k1.0"),
    ("gb2025-fig1", {**LINEAR, "plant.B": [[], []]}, "plant.B"),     # 149 lines of JAX
    ("li2-fig3", {"variants": []}, "variants"),                      # StopIteration
    ("li2-fig3", {"data.n": 100_000}, "data.n"),                     # caught after writing
])
def test_issue_defects_refused_at_validation(recipe, override, field):
    refused(recipe, override, field)


def test_clip_zero_says_how_to_write_no_clipping():
    refused("gb2025-fig1", {"train.clip": 0}, "train.clip", "clip = false")


def test_no_clipping_is_clip_false_and_survives_recipe_toml(tmp_path):
    text = (list_recipes()["gb2025-fig1"].read_text().replace("clip = 1.0", "clip = false"))
    path = tmp_path / "noclip.toml"
    path.write_text(text)
    rcp = load_recipe(str(path), "smoke")
    assert rcp.train.clip is None
    written = recipe_toml(rcp)
    assert "clip = false" in written          # recipe.toml of the run says it: no clipping
    again = validate_recipe(__import__("tomllib").loads(written), "smoke")
    assert again.train.clip is None and again == rcp
    assert load_recipe("gb2025-fig1", "smoke", {"train.clip": None}).train.clip is None  # Python


def test_li2_split_checked_for_each_variants_group():
    # data.n = 2016 fits Z71 (M^2 = 5041) but not a Z23 variant (M^2 = 529)
    msg = refused("li2-fig3", {"group": "Z71", "data.n": 2016, "variants": [{"name": "big"},
                                                            {"name": "small", "group": "Z23"}]},
                  "data.n", "small", "Z23")
    assert "528" in msg   # the allowed range names M^2 - 1 of that group


# -- my own bad inputs, each accepted (or a traceback) on b2eb2d6 ------------------------------

@pytest.mark.parametrize("recipe,override,field", [
    ("gb2025-fig1", {"agent.n": True}, "agent.n"),                   # bool for int
    ("gb2025-fig1", {"agent.n": 16.0}, "agent.n"),                   # float for int
    ("gb2025-fig1", {"plant.k": True}, "plant.k"),
    ("gb2025-fig1", {"record.dense_until": "10"}, "record.dense_until"),
    ("gb2025-fig1", {"train.clip": True}, "train.clip"),
    ("gb2025-fig1", {"train.diverge_above": INF}, "train.diverge_above"),
    ("gb2025-fig1", {"agent.w_init.scale": INF}, "agent.w_init.scale"),
    ("gb2025-fig1", {"task.type": "tracking", "task.freqs_x": [0.1, NAN]}, "task.freqs_x.1"),
    ("gb2025-fig1", {"task.type": "tracking", "task.freqs_x": []}, "task.freqs_x"),
    ("gb2025-fig1", {"task.freqs_x": [0.1]}, "task.freqs_x"),        # not a regulation field
    ("gb2025-fig1", {"plant.type": "cartpole"}, "plant.type"),       # lists the plants
    ("gb2025-fig1", {"task.type": "tracking"}, "task.type"),         # double integrator: ny = 1
    ("gb2025-fig1", {**LINEAR, "plant.A": [[1.0, NAN], [0.0, 1.0]]}, "plant.A.0.1"),
    ("gb2025-fig1", {"gain_map.k1": [0.2, -0.8]}, "gain_map.k1"),    # empty range
    ("gb2025-fig1", {"train.batch": 10 ** 9}, "train.batch"),        # exhausts memory
    ("gb2025-fig1", {"agent.n": 100_000, "train.batch": 100_000}, "agent.n"),
    ("gb2025-fig1", {"train.epochs": 10 ** 12}, "train.epochs"),
    ("gb2025-fig1", {"record.dense_until": 10 ** 12}, "record.dense_until"),
    ("gb2025-fig1", {"seeds.x": 3}, "seeds"),                        # override into a number
    ("gb2025-fig1", {"agent.n.x": 3}, "agent.n"),
    ("gb2025-fig1", {"name": ".hidden"}, "name"),
    ("gb2025-fig1", {"name": "a/b"}, "name"),
    ("gb2025-fig1", {"name": "a" * 300}, "name"),
    ("li2-fig3", {"model.K": 1_000_000, "group": "Z4096", "variants": [{"name": "a"}]}, "model.K"),
    ("li2-fig3", {"variants": [{"name": ""}]}, "variants.0.name"),
    ("li2-fig3", {"variants": [{"name": "a\nb"}]}, "variants.0.name"),
    ("li2-fig3", {"variants": [{"name": "a", "ratio": 1e-9}]}, "variants.0.ratio"),  # 0 pairs
    ("li2-fig3", {"variants": [{"name": "a", "lr": INF}]}, "variants.0.lr"),
    ("li2-fig3", {"variants": [{"name": "a", "K": True}]}, "variants.0.K"),
    ("li2-fig3", {"variants": [{"name": "a", "complex_weights": 1}]},
     "variants.0.complex_weights"),
    ("gb2025-fig1", {"agent.trainable": ["U", "V"]}, "agent.trainable"),  # full rank: no U, V
    ("gb2025-fig1", {"agent.rank": 2, "agent.trainable": ["W"]}, "agent.trainable"),
    ("li2-fig10-11", {"model.activation": "relu"}, "model.activation"),  # complex weights
    ("li2-fig3", {"group": "Z1"}, "group"),                            # M = 1: no split
])
def test_more_bad_inputs_refused(recipe, override, field):
    refused(recipe, override, field)


def test_scale_table_that_is_not_a_table():
    with pytest.raises(ConfigError, match="scales.smoke") as err:
        validate_recipe({"name": "x", "study": "closedloop", "scales": {"smoke": 3}})
    assert "\n" not in str(err.value)


def test_every_shipped_recipe_validates_at_both_scales():
    """Regression guard for strict mode (TOML arrays for tuple fields, ints for floats)."""
    for name in list_recipes():
        for scale in ("smoke", "paper"):
            load_recipe(name, scale)


# -- recipe files and --out folders, through the CLI -------------------------------------------

def _valid_recipe_text():
    return list_recipes()["gb2025-fig1"].read_text()


@pytest.mark.parametrize("kind,needle", [
    ("missing", "not found"), ("directory", "directory"), ("dir_no_suffix", "directory"),
    ("not_utf8", "UTF-8"), ("not_toml", "not valid TOML"),
])
def test_bad_recipe_file_one_line(in_tmp_repo, no_training, kind, needle):
    path = in_tmp_repo / {"dir_no_suffix": "somedir"}.get(kind, f"{kind}.toml")
    if kind in ("directory", "dir_no_suffix"):
        path.mkdir()
    elif kind == "not_utf8":
        path.write_bytes(b'name = "caf\xe9"\nstudy = "closedloop"\n')
    elif kind == "not_toml":
        path.write_text('name = "x"\nstudy = \n')
    out = in_tmp_repo / "out"
    r = runner.invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    one_line_error(r, "RECIPE", needle, str(path))
    assert not out.exists()


def test_out_is_a_file(in_tmp_repo, no_training):
    f = in_tmp_repo / "afile"
    f.write_text("keep")
    r = runner.invoke(app, ["run", "gb2025-fig1", "--out", str(f), "--quiet"])
    one_line_error(r, "--out", str(f), "file")
    assert f.read_text() == "keep"
    r = runner.invoke(app, ["run", "gb2025-fig1", "--out", str(f / "sub"), "--quiet"])
    one_line_error(r, "--out", "file")
    assert f.read_text() == "keep"


def test_out_not_writable(in_tmp_repo, no_training, monkeypatch):
    """A read-only file system (simulated: creating any file there fails with EROFS; the tests
    may run as root, for whom permission bits do not stop writing)."""
    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    out = in_tmp_repo / "ro" / "run"
    r = runner.invoke(app, ["run", "gb2025-fig1", "--out", str(out), "--quiet"])
    one_line_error(r, "--out", "not writable", "Read-only file system")
    assert not (in_tmp_repo / "ro").exists()


@pytest.mark.parametrize("content", [b"name = \n", b'name = "\xff"\n'])
def test_corrupt_recipe_toml_in_out(in_tmp_repo, no_training, content):
    out = in_tmp_repo / "out"
    out.mkdir()
    (out / "recipe.toml").write_bytes(content)
    r = runner.invoke(app, ["run", "gb2025-fig1", "--out", str(out), "--quiet"])
    one_line_error(r, "--out", "corrupt", str(out / "recipe.toml"))
    # nothing written but the write lock's (empty) lock file, which run takes before reading
    assert sorted(p.name for p in out.iterdir()) == [".lock", "recipe.toml"]
    assert (out / ".lock").read_bytes() == b""   # released: the holder's line is cleared
    assert (out / "recipe.toml").read_bytes() == content


def test_failed_validation_leaves_nothing_and_the_fix_runs_there(in_tmp_repo, monkeypatch):
    """data.n > M^2 used to be caught after recipe.toml was written, and the corrected recipe
    was then refused for that folder."""
    bad = in_tmp_repo / "experiments" / "li2-fig3.toml"
    text = bad.read_text()
    bad.write_text(text.replace("data.n = 264", "data.n = 100000"))
    ran = []

    def fake(world, recipe, store, progress=None, figures=True):
        ran.append(recipe.name)
        return {"recipe": recipe.name}
    monkeypatch.setattr(core_study, "run_study", fake)
    out = in_tmp_repo / "out"
    r = runner.invoke(app, ["run", "li2-fig3", "--out", str(out), "--quiet"])
    one_line_error(r, "data.n")
    assert not out.exists() and not ran
    bad.write_text(text)   # corrected
    summary = run_recipe(load_recipe("li2-fig3", "smoke"), out, scale="smoke")
    assert summary["complete"] and ran == ["li2-fig3"]


def test_oserror_while_writing_is_one_line_naming_out(tmp_path, monkeypatch):
    def disk_full(world, recipe, store, progress=None, figures=True):
        raise OSError(errno.ENOSPC, "No space left on device", str(store.path / "x.zarr"))
    monkeypatch.setattr(core_study, "run_study", disk_full)
    with pytest.raises(LearndynError, match="--out: .*No space left on device") as err:
        run_recipe(load_recipe("gb2025-fig1", "smoke"), tmp_path / "out")
    assert "\n" not in str(err.value)


def test_run_folder_stays_inside_runs_dir(tmp_path):
    """A name that escaped validation (model_copy skips it) still cannot leave the runs dir."""
    rcp = load_recipe("gb2025-fig1", "smoke")
    assert recipes.default_out(rcp, "smoke", tmp_path).parent == tmp_path
    for bad in ("../../escaped", "/tmp/absolute"):
        with pytest.raises(ConfigError, match="name"):
            recipes.default_out(rcp.model_copy(update={"name": bad}), "smoke", tmp_path)
