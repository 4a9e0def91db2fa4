#!/usr/bin/env bash
# Sample at 10^6 samples per sampler on this machine's CPU cores (the shipped results have >= 1 M samples):
#   1. if the authors' release is given (SCOREGAP_REFERENCE_DIR), first their four checkerboard networks, which the
#      GPU run did not reach, into data/results/published/samples/ (log: data/results/published/sample.log);
#   2. the twelve shipped cpu-preset models into OUT_DIR (default data/results/cpu/samples_1m; log: OUT_DIR/sample.log).
# JOBS model-samplers run at once, one thread each (default: one per core; two single-threaded processes sampled
# 1.1-1.2 M score evaluations/s here, one process with two chunk workers 0.9-1.0 M/s), about 25 min per file.
# Resumable and safe to start twice: finished files are skipped, a file another run is working on (flock on
# <file>.lock) is skipped, and an interrupted file continues from its .partial state. Restart it until all
# files exist, then tools/finish_1m.sh.  On a GPU, tools/gpu_sample.sh does the same in minutes.
#   usage: [SCOREGAP_REFERENCE_DIR=REF] bash tools/cpu_sample_1m.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export OUT=${1:-data/results/cpu/samples_1m} PUB_OUT=data/results/published/samples REF=${SCOREGAP_REFERENCE_DIR:-}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT" "$PUB_OUT"
one() {  # kind (cpu|published) dataset w_R method
  local kind=$1 d=$2 w=$3 m=$4 f log src
  if [ "$kind" = published ]; then
    f="$PUB_OUT/${d}_w${w}_${m}.npz" log=data/results/published/sample.log
    src=(--published "$REF" --published-dataset "$d" --published-w-r "$w")
  else
    f="$OUT/${d}_w${w}_${m}.npz" log="$OUT/sample.log" src=(--checkpoint "data/checkpoints/cpu/${d}_w${w}.pt")
  fi
  [ -f "$f" ] && return 0
  exec 9> "$f.lock"
  flock -n 9 || return 0  # another run is sampling this file
  [ -f "$f" ] && return 0
  echo "$(date -u +%FT%TZ) start $kind ${d}_w${w} $m" >> "$log"
  .venv/bin/python -m scoregap sample --preset cpu --set n_samples=1000000 --threads 1 --no-progress \
    "${src[@]}" --method "$m" --out "$f" >> "$log" 2>&1
  rm -f "$f.lock"
}
export -f one
{
  if [ -n "$REF" ]; then for w in 0.0 0.1 1.0 10.0; do for m in ode sde; do echo "published checker $w $m"; done; done; fi
  for d in checker blob circles2; do for w in 0.0 0.1 1.0 10.0; do for m in ode sde; do echo "cpu $d $w $m"; done; done; done
} | xargs -P "$JOBS" -L 1 bash -c 'one "$0" "$1" "$2" "$3"'
echo "$(date -u +%FT%TZ) all done" >> "$OUT/sample.log"
