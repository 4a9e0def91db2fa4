#!/usr/bin/env bash
# Resume on a GPU: finish the cpu-preset training from its saved state, then sample as much as the time left allows.
set -u
OUT=${1:?}; NS=${NS:-200000}; export PYTHONUNBUFFERED=1
pack() { tar czf "$OUT/results.tgz" data/checkpoints/cpu data/results/cpu 2>/dev/null; }
T0=$(date +%s)
timeout ${TRAIN_LIMIT:-395} python3 -m scoregap train --preset cpu --set device=cuda --no-progress \
  --dataset blob circles2 checker --w-r 0.0 0.1 1.0 10.0 --out-dir data/checkpoints/cpu 2>&1 | tail -13
echo "train wall $(( $(date +%s) - T0 )) s"; pack
python3 -m scoregap sample --preset cpu --set device=cuda n_samples=$NS --no-progress \
  --checkpoint $(ls data/checkpoints/cpu/*_w*.pt | grep -v state) --out-dir data/results/cpu/samples > sample.log 2>&1 &
while kill -0 $! 2>/dev/null; do sleep 4; pack; done
cat sample.log | tail -25; pack; echo "all wall $(( $(date +%s) - T0 )) s"
