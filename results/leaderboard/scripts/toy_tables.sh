#!/bin/bash
# The toy leaderboard's tables from banked runs (results/leaderboard/runs/, or $RUNS), for the seeds
# given, into OUT: modes (markdown, CSV, self-contained HTML), high-quality fraction and
# reverse KL (markdown and CSV), each with the reference rows, summary.md (the three side by
# side, PacGAN's layout), and what made them (provenance.txt).
#   bash results/leaderboard/scripts/toy_tables.sh OUT "0 1"
set -euo pipefail
out=$1; seeds=${2:-"0 1 2 3 4"}
here=$(cd "$(dirname "$0")/../../.." && pwd)
runs=${RUNS:-$here/results/leaderboard/runs}
gb=${GANBENCH:-$here/.venv/bin/ganbench}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for d in "$runs"/*/; do  # the toy runs of the chosen seeds: a store of their records alone
  seed=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print(c['seed'] if c['dataset'] in ('ring-2d-pacgan','grid-25') else -1)" "$d/config.json")
  for s in $seeds; do [ "$seed" = "$s" ] && cp -r "$d" "$tmp/"; done
done
mkdir -p "$out"
lb() { OMP_NUM_THREADS=1 "$gb" leaderboard --store "$tmp" --dataset ring-2d-pacgan,grid-25 --references "$@"; }
lb --metric modes --format markdown > "$out/modes.md"
lb --metric modes --format csv > "$out/modes.csv"
lb --metric modes --format html > "$out/modes.html"
lb --metric modes_hq --format markdown > "$out/hq.md"
lb --metric modes_hq --format csv > "$out/hq.csv"
lb --metric modes_reverse_kl --format markdown > "$out/reverse-kl.md"
lb --metric modes_reverse_kl --format csv > "$out/reverse-kl.csv"
OMP_NUM_THREADS=1 "$here/.venv/bin/python" "$here/results/leaderboard/scripts/summary.py" "$out"
{ echo "made $(date -u +%FT%TZ) by results/leaderboard/scripts/toy_tables.sh $out \"$seeds\""
  echo "code: $(git -C "$here" rev-parse --short HEAD) (the runs: their records' versions)"
  echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "runs: $(ls "$tmp" | wc -l) of seeds $seeds"; } > "$out/provenance.txt"
