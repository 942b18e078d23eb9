#!/usr/bin/env bash
# One GPU session's checks: the Li2 recipes at paper scale on their reference presets, the
# Li2 ledger (which runs the paper_text comparisons), the gb2025-fig1 paper run timed on the
# GPU, as far as a time budget allows, then the claims ledger over what ran.
# Usage (on a machine with jax[cuda] and the runtime deps): OUT=dir bash scripts/gpu_check.sh [BUDGET_S]
# Results land in $OUT: log.txt, timings.tsv, claims.json and runs.tgz (summaries and figures).
set -u
BUDGET=${1:-480}
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
LD="python3 -m learndyn.cli"
start=$SECONDS
exec > >(tee -a "$OUT/log.txt") 2>&1
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
echo -e "step\tseconds\trc" > "$OUT/timings.tsv"
stage() {  # stage NAME LIMIT_S COMMAND...: run it if the budget still allows, and time it
  local name=$1 lim=$2; shift 2
  local left=$((BUDGET - (SECONDS - start)))
  if (( left < 30 )); then echo "skip $name: budget spent"; return; fi
  (( lim > left )) && lim=$left
  local t0=$SECONDS
  timeout "$lim" "$@"; local rc=$?
  echo -e "$name\t$((SECONDS - t0))\t$rc" | tee -a "$OUT/timings.tsv"
}
stage gb-smoke 90 $LD run gb2025-fig1 --scale smoke
# the Li2 reference presets (issue 22): li2-fig3's ridge V is the run the CPU cannot afford
stage li2-fig3-paper 180 $LD run li2-fig3 --scale paper
stage li2-fig10-11-paper 150 $LD run li2-fig10-11 --scale paper
stage li2-fig14-16-paper 120 $LD run li2-fig14-16 --scale paper
stage li2-fig7-paper 120 $LD run li2-fig7 --scale paper
# li2.reference_vs_paper.*: runs each recipe once more per field the presets differ in
stage li2-claims-paper 300 $LD claims --paper li2-2025 --scale paper
stage gb-paper-1seed 240 $LD run gb2025-fig1 --scale paper
# the ledger over the runs that finished (finished runs are read back, not recomputed)
for r in runs/*-paper-s*; do [ -f "$r/summary.json" ] && echo "finished: $r"; done
timeout 60 $LD claims --scale paper --json --no-run > "$OUT/claims.json" || true
tar czf "$OUT/runs.tgz" --exclude=records.zarr --exclude=checkpoint.npz runs
ls -la "$OUT"
