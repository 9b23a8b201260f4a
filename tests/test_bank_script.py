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
