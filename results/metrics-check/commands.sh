#!/usr/bin/env bash
# Every file of results/metrics-check/ but README.md, the sweep files and pilots/, made by this script from the repository
# root: STORE=/tmp/m18/sweep/store HELDOUT=/tmp/m18/heldout/store bash results/metrics-check/commands.sh
# (the sweeps themselves were run first, as below, each with 1 worker of 1 thread).
set -euo pipefail
S=${STORE:-/tmp/metrics-check-store}
H=${HELDOUT:-/tmp/metrics-check-heldout}
D=results/metrics-check
G=.venv/bin/ganbench
export OMP_NUM_THREADS=1
[ -d "$S" ] || $G sweep $D/sweep.toml --store "$S" --workers 1 --threads 1
[ -d "$H" ] || $G sweep $D/heldout-seeds.toml --store "$H" --workers 1 --threads 1
$G results --store "$S" --format csv > $D/results.csv
.venv/bin/python $D/to_markdown.py $D/results.csv > $D/results.md
$G leaderboard --store "$S" --dataset ring-2d --metric modes --references > $D/leaderboard-ring-2d-modes.md
$G leaderboard --store "$S" --dataset ring-2d --metric modes --references --format csv > $D/leaderboard-ring-2d-modes.csv
$G leaderboard --store "$S" --dataset ring-2d --metric modes --references --format html --out $D/leaderboard-ring-2d.html
$G leaderboard --store "$S" --dataset mnist --metric fid --references > $D/leaderboard-mnist-fid.md
$G leaderboard --store "$S" --dataset mnist --metric fid --references --format csv > $D/leaderboard-mnist-fid.csv
$G leaderboard --store "$S" --dataset mnist --metric fid --references --format html --out $D/leaderboard-mnist.html
$G results --store "$H" --format csv > $D/heldout-results.csv
$G leaderboard --store "$H" --metric modes --references > $D/heldout-leaderboard-modes.md
$G plugins --json > $D/plugins.json
# The scatter / grid of samples of the runs README.md names (each run's own samples.png).
mkdir -p $D/samples
cp "$S"/e9cfc89ce68d/samples.png $D/samples/ring-2d-minimax-seed2.png
cp "$S"/b954f5d343d8/samples.png $D/samples/ring-2d-minimax-seed1.png
cp "$S"/fd3b03d03673/samples.png $D/samples/ring-2d-hinge-seed0.png
cp "$H"/14fc1976176a/samples.png $D/samples/ring-2d-minimax-seed4-heldout.png
cp "$S"/c5b0be0f983f/samples.png $D/samples/mnist-minimax-seed1.png
cp "$S"/898adfe97a35/samples.png $D/samples/mnist-hinge-seed0.png
