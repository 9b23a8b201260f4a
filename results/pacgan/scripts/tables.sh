#!/bin/bash
# PacGAN's Table 1 at a reduced budget from the banked trials (results/pacgan/runs/): the
# table, verdict.md (each cell against the published one; the claim that packing captures
# more modes, one-sided, Holm-corrected), runs.csv and provenance.txt, into OUT.
#   bash results/pacgan/scripts/tables.sh OUT TRIALS STEPS
# e.g. bash results/pacgan/scripts/tables.sh results/pacgan/steps-10k 3 10000
set -euo pipefail
out=$1; trials=$2; steps=$3
here=$(cd "$(dirname "$0")/../../.." && pwd)
gb=${GANBENCH:-$here/.venv/bin/ganbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -r "$here/results/pacgan/runs/." "$tmp/"  # a store of finished runs: nothing to train
mkdir -p "$out"
OMP_NUM_THREADS=1 "$gb" reproduce pacgan --steps "$steps" --seeds "$trials" --no-train \
  --store "$tmp" --out "$out" --quiet > "$out/reproduce.txt"
{ echo "made $(date -u +%FT%TZ) by results/pacgan/scripts/tables.sh $out $trials $steps"
  echo "code: $(git -C "$here" rev-parse --short HEAD) (the runs: their records' versions)"
  echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "runs banked: $(ls "$here/results/pacgan/runs" | wc -l)"; } > "$out/provenance.txt"
