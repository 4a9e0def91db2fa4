#!/usr/bin/env bash
# Train the extra training seeds of the cpu preset one after another on one thread (resumable: a finished model is
# skipped, an interrupted one continues from its .state.pt). The seed-1 checkerboard runs keep 4 snapshots along
# training for the gap-along-training curve. The command is the workflow's train rule (workflow/rules/experiment.smk),
# so the workflow takes the files as its own. Usage: bash tools/train_seeds.sh [dataset:w_r:seed ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  models=(checker:0.0:1 checker:10.0:1 checker:0.0:2 checker:10.0:2 blob:0.0:1 blob:0.0:2 circles2:0.0:1 circles2:0.0:2
          blob:10.0:1 blob:10.0:2 circles2:10.0:1 circles2:10.0:2)
fi
mkdir -p logs/cpu/train
for m in "${models[@]}"; do
  IFS=: read -r d w s <<<"$m"
  out="data/checkpoints/cpu/${d}_w${w}_s${s}.pt"
  if [ -f "$out" ]; then echo "$out: done"; continue; fi
  snap=0
  if [ "$d" = checker ] && [ "$s" = 1 ]; then snap=4; fi
  echo "$(date -u +%FT%TZ) training $out (snapshots: $snap)"
  nice -n 19 "$PY" -m scoregap train --preset cpu --dataset "$d" --w-r "$w" --out "$out" --no-progress --threads 1 \
    --set seed="$s" --snapshots "$snap" > "logs/cpu/train/${d}_w${w}_s${s}.log" 2>&1
  echo "$(date -u +%FT%TZ) finished $out"
done
