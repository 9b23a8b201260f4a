"""The toy leaderboard's summary: one row per variant, the three mode-collapse figures on both
mixtures side by side (PacGAN's Table 1 layout), from the leaderboard CSVs that
toy_tables.sh writes (modes.csv, hq.csv, reverse-kl.csv). Each cell: mean ± std over the seeds
(n; no std for one seed, "-" where the variant has no finished run on that mixture), rows in
alphabetical order, "worse" where Holm-adjusted p < 0.05 against the dataset's best on that figure.

    python results/leaderboard/scripts/summary.py OUT   # writes OUT/summary.md
"""
import sys
from pathlib import Path

import pandas as pd

FIGURES = [("modes.csv", "modes", 1, 1.0), ("hq.csv", "high-quality %", 1, 100.0),
           ("reverse-kl.csv", "reverse KL", 2, 1.0)]
DATASETS = [("ring-2d-pacgan", "ring"), ("grid-25", "grid")]
KEYS = ["generator", "discriminator", "loss"]


def cell(row: pd.Series, digits: int, scale: float) -> str:
    if pd.isna(row["mean"]):
        return "-"
    spread = "" if pd.isna(row["std"]) else f" ± {row['std'] * scale:.{digits}f}"
    text = f"{row['mean'] * scale:.{digits}f}{spread} ({int(row['n'])})"
    return text + (" worse" if row["significant"] is True or row["significant"] == "True" else "")


def summary(out: Path) -> str:
    # PacGAN's column order: the ring's three figures, then the grid's
    frames = {f"{short}: {figure[1]}": None for _, short in DATASETS for figure in FIGURES}
    for name, label, digits, scale in FIGURES:
        frame = pd.read_csv(out / name)
        frame = frame[~frame["reference"].astype(bool)]
        variant = [c for c in frame.columns if c not in {
            "rank", "dataset", "mean", "std", "ci95_low", "ci95_high", "n", "done", "diverged",
            "failed", "interrupted", "running", "not_started", "left_out", "complete",
            "p_vs_best", "p_holm", "significant", "vs_best", "best_run", "reference"}]
        for dataset, short in DATASETS:
            part = frame[frame["dataset"] == dataset].set_index(variant)
            frames[f"{short}: {label}"] = part.apply(cell, axis=1, args=(digits, scale))
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
    if len(sys.argv) != 2:
        sys.exit(__doc__.rsplit("    ", 1)[1].strip())
    out = Path(sys.argv[1])
    (out / "summary.md").write_text(
        "# The toy leaderboard in PacGAN's layout\n\nEach cell: mean ± std over seeds (n); "
        "worse: Holm-adjusted p < 0.05 against the dataset's best on that figure (modes.md, "
        "hq.md, reverse-kl.md give the tests). high-quality %: samples within 3 standard "
        "deviations of their nearest mode; reverse KL: from the high-quality samples' mode "
        "histogram to the uniform one (lower is better).\n\n" + summary(out))
