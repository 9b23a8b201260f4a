"""results/leaderboard/scripts/summary.py: the leaderboard CSVs of one folder side by side,
one row per variant, mean ± std (n) per figure, scaled and rounded as the layout says, the
reference rows left out, "worse" where the leaderboard's Holm test said so."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "results" / "leaderboard" / "scripts" / "summary.py"
COLUMNS = ["rank", "generator", "discriminator", "loss", "dataset", "mean", "std", "ci95_low",
           "ci95_high", "n", "done", "diverged", "failed", "interrupted", "running",
           "not_started", "left_out", "complete", "p_vs_best", "p_holm", "significant",
           "vs_best", "best_run", "reference"]
MNIST_FILES = ["fid", "kid", "prdc_precision", "prdc_recall", "prdc_density", "prdc_coverage",
               "classifier_score", "parzen_mean", "memorisation_near_copies"]


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in COLUMNS})


def _row(loss: str, mean: float, std: float | str, n: int, significant: str = "",
         reference: bool = False, dataset: str = "mnist") -> dict:
    return {"generator": "g" if not reference else "real data", "discriminator": "d",
            "loss": loss, "dataset": dataset, "mean": mean, "std": std, "n": n,
            "significant": significant, "reference": reference}


def _run(folder: Path, *layout: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(folder), *layout],
                          capture_output=True, text=True)


def test_mnist_layout_puts_every_metric_side_by_side(tmp_path):
    for i, name in enumerate(MNIST_FILES):
        # metric i: loss "a" has mean 0.1234 + i, std 0.05; "b" one seed, worse on FID only
        _write(tmp_path / f"{name}.csv", [
            _row("a", 0.1234 + i, 0.05, 3),
            _row("b", 0.5 + i, "", 1, significant="True" if name == "fid" else "False"),
            _row("-", 99.0, "", 0, reference=True)])
    done = _run(tmp_path, "mnist")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "summary.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("| g |")]
    assert len(lines) == 2  # the reference row is not a variant
    a = [c.strip() for c in lines[0].strip("|").split("|")]
    b = [c.strip() for c in lines[1].strip("|").split("|")]
    assert a[:3] == ["g", "d", "a"] and b[:3] == ["g", "d", "b"]
    # FID 0 decimals; KID 0; precision % (x100, 1 decimal) from 2.1234; density 2 decimals
    assert a[3] == "0 ± 0 (3)" and a[4] == "1 ± 0 (3)"
    assert a[5] == "212.3 ± 5.0 (3)"
    assert a[7] == "4.12 ± 0.05 (3)"
    assert a[11] == "812.3 ± 5.0 (3)"  # near copies %: 8.1234 x 100
    assert b[3] == "0 (1) worse" and "worse" not in " ".join(b[4:])
    assert "99" not in text


def test_toys_layout_is_the_default_and_keeps_mixtures_apart(tmp_path):
    for name in ("modes", "hq", "reverse-kl"):
        _write(tmp_path / f"{name}.csv", [
            _row("a", 7.5, 0.5, 5, dataset="ring-2d-pacgan"),
            _row("a", 0.25, 0.125, 5, dataset="grid-25", significant="True")])
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "summary.md").read_text()
    assert "ring: modes" in text and "grid: reverse KL" in text
    [line] = [line for line in text.splitlines() if line.startswith("| g |")]
    cells = [c.strip() for c in line.strip("|").split("|")]
    # ring modes, ring hq % (x100), ring reverse KL; grid modes, hq %, reverse KL
    assert cells[3:] == ["7.5 ± 0.5 (5)", "750.0 ± 50.0 (5)", "7.50 ± 0.50 (5)",
                         "0.2 ± 0.1 (5) worse", "25.0 ± 12.5 (5) worse", "0.25 ± 0.12 (5) worse"]


@pytest.mark.parametrize("args", [[], ["x", "y", "z"], ["x", "nope"]])
def test_bad_arguments_print_usage_and_fail(tmp_path, args):
    done = _run(tmp_path, *args) if args else subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode != 0 and "summary.py OUT" in done.stderr
