#!/usr/bin/env bash
# Ship the authors' networks' evaluation at 10^6 samples for all three data sets once the checkerboard's eight files
# exist in data/results/published/samples (SCOREGAP_REFERENCE_DIR=REF bash tools/cpu_sample_1m.sh, resumably):
#   1. the workflow's published_evaluate rule, forced, with all three data sets (a dry run first shows that no
#      sampling job would run);  2. config/config.yaml's published_datasets becomes [blob, circles2, checker].
# Then, by hand: drop the book's "checkerboard networks at 10^5 samples" section and checker_100k,
# update data/README.md, `python -m scoregap.figures update-references --notebooks published_networks --measure-noise`.
#   usage: SCOREGAP_REFERENCE_DIR=REF bash tools/finish_published_1m.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${SCOREGAP_REFERENCE_DIR:?set SCOREGAP_REFERENCE_DIR to the folder of the authors release}
SMK=${SMK:-.venv/bin/snakemake}
for w in 0.0 0.1 1.0 10.0; do for m in ode sde; do
  f=data/results/published/samples/checker_w${w}_${m}.npz
  [ -f "$f" ] && [ -f "$f.sha256" ] || { echo "missing $f (run tools/cpu_sample_1m.sh first)" >&2; exit 1; }
done; done
ARGS=(published --cores "${CORES:-2}" --forcerun published_evaluate --config "reference_dir=$REF" "published_datasets=[blob,circles2,checker]")
if "$SMK" -n "${ARGS[@]}" 2>&1 | grep -q "rule published_samples"; then
  echo "snakemake would resample the published networks; stopping (check the sample files' settings)" >&2; exit 1
fi
"$SMK" "${ARGS[@]}"
sed -i 's/^published_datasets: .*/published_datasets: [blob, circles2, checker]/' config/config.yaml
tail -3 logs/published/evaluate.log
