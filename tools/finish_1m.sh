#!/usr/bin/env bash
# Ship the cpu-preset results at 10^6 samples per sampler once all 24 sample files exist (tools/cpu_sample_1m.sh on
# the CPU, resumably, or tools/gpu_sample.sh on a GPU):
#   1. copy data/results/cpu/samples_1m/*.npz over data/results/cpu/samples/ (the files the cpu preset reads);
#   2. the truth histograms at 10^6 exact samples;  3. the W2² table with 8 bootstrap replicates
#   (as the published table; 3 (B + 2) OT solves of ≈ 4 s per row, 29 min on 2 threads for the cpu models) and the MC floor.
# Afterwards set the cpu preset's n_samples to the shipped size (1 000 000, as the preset describes what is
# shipped) and update data/README.md.  Rerun the book afterwards.  Usage: bash tools/finish_1m.sh [SRC_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:-data/results/cpu/samples_1m}
PY=${PY:-.venv/bin/python}
missing=()
for d in blob circles2 checker; do for w in 0.0 0.1 1.0 10.0; do for m in ode sde; do
  f="${d}_w${w}_${m}.npz"
  [ -f "$SRC/$f" ] && [ -f "$SRC/$f.sha256" ] || missing+=("$f")
done; done; done
if [ ${#missing[@]} -gt 0 ]; then
  echo "not all sample files are in $SRC yet; missing ${#missing[@]}: ${missing[*]}" >&2
  exit 1
fi
$PY - "$SRC" <<'PYEOF'
import sys
from pathlib import Path
from scoregap.experiment import read_result
bad = [(p.name, i["n"]) for p in sorted(Path(sys.argv[1]).glob("*_w*_*.npz")) for _, _, i in [read_result(p)] if i["n"] < 1_000_000]
if bad:
    sys.exit(f"files with fewer than 10^6 samples: {bad}")
PYEOF
cp "$SRC"/*_w*_*.npz "$SRC"/*_w*_*.npz.sha256 data/results/cpu/samples/
$PY -m scoregap truth --preset cpu --set n_samples=1000000 --dataset blob circles2 checker --out-dir data/results/cpu/truth --no-progress
$PY -m scoregap evaluate --preset cpu --set n_samples=1000000 --samples-dir data/results/cpu/samples --truth-dir data/results/cpu/truth \
  --checkpoint-dir data/checkpoints/cpu --dataset blob circles2 checker --w-r 0.0 0.1 1.0 10.0 --bootstrap 8 \
  --out data/results/cpu/w2.csv --threads 2 | tee data/results/cpu/evaluate.log
