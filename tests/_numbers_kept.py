"""The numbers-kept check in the test suite: a smoke summary the tests made anyway, compared
with its committed baseline by scripts/check_summaries.py's own comparison."""

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_summaries",
                                               REPO / "scripts" / "check_summaries.py")
check_summaries = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_summaries)


def assert_numbers_kept(recipe: str, summary: dict, baseline: str = "") -> dict:
    """Every number of `summary` (a smoke run of `recipe` at its defaults) is identical,
    close or (a stage break) near to results/smoke-baseline/<recipe>.json, or a KNOWN
    change. `baseline`: a subfolder of results/smoke-baseline (v0: the numbers before the
    reference presets, which the paper_text / learndyn_v0 presets keep)."""
    folder = REPO / "results" / "smoke-baseline" / baseline
    base = json.loads((folder / f"{recipe}.json").read_text())
    new = json.loads(json.dumps(summary, default=str))
    r = check_summaries.compare(recipe, base, new)
    assert not r["changed"] and not r["missing"], (recipe, r["changed"][:10], r["missing"][:10])
    assert r["identical"] + r["close"] > 50          # the comparison saw the numbers
    return r
