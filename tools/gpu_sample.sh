#!/usr/bin/env bash
# One GPU run that samples everything the evaluation needs at >= 1 M samples per sampler (about 6 min on an H200:
# 1 M samples x 890 steps takes about 6.6 s per model and sampler there):
#   1. the 12 shipped cpu-preset models, ODE and SDE;  2. the authors' 12 networks (checker included), if REF is given.
# Usage, from the repository root on the GPU machine:  bash tools/gpu_sample.sh OUTDIR [REFDIR]
# Afterwards, on the CPU (no GPU needed): the truth at the same size and the W2² tables, e.g.
#   python -m scoregap truth --preset cpu --set n_samples=1000000 ...  then  make workflow / make published.
# Results are packed into OUTDIR/results.tgz after every stage, so a cut-off run still returns what it finished.
set -u
OUT=${1:?output folder}; REF=${2:-}
NS=${NS:-1000000}; PY=${PY:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
pack() { tar czf "$OUT/results.tgz" data/results/cpu/samples data/results/published/samples 2>/dev/null; }
nvidia-smi -L 2>/dev/null; $PY -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
T0=$(date +%s)
timeout ${SAMPLE_LIMIT:-240} $PY -m scoregap sample --preset cpu --set device=cuda n_samples=$NS --no-progress \
  --checkpoint $(ls data/checkpoints/cpu/*_w*.pt | grep -v state) --out-dir data/results/cpu/samples 2>&1 | tail -30
echo "cpu-preset models: sample wall $(( $(date +%s) - T0 )) s"; pack
if [ -n "$REF" ]; then
  T1=$(date +%s)
  timeout ${PUB_LIMIT:-240} $PY -m scoregap sample --preset cpu --set device=cuda n_samples=$NS --no-progress \
    --published "$REF" --out-dir data/results/published/samples 2>&1 | tail -30
  echo "published networks: sample wall $(( $(date +%s) - T1 )) s"; pack
fi
ls -la "$OUT"
