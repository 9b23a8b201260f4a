"""results/leaderboard/scripts/bank.py: finished runs (done or diverged) of a store copied to
a folder that is itself a store of finished runs, the record last, idempotent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ganbench.record import FINAL
from ganbench.store import Store, atomic_write_json

SCRIPT = Path(__file__).resolve().parents[1] / "results" / "leaderboard" / "scripts" / "bank.py"


def _store(root: Path) -> Store:
    for run_id, status in (("a1", "done"), ("b2", "diverged"), ("c3", "running"),
                           ("d4", "failed")):
        folder = root / run_id
        atomic_write_json(folder / "config.json", {"run": run_id})
        atomic_write_json(folder / "record.json", {"run_id": run_id, "status": status})
        (folder / "losses.csv").write_text("step,d_loss,g_loss\n1,0.5,0.7\n")
        (folder / "checkpoint.pt").write_bytes(b"weights")
    return Store(root)


def test_bank_copies_the_finished_runs_records_and_nothing_else(tmp_path):
    _store(tmp_path / "store")
    dest = tmp_path / "runs"
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "store"), str(dest)],
                         capture_output=True, text=True, check=True).stdout
    assert "2 run(s) banked, 0 already there" in out
    assert sorted(p.name for p in dest.iterdir()) == ["a1", "b2"]
    assert sorted(p.name for p in (dest / "b2").iterdir()) == [
        "config.json", "losses.csv", "record.json"]  # no weights
    banked = Store(dest)
    assert {banked.status(r) for r in banked.run_ids()} <= set(FINAL)
    assert json.loads((dest / "a1" / "record.json").read_text())["status"] == "done"
    again = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "store"), str(dest)],
                           capture_output=True, text=True, check=True).stdout
    assert "0 run(s) banked, 2 already there" in again


def test_summary_puts_the_three_figures_of_both_mixtures_side_by_side(tmp_path):
    """summary.py on leaderboards built by ganbench.leaderboard from constructed records."""
    import pandas as pd

    from ganbench.leaderboard import leaderboard

    rows = [{"run_id": f"{loss}{d}{s}", "status": "done", "generator": "pacgan",
             "discriminator": "pacgan-maxout", "loss": loss, "dataset": dataset, "seed": s,
             "modes": m + s % 2, "modes_hq": hq, "modes_reverse_kl": kl}
            for loss, m, hq, kl in [("hinge", 6, 0.9, 0.2), ("minimax", 1, 0.1, 2.0)]
            for d, dataset in enumerate(["ring-2d-pacgan", "grid-25"]) for s in range(3)]
    frame = pd.DataFrame(rows)
    for name, metric in [("modes", "modes"), ("hq", "modes_hq"), ("reverse-kl", "modes_reverse_kl")]:
        board = leaderboard(frame, metric=metric).assign(reference=False)
        board.to_csv(tmp_path / f"{name}.csv", index=False)
    script = SCRIPT.with_name("summary.py")
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True)
    lines = (tmp_path / "summary.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| generator"))
    assert header == ("| generator | discriminator | loss | ring: modes | ring: high-quality % | "
                      "ring: reverse KL | grid: modes | grid: high-quality % | grid: reverse KL |")
    hinge = next(line for line in lines if "| hinge |" in line)
    minimax = next(line for line in lines if "| minimax |" in line)
    # modes 6, 7, 6: mean 6.33, std 0.58; hq constant 0.9 -> 90.0 %
    assert hinge.strip("| ").split(" | ")[3:6] == ["6.3 ± 0.6 (3)", "90.0 ± 0.0 (3)", "0.20 ± 0.00 (3)"]
    # minimax's modes (1, 2, 1 against 6, 7, 6) are worse by Welch's test; its constant 10 %
    # and KL 2.0 against constant 90 % and 0.2 are not: the exact permutation test's smallest
    # p with 3 seeds a side is 0.1
    cells = minimax.strip("| ").split(" | ")[3:]
    assert [c.endswith(" worse") for c in cells] == [True, False, False] * 2


def test_summary_of_a_variant_with_one_seed_and_one_mixture(tmp_path):
    """An EMA variant with one finished seed on the ring and none on the grid: its cells
    show the one value without a spread, and "-" for the grid."""
    import pandas as pd

    from ganbench.leaderboard import leaderboard

    base = {"status": "done", "generator": "pacgan", "discriminator": "pacgan-maxout",
            "loss": "non-saturating"}
    rows = [{**base, "run_id": f"r{d}{s}", "dataset": dataset, "seed": s, "train.ema": None,
             "modes": 8 - s, "modes_hq": 0.8, "modes_reverse_kl": 0.3}
            for d, dataset in enumerate(["ring-2d-pacgan", "grid-25"]) for s in range(2)]
    rows.append({**base, "run_id": "e0", "dataset": "ring-2d-pacgan", "seed": 0,
                 "train.ema": 0.999, "modes": 7, "modes_hq": 0.83, "modes_reverse_kl": 0.4})
    frame = pd.DataFrame(rows)
    for name, metric in [("modes", "modes"), ("hq", "modes_hq"), ("reverse-kl", "modes_reverse_kl")]:
        board = leaderboard(frame, metric=metric, by=["generator", "discriminator", "loss",
                                                      "dataset", "train.ema"])
        board.assign(reference=False).to_csv(tmp_path / f"{name}.csv", index=False)
    subprocess.run([sys.executable, str(SCRIPT.with_name("summary.py")), str(tmp_path)], check=True)
    lines = (tmp_path / "summary.md").read_text().splitlines()
    ema = next(line for line in lines if "| 0.999 |" in line).strip("| ").split(" | ")
    assert ema[4:] == ["7.0 (1)", "83.0 (1)", "0.40 (1)", "-", "-", "-"]


def test_mnist_tables_refuse_a_folder_without_mnist_runs(tmp_path):
    """mnist_tables.sh: no MNIST run among the banked ones gives one line and status 2, and
    writes no tables."""
    runs = tmp_path / "runs"
    atomic_write_json(runs / "a1" / "config.json", {"dataset": "ring-2d-pacgan"})
    done = subprocess.run(["bash", str(SCRIPT.with_name("mnist_tables.sh")), str(tmp_path / "out")],
                          capture_output=True, text=True, env={"RUNS": str(runs), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and done.stderr.strip() == f"no MNIST runs in {runs}"
    assert not (tmp_path / "out").exists()
