"""Time the quick start's main job against its plain-PyTorch baseline, on this machine.

    python -m benchmarks._time_demo [--rounds 3]        # from the repository root

Each round, one right after the other: the baseline (benchmarks/_demo_baseline.py: the demo's
1000 closed-loop and 1000 student updates as a plain PyTorch loop, nothing recorded; the
faster of default threads and one thread), then
what `bash scripts/demo.sh` runs after set-up (`learndyn run gb2025-fig1 --scale paper` into a
fresh folder, then `learndyn claims --paper ger-barak-2025 --scale paper --no-run` on it)
twice: cold (an empty compilation cache) and warm (the cache a previous run filled). Prints
each time, the medians and the ratios of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _timed(cmd, env) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def demo(cache: Path) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "LEARNDYN_COMPILE_CACHE": "1"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    with tempfile.TemporaryDirectory() as runs:
        out = Path(runs) / "gb2025-fig1-paper-s1"
        t = _timed([str(BIN / "learndyn"), "run", "gb2025-fig1", "--scale", "paper", "--quiet",
                    "--out", str(out)], env)
        return t + _timed([str(BIN / "learndyn"), "claims", "--paper", "ger-barak-2025",
                           "--scale", "paper", "--no-run", "--runs-dir", runs], env)


def baseline() -> float:
    """The faster of the baseline with PyTorch's default threads and with one thread (on a
    busy machine OpenMP's spinning threads can slow the default down; the faster one keeps
    the comparison conservative: it favours the baseline)."""
    return min(_timed([sys.executable, "-m", "benchmarks._demo_baseline"] + extra,
                      dict(os.environ)) for extra in ([], ["--threads", "1"]))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    times = {"baseline": [], "cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as warm_cache:
        demo(Path(warm_cache))                                  # fills the warm cache
        for r in range(args.rounds):
            times["baseline"].append(baseline())
            with tempfile.TemporaryDirectory() as cold_cache:
                times["cold"].append(demo(Path(cold_cache)))
            times["warm"].append(demo(Path(warm_cache)))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()),
                  flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"times_s": times, "median_s": med,
           "cold_over_baseline": med["cold"] / med["baseline"],
           "warm_over_baseline": med["warm"] / med["baseline"]}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
