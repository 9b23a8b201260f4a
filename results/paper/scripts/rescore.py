"""Check: re-score every committed generator under results/paper the way the README tells
anyone to (`ganbench sample GEN --n 10000 --seed S` then `ganbench parzen --dataset mnist`),
with S = the run's seed + 3 (the draw the runner scores a selected generator with), and
compare with the test figure its folder's runs.csv reports. Writes one CSV row per generator.
Usage: OMP_NUM_THREADS=1 python results/paper/scripts/rescore.py OUT.csv
"""
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

root = Path(__file__).resolve().parents[1]  # results/paper
repo = root.parents[1]
ganbench = str(Path(sys.executable).parent / "ganbench")
tracked = subprocess.run(["git", "ls-files", "results/paper/*.pt"], cwd=repo, check=True,
                         capture_output=True, text=True).stdout.split()
rows = []
with tempfile.TemporaryDirectory() as tmp:
    for rel in sorted(tracked, key=lambda p: (len(p), p)):
        gen = repo / rel
        ckpt = torch.load(gen, map_location="cpu", weights_only=False)
        config = json.loads(ckpt["config"])
        update, seed = config["train"]["update"], config["seed"]
        folder = gen.parent.parent
        reported = [r for r in csv.DictReader(open(folder / "runs.csv"))
                    if r["update"] == update and int(r["seed"]) == seed]
        assert len(reported) == 1, (rel, reported)
        reported = reported[0]
        samples = Path(tmp) / "samples.npy"
        subprocess.run([ganbench, "sample", str(gen), "--n", "10000", "--seed", str(seed + 3),
                        "--out", str(samples)], check=True, capture_output=True)
        out = subprocess.run([ganbench, "parzen", "--samples", str(samples), "--dataset", "mnist",
                              "--json"], check=True, capture_output=True, text=True).stdout
        score = json.loads(out)
        row = {"generator": rel, "update": update, "seed": seed,
               "run_id_in_weights": ckpt["run_id"], "run_id_in_runs_csv": reported["run_id"],
               "step_in_weights": ckpt["step"], "selected_step": reported["selected_step"],
               "reported_test": reported["parzen_mean"],
               "rescored_test": repr(score["parzen_mean"]),
               "rescored_stderr": repr(score["parzen_stderr"]),
               "equal": repr(score["parzen_mean"]) == reported["parzen_mean"]}
        print(row, flush=True)
        rows.append(row)
with open(sys.argv[1], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
print(f"{sum(r['equal'] for r in rows)} of {len(rows)} generators re-score to the reported figure")
