#!/usr/bin/env bash
# Set up (if needed) and run the main job: the closed- vs open-loop study (Ger & Barak
# Figs. 1c, 2a-c) at paper scale, then the claims ledger on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/learndyn run gb2025-fig1 --scale paper "$@"
# --no-run: the ledger reads the run above and runs nothing more (the claim comparing the
# paper's text with the authors' code needs a second run: learndyn claims without --no-run)
.venv/bin/learndyn claims --paper ger-barak-2025 --scale paper --no-run
