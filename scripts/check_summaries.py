"""Compare every recipe's smoke-scale summary.json with a committed baseline.

    python scripts/check_summaries.py                 # run every recipe, compare, report
    python scripts/check_summaries.py --write DIR     # write the baseline summaries to DIR
    python scripts/check_summaries.py --recipes li2-fig3 gb2025-fig1
    python scripts/check_summaries.py --recipes gb2025-fig1 --set preset=learndyn_v0 \
        --baseline results/smoke-baseline/v0      # an older setting against its own numbers
    python scripts/check_summaries.py --recipes li2-fig3 li2-fig7 li2-fig10-11 li2-fig14-16 \
        --set preset=paper_text --baseline results/smoke-baseline/v0   # Li2 before issue 22

Each recipe runs at smoke scale into a fresh temporary folder; every number in its summary
(timing, figures and backend left out: they are not results) is compared with the baseline's
number at the same place. A number is *identical* when the two floats are equal bit for bit
(both NaN/None counts too), *close* when their relative difference is at most RTOL (or absolute at most ATOL), else
*changed*. RTOL = 1e-5: float32 has a 6e-8 unit roundoff, and a summary number is the end of
thousands of float32 updates whose reassociation (a different fusion or batch shape in the
compiled program) moves it by a few hundred ulps at most; 1e-5 is about 170 ulps. A number
that a defect fix is meant to change is listed in KNOWN (path pattern -> reason) and reported
as *known* rather than failing. A stage break is a point of the stage fit's log grid, so
it is *near* when within GRID_RTOL of the baseline's (below). Exit status 1 when anything is
changed or missing.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import sys
import tempfile
from pathlib import Path

RTOL = 1e-5
# ... or when they differ by at most ATOL: a number near zero (a least-squares gain of 1e-4
# fitted on O(1) states and controls) carries an absolute float32 rounding of order
# eps = 1.2e-7 times the O(1) data it was fitted on, which can be far above RTOL of itself.
ATOL = 1.2e-7
SKIP = ("timing", "figures", "backend", "theory")
# Stage breaks (core.stages.loss_stages) lie on a 120-point grid in log10(step + 1): at smoke
# scale (600 steps) one grid point is a factor 10^(log10(601) / 119) = 1.055 in step. Where two
# grid points fit nearly equally well, 1 % noise in the fitted signal moves the break by one
# point: li2-fig7's lr = 5e-2 runs (whose ||G_F|| jitters by ~5 % from step to step) put seed
# 0's last break at 91 on one CPU and 96 on another, the same code and JAX version (measured:
# 1 % multiplicative noise moves it 91 -> 96 in 1 of 30 draws). Two grid points: 1.055^2 - 1.
STAGE_PATTERNS = ("*stage_boundaries*",)
GRID_RTOL = 0.12
# path patterns (fnmatch on "recipe:a.b.c") whose numbers a fix of issue 10 changes on purpose
KNOWN: dict[str, str] = {
    "*:study": "a summary names its world (core.study)",
    "li2-*:variants.*.concentrated_node_fraction": "features decided on the non-trivial irreps",
    "li2-*:variants.*.per_seed.concentrated_node_fraction.*": "features on the non-trivial irreps",
    "li2-*:variants.*.energy_mean_*": "node energy divided by n^2 (n training pairs)",
    "li2-*:variants.*.per_seed.energy_mean.*": "node energy divided by n^2 (n training pairs)",
    "li2-*:variants.*.trivial_power_share": "new: the trivial irrep's share, reported apart",
    "li2-*:variants.*.per_seed.trivial_power_share.*": "new: the trivial irrep's share",
}


def leaves(x, prefix=""):
    """(path, value) of every number, string, bool or None in a JSON tree."""
    if isinstance(x, dict):
        for k, v in x.items():
            if not prefix and k in SKIP:
                continue
            yield from leaves(v, f"{prefix}{k}.")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), x


def compare(recipe: str, base: dict, new: dict) -> dict:
    """Counts of identical / close / known / changed / missing leaves, and the worst ones."""
    b, n = dict(leaves(base)), dict(leaves(new))
    out = {"identical": 0, "close": 0, "near": [], "known": 0, "changed": [], "missing": [],
           "max_rel": 0.0}
    for path in sorted(set(b) | set(n)):
        known = next((why for pat, why in KNOWN.items()
                      if fnmatch.fnmatch(f"{recipe}:{path}", pat)), None)
        if path not in b or path not in n:
            if known:
                out["known"] += 1
            else:
                out["missing"].append(f"{path} ({'new' if path in n else 'gone'})")
            continue
        x, y = b[path], n[path]
        if x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x)
                      and math.isnan(y)):
            out["identical"] += 1
            continue
        num = (isinstance(x, (int, float)) and isinstance(y, (int, float))
               and not isinstance(x, bool) and not isinstance(y, bool))
        rel = abs(x - y) / max(abs(x), abs(y)) if num and math.isfinite(x - y) else math.inf
        if num and (rel <= RTOL or abs(x - y) <= ATOL):
            out["close"] += 1
            out["max_rel"] = max(out["max_rel"], rel)
        elif known:
            out["known"] += 1
        elif num and rel <= GRID_RTOL and any(fnmatch.fnmatch(path, p) for p in STAGE_PATTERNS):
            out["near"].append(f"{path}: {x!r} -> {y!r}")
        else:
            out["changed"].append(f"{path}: {x!r} -> {y!r}")
    return out


def run_recipe_smoke(name: str, folder: Path, overrides: dict | None = None) -> dict:
    from learndyn.recipes import default_out, load_recipe, run_recipe
    rcp = load_recipe(name, "smoke", overrides or None)
    return run_recipe(rcp, default_out(rcp, "smoke", folder), scale="smoke")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path,
                    default=Path(__file__).resolve().parents[1] / "results" / "smoke-baseline")
    ap.add_argument("--write", type=Path, default=None, help="write summaries to this folder")
    ap.add_argument("--recipes", nargs="*", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a field of every recipe run (as learndyn run --set)")
    args = ap.parse_args(argv)
    from learndyn.recipes import list_recipes, parse_sets
    overrides = parse_sets(args.set)
    names = args.recipes or sorted(list_recipes())
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            summary = json.loads(json.dumps(run_recipe_smoke(name, Path(tmp), overrides),
                                            default=str))
            if args.write:
                args.write.mkdir(parents=True, exist_ok=True)
                (args.write / f"{name}.json").write_text(json.dumps(summary, indent=1) + "\n")
                print(f"{name}: written")
                continue
            path = args.baseline / f"{name}.json"
            if not path.exists():
                print(f"{name}: no baseline ({path}); new recipe")
                continue
            r = compare(name, json.loads(path.read_text()), summary)
            line = (f"{name}: {r['identical']} identical, {r['close']} close (max rel "
                    f"{r['max_rel']:.1e}), {len(r['near'])} stage breaks near, {r['known']} "
                    f"known changes, {len(r['changed'])} "
                    f"changed, {len(r['missing'])} missing")
            print(line)
            for x in r["near"][:20] + r["changed"][:20] + r["missing"][:20]:
                print(f"    {x}")
            bad += bool(r["changed"] or r["missing"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
