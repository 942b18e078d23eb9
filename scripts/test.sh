#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# two worker processes (pytest-xdist), one per core: most of a test's time is XLA compiling
# on one thread; LEARNDYN_TEST_WORKERS=0 runs the tests in this process
exec .venv/bin/python -m pytest -q -n "${LEARNDYN_TEST_WORKERS:-2}" "$@"
