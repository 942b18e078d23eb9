"""A world outside learndyn (examples/linreg, the README's "Your own world") runs from its own
recipe through core's orchestration, theory included, without editing learndyn."""

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from learndyn.cli import app
from learndyn.errors import ConfigError
from learndyn.worlds import get_world

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "linreg"


@pytest.fixture()
def example_dir(tmp_path, monkeypatch):
    """The example folder copied to tmp and made the current folder; the module is forgotten
    afterwards, so each test imports it afresh."""
    shutil.copytree(EXAMPLE, tmp_path / "linreg")
    monkeypatch.chdir(tmp_path / "linreg")
    monkeypatch.delitem(sys.modules, "linreg_world", raising=False)
    yield tmp_path / "linreg"
    sys.modules.pop("linreg_world", None)


def test_readme_shows_the_example_world_as_it_is():
    # the README's code block is the file the test below runs, so the two cannot drift
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    source = (EXAMPLE / "linreg_world.py").read_text()
    assert source in blocks
    assert len(source.splitlines()) < 100          # "a few dozen lines"


def test_user_world_runs_with_its_exact_theory(example_dir, tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", "linreg.toml", "--scale", "smoke", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "theory exact: loss rel. error" in r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["study"] == "linreg_world:WORLD"
    err = summary["theory"]["exact"]["observables"]["loss"]["whole_run"]
    # float32 gradient descent against the float64 closed form: rounding only. Measured
    # 8.9e-8; 1e-4 leaves room for reassociation and still fails for any wrong formula
    # (a wrong learning rate or a missing factor 2 in the exponent errs by > 1e-1).
    assert err < 1e-4
    # the run folder resumes like any other: a second run reads it back
    again = CliRunner().invoke(app, ["run", "linreg.toml", "--scale", "smoke", "--out",
                                     str(out)])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "summary.json").read_text())["final_loss"] == summary["final_loss"]
    shown = CliRunner().invoke(app, ["show", str(out)])
    assert shown.exit_code == 0 and "theory exact" in shown.output


def test_theory_error_detects_a_wrong_theory(example_dir, tmp_path):
    """The error the summary reports is a real comparison: a theory with the wrong learning
    rate is far off."""
    get_world("linreg_world:WORLD")                  # imports it from the current folder
    linreg_world = sys.modules["linreg_world"]
    from learndyn.core.store import RunStore
    from learndyn.core.study import run_study
    from learndyn.core.theory import Theory
    from learndyn.recipes import load_recipe
    rcp = load_recipe("linreg.toml", "smoke")

    class Wrong(linreg_world.LinRegWorld):
        def theories(self, cfg):
            bad = cfg.model_copy(update={"lr": cfg.lr * 0.5})
            return [Theory("half_lr", "train", ("loss",), "closed_form",
                           lambda res, c: linreg_world.exact_loss(bad, res, c))]
    s = run_study(Wrong(), rcp, RunStore(tmp_path / "wrong"), figures=False)
    assert s["theory"]["half_lr"]["observables"]["loss"]["whole_run"] > 1e-2


@pytest.mark.parametrize("study, needle", [
    ("no_such_module_xyz:WORLD", "no module 'no_such_module_xyz'"),
    ("linreg_world:NOPE", "has no 'NOPE'"),
    ("json:dumps", "is not a World"),
    ("nonsense", "is not one of"),
])
def test_bad_external_study_is_one_line(example_dir, study, needle):
    with pytest.raises(ConfigError) as err:
        get_world(study)
    msg = str(err.value)
    assert msg.startswith("study: ") and needle in msg and "\n" not in msg
