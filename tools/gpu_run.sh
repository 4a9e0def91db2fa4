#!/usr/bin/env bash
# Train and sample the shipped `cpu`-preset models (and sample the authors' networks) on a GPU.
# Usage (from the repository root, on the GPU machine): bash tools/gpu_run.sh OUTDIR [REFDIR]
# Sizes can be shrunk for a smoke test with EXTRA="steps=30 ..." and NS=<samples>.
set -u
OUT=${1:?output folder}; REF=${2:-}
DEV=${DEV:-cuda}; EXTRA=${EXTRA:-}; NS=${NS:-1000000}
PY=${PY:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
pack() { tar czf "$OUT/results.tgz" data/checkpoints/cpu data/results 2>/dev/null; }
nvidia-smi -L 2>/dev/null; $PY -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
T0=$(date +%s)
timeout ${TRAIN_LIMIT:-330} $PY -m scoregap train --preset cpu --set device=$DEV $EXTRA --no-progress \
  --dataset blob circles2 checker --w-r 0.0 0.1 1.0 10.0 --out-dir data/checkpoints/cpu 2>&1 | tail -20
echo "train wall $(( $(date +%s) - T0 )) s"; pack
T1=$(date +%s)
if ls data/checkpoints/cpu/*.pt >/dev/null 2>&1 && [ "$(ls data/checkpoints/cpu/*_w*.pt | grep -v state | wc -l)" -ge 12 ]; then
  timeout ${SAMPLE_LIMIT:-150} $PY -m scoregap sample --preset cpu --set device=$DEV n_samples=$NS --no-progress \
    --checkpoint $(ls data/checkpoints/cpu/*_w*.pt | grep -v state) --out-dir data/results/cpu/samples 2>&1 | tail -30
fi
echo "sample wall $(( $(date +%s) - T1 )) s"; pack
T2=$(date +%s)
if [ -n "$REF" ]; then
  timeout ${PUB_LIMIT:-150} $PY -m scoregap sample --preset cpu --set device=$DEV n_samples=$NS --no-progress \
    --published "$REF" --out-dir data/results/published/samples 2>&1 | tail -30
fi
echo "published wall $(( $(date +%s) - T2 )) s"; pack
ls -la "$OUT"
