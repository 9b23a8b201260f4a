"""results.csv (``ganbench results --format csv``) as a markdown table: one row per run, the
columns ``ganbench results`` shows on a terminal (scores of every metric, no timings or
protocol JSON), numbers to 4 significant digits. Usage: python to_markdown.py results.csv"""

import sys

import pandas as pd

from ganbench.results import summary_columns

frame = pd.read_csv(sys.argv[1], dtype={"run_id": str})
frame = frame.sort_values(["dataset", "loss", "seed"])
columns = [c for c in summary_columns(frame) if c not in ("generator", "discriminator")
           and frame[c].notna().any()]


def cell(value) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.4g}"
    return str(value)


print("| " + " | ".join(columns) + " |")
print("|" + "---|" * len(columns))
for _, row in frame.iterrows():
    print("| " + " | ".join(cell(row[c]) for c in columns) + " |")
