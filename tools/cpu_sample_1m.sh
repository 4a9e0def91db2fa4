#!/usr/bin/env bash
# Sample the twelve shipped cpu-preset models at 10^6 samples per sampler on this machine's CPU cores
# (issue: shipped results at >= 1 M samples). JOBS model-samplers run at once, one thread each (default: one per
# core; two single-threaded processes sampled 1.1-1.2 M score evaluations/s here, one process with two chunk
# workers 0.9-1.0 M/s). Resumable: finished files are skipped and an interrupted file continues from its .partial
# state, so the script can be restarted in every session until all 24 files exist (then tools/finish_1m.sh).
# On a lent GPU, tools/gpu_sample.sh does the same in minutes.
#   usage: bash tools/cpu_sample_1m.sh [OUT_DIR]   (default data/results/cpu/samples_1m)
set -euo pipefail
cd "$(dirname "$0")/.."
export OUT=${1:-data/results/cpu/samples_1m}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
one() {
  local d=$1 w=$2 m=$3 f="$OUT/$1_w$2_$3.npz"
  [ -f "$f" ] && return 0
  echo "$(date -u +%FT%TZ) start ${d}_w${w} $m" >> "$OUT/sample.log"
  .venv/bin/python -m scoregap sample --preset cpu --set n_samples=1000000 --threads 1 --no-progress \
    --checkpoint "data/checkpoints/cpu/${d}_w${w}.pt" --method "$m" --out "$f" >> "$OUT/sample.log" 2>&1
}
export -f one
for d in checker blob circles2; do for w in 0.0 0.1 1.0 10.0; do for m in ode sde; do echo "$d $w $m"; done; done; done \
  | xargs -P "$JOBS" -L 1 bash -c 'one "$0" "$1" "$2"'
echo "$(date -u +%FT%TZ) all done" >> "$OUT/sample.log"
