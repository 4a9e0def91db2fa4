#!/usr/bin/env bash
# Sample the twelve shipped cpu-preset models at 10^6 samples per sampler on this machine's CPU cores,
# one model-sampler at a time with its rows split over all cores (issue: shipped results at >= 1 M samples).
# Resumable: finished files are skipped and an interrupted file continues from its .partial state, so the
# script can be restarted in every session until all 24 files exist. On a lent GPU, tools/gpu_sample.sh
# does the same in minutes.
#   usage: bash tools/cpu_sample_1m.sh [OUT_DIR]   (default data/results/cpu/samples_1m)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-data/results/cpu/samples_1m}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$OUT"
for d in checker blob circles2; do
  for w in 0.0 0.1 1.0 10.0; do
    for m in ode sde; do
      f="$OUT/${d}_w${w}_${m}.npz"
      [ -f "$f" ] && continue
      echo "$(date -u +%FT%TZ) start ${d}_w${w} $m" >> "$OUT/sample.log"
      .venv/bin/python -m scoregap sample --preset cpu --set n_samples=1000000 --threads "$THREADS" --no-progress \
        --checkpoint "data/checkpoints/cpu/${d}_w${w}.pt" --method "$m" --out "$f" >> "$OUT/sample.log" 2>&1
    done
  done
done
echo "$(date -u +%FT%TZ) all done" >> "$OUT/sample.log"
