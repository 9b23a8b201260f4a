#!/usr/bin/env bash
# The GPU check (issue 20, item 6): one command, a few minutes on one GPU. It runs the
# gpu-marked tests, then benchmarks/gpu_figures.py (the Parzen estimator at MNIST size, an
# epoch of the paper's networks at each matmul precision, and with 2+ GPUs whether the local
# executor keeps every GPU busy), and writes everything to results/gpu/figures.md (OUT=...
# for another file). On a machine without CUDA it runs the same steps: the tests skip, the
# figures say "no CUDA device", and it exits 0.
#
#   bash benchmarks/gpu_check.sh            # from the repository root, after `make install`
#   PY=python OUT=/tmp/figures.md bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-results/gpu/figures.md}
mkdir -p "$(dirname "$OUT")"
started=$(date +%s)

{
  echo "# GPU figures"
  echo
  echo "Written by \`bash benchmarks/gpu_check.sh\` on $(date -u +%Y-%m-%dT%H:%M:%SZ), host $(hostname),"
  echo "code at $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')."
  echo
  if command -v nvidia-smi >/dev/null 2>&1; then
    echo '```'
    nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv 2>&1
    echo '```'
  else
    echo "nvidia-smi: not found"
  fi
  echo
  echo "## gpu-marked tests"
  echo
} > "$OUT"

tests_log=$(mktemp)
"$PY" -m pytest -q -m gpu -p no:cacheprovider -rs tests > "$tests_log" 2>&1
tests_status=$?
{
  echo '```'
  tail -n 15 "$tests_log"
  echo '```'
  echo "exit status $tests_status"
  echo
  echo "## figures"
  echo
} >> "$OUT"
rm -f "$tests_log"

"$PY" benchmarks/gpu_figures.py "$OUT"
figures_status=$?

echo "" >> "$OUT"
echo "The whole check took $(( $(date +%s) - started )) s." >> "$OUT"
echo "written: $OUT (tests: exit $tests_status, figures: exit $figures_status)"
# pytest exits 5 when every gpu test was deselected/skipped: not a failure here
if [ "$tests_status" -ne 0 ] && [ "$tests_status" -ne 5 ]; then exit "$tests_status"; fi
exit "$figures_status"
