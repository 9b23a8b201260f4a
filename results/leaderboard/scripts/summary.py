"""A leaderboard's summary: one row per variant, several figures side by side, from the
leaderboard CSVs in OUT. Two layouts:

- ``toys`` (the default): the three mode-collapse figures on both mixtures (PacGAN's Table 1
  layout), from what toy_tables.sh writes (modes.csv, hq.csv, reverse-kl.csv);
- ``mnist``: every metric of MNIST's default set, from what mnist_tables.sh writes.

Each cell: mean ± std over the seeds (n; no std for one seed, "-" where the variant has no
finished run on that dataset), rows in alphabetical order, "worse" where Holm-adjusted p < 0.05
against the dataset's best on that figure.

    python results/leaderboard/scripts/summary.py OUT [toys|mnist]   # writes OUT/summary.md
"""
import sys
from pathlib import Path

import pandas as pd

# (csv file, column label, decimals, scale) and (dataset, its label in the header or None)
LAYOUTS = {
    "toys": ([("modes.csv", "modes", 1, 1.0), ("hq.csv", "high-quality %", 1, 100.0),
              ("reverse-kl.csv", "reverse KL", 2, 1.0)],
             [("ring-2d-pacgan", "ring"), ("grid-25", "grid")]),
    "mnist": ([("fid.csv", "FID", 0, 1.0), ("kid.csv", "KID", 0, 1.0),
               ("prdc_precision.csv", "precision %", 1, 100.0),
               ("prdc_recall.csv", "recall %", 1, 100.0),
               ("prdc_density.csv", "density", 2, 1.0),
               ("prdc_coverage.csv", "coverage %", 1, 100.0),
               ("classifier_score.csv", "classifier score", 2, 1.0),
               ("parzen_mean.csv", "Parzen (nats)", 0, 1.0),
               ("memorisation_near_copies.csv", "near copies %", 1, 100.0)],
              [("mnist", None)]),
}
HEADERS = {
    "toys": ("# The toy leaderboard in PacGAN's layout\n\nEach cell: mean ± std over seeds (n); "
             "worse: Holm-adjusted p < 0.05 against the dataset's best on that figure (modes.md, "
             "hq.md, reverse-kl.md give the tests). high-quality %: samples within 3 standard "
             "deviations of their nearest mode; reverse KL: from the high-quality samples' mode "
             "histogram to the uniform one (lower is better).\n\n"),
    "mnist": ("# The MNIST leaderboard, every metric side by side\n\nEach cell: mean ± std over "
              "seeds (n); worse: Holm-adjusted p < 0.05 against the best on that metric (each "
              "metric's own file, e.g. fid.md, gives the tests and the real-data and memoriser "
              "rows). Lower is better for FID, KID and near copies, higher for the rest.\n\n"),
}
KEYS = ["generator", "discriminator", "loss"]


def cell(row: pd.Series, digits: int, scale: float) -> str:
    if pd.isna(row["mean"]):
        return "-"
    spread = "" if pd.isna(row["std"]) else f" ± {row['std'] * scale:.{digits}f}"
    text = f"{row['mean'] * scale:.{digits}f}{spread} ({int(row['n'])})"
    return text + (" worse" if row["significant"] is True or row["significant"] == "True" else "")


def label_of(short: str | None, label: str) -> str:
    return label if short is None else f"{short}: {label}"


def summary(out: Path, layout: str = "toys") -> str:
    figures, datasets = LAYOUTS[layout]
    # PacGAN's column order: the ring's three figures, then the grid's
    frames = {label_of(short, figure[1]): None for _, short in datasets for figure in figures}
    for name, label, digits, scale in figures:
        frame = pd.read_csv(out / name)
        frame = frame[~frame["reference"].astype(bool)]
        variant = [c for c in frame.columns if c not in {
            "rank", "dataset", "mean", "std", "ci95_low", "ci95_high", "n", "done", "diverged",
            "failed", "interrupted", "running", "not_started", "left_out", "complete",
            "p_vs_best", "p_holm", "significant", "vs_best", "best_run", "reference"}]
        for dataset, short in datasets:
            part = frame[frame["dataset"] == dataset].set_index(variant)
            frames[label_of(short, label)] = part.apply(cell, axis=1, args=(digits, scale))
    table = pd.DataFrame(frames).fillna("-")  # a variant not run on a mixture: "-"
    order = sorted(table.index.tolist())  # rows: alphabetical, no ranking implied
    lines = ["| " + " | ".join([*(table.index.names), *table.columns]) + " |",
             "|---" * (len(table.index.names) + len(table.columns)) + "|"]
    for key in order:
        key = key if isinstance(key, tuple) else (key,)
        values = [str(v) for v in key] + [str(table.loc[key if len(key) > 1 else key[0], c])
                                           for c in table.columns]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] not in LAYOUTS):
        sys.exit(__doc__.rsplit("    ", 1)[1].strip())
    out = Path(sys.argv[1])
    layout = sys.argv[2] if len(sys.argv) == 3 else "toys"
    (out / "summary.md").write_text(HEADERS[layout] + summary(out, layout))
