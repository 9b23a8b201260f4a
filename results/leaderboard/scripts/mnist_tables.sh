#!/bin/bash
# The MNIST leaderboard's tables from banked runs (results/leaderboard/runs/, or $RUNS), into
# OUT: one leaderboard per metric of MNIST's default set (markdown and CSV; FID also as
# self-contained HTML), each with the real-data and memoriser rows, and what made them
# (provenance.txt), and summary.md with every metric side by side. Each metric ranks as it
# declares (FID, KID, near copies: lower first).
#   bash results/leaderboard/scripts/mnist_tables.sh OUT
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")/../../.." && pwd)
runs=${RUNS:-$here/results/leaderboard/runs}
gb=${GANBENCH:-$here/.venv/bin/ganbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for d in "$runs"/*/; do  # the MNIST runs: a store of their records alone
  ds=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['dataset'])" "$d/config.json")
  [ "$ds" = "mnist" ] && cp -r "$d" "$tmp/"
done
n=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$n" -gt 0 ] || { echo "no MNIST runs in $runs" >&2; exit 2; }
mkdir -p "$out"
lb() { OMP_NUM_THREADS=1 "$gb" leaderboard --store "$tmp" --dataset mnist --references "$@"; }
for metric in fid kid prdc_precision prdc_recall prdc_density prdc_coverage classifier_score \
              parzen_mean memorisation_near_copies; do
  lb --metric "$metric" --format markdown > "$out/$metric.md"
  lb --metric "$metric" --format csv > "$out/$metric.csv"
done
lb --metric fid --format html > "$out/fid.html"
OMP_NUM_THREADS=1 "$here/.venv/bin/python" "$here/results/leaderboard/scripts/summary.py" "$out" mnist
{ echo "made $(date -u +%FT%TZ) by results/leaderboard/scripts/mnist_tables.sh $out"
  echo "code: $(git -C "$here" rev-parse --short HEAD) (the runs: their records' versions)"
  echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "runs: $n MNIST runs from $runs"; } > "$out/provenance.txt"
