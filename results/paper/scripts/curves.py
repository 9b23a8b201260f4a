"""Plot the learning curves of each seed (validation Parzen estimate, every epoch) from a
table's validation.csv, with the anneal diagnostics beside them. Usage:
    python results/paper/scripts/curves.py OUT.png VALIDATION.csv [VALIDATION.csv ...]
        [--anneal DIAGNOSTIC.json ...]
Each run (run_id) is drawn once, from the first file that has it; a run's curve holds every
epoch since its first stage (extended runs carry their history)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

args = sys.argv[1:]
out, rest = args[0], args[1:]
anneals = rest[rest.index("--anneal") + 1:] if "--anneal" in rest else []
tables = rest[: rest.index("--anneal")] if "--anneal" in rest else rest
curves = pd.concat([pd.read_csv(t) for t in tables])
fig, ax = plt.subplots(figsize=(8, 4.5))
for update, colour in (("simultaneous", "tab:blue"), ("alternating", "tab:orange")):
    for seed, style in ((0, "-"), (1, "--"), (2, ":")):
        runs = curves[(curves["update"] == update) & (curves["seed"] == seed)]
        if runs.empty:
            continue
        longest = runs.groupby("run_id")["epoch"].max().idxmax()  # the latest stage holds it all
        run = runs[runs["run_id"] == longest].sort_values("epoch")
        if seed == 0:  # the raw per-epoch scores of seed 0 only, to keep the plot readable
            ax.plot(run["epoch"], run["parzen_valid"], lw=0.6, color=colour, alpha=0.45)
        smooth = run["parzen_valid"].rolling(25, center=True, min_periods=5).mean()
        ax.plot(run["epoch"], smooth, style, lw=1.8 if seed == 0 else 1.2, color=colour,
                label=f"{update}, seed {seed} (25-epoch mean)")
for path in anneals:
    d = json.load(open(path))
    rows = pd.DataFrame(d["rows"])
    ax.plot(rows["epoch"], rows["parzen_valid"], "k.-", lw=1, ms=4)
    ax.annotate(f"annealed from {d['from_epoch']:g}", (rows["epoch"].iloc[-1],
                rows["parzen_valid"].iloc[-1]), textcoords="offset points", xytext=(4, 4),
                fontsize=8)
ax.axhline(225, color="k", ls="--", lw=1, label="paper: 225 (test)")
ax.set_ylim(100, 250)
ax.set_xlabel("epoch")
ax.set_ylabel("Parzen log-likelihood on 1,000 validation images (nats)")
ax.set_title("Original schedule, MNIST; black: the lr-anneal diagnostic (not the protocol)")
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()
fig.savefig(out, dpi=110)
print(out)
