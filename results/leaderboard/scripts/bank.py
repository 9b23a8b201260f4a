"""Bank the finished runs of a leaderboard store into the repository, so that a lost store
(the development VM is not always kept between sessions) loses no finished run.

For every run of STORE that is finished (``done`` or ``diverged``), copies its ``config.json``, ``record.json``
and ``losses.csv`` (a few KB; no checkpoint, no generator) to ``results/leaderboard/runs/
<run_id>/``. That folder is itself a store of finished runs without weights:

- ``ganbench leaderboard --store results/leaderboard/runs ...`` builds the tables from it
  (every metric was computed at the end of training and is in the record);
- ``cp -r results/leaderboard/runs/. NEWSTORE/`` seeds a new store, and a sweep then trains
  only what is missing (a run's status comes from its record).

Runs cannot be re-scored from here (no generator). Usage:
    python results/leaderboard/scripts/bank.py STORE [DEST]
"""
import shutil
import sys
from pathlib import Path

from ganbench.record import FINAL
from ganbench.store import CONFIG, RECORD, Store

FILES = (CONFIG, "losses.csv", RECORD)  # the record last: a run is banked once it is there


def bank(store: Store, dest: Path) -> tuple[int, int]:
    new = kept = 0
    for run_id in store.run_ids():
        if store.status(run_id) not in FINAL:  # done or diverged: what a leaderboard counts
            continue
        out = dest / run_id
        if (out / RECORD).exists() and (out / RECORD).read_bytes() == (
                store.run_dir(run_id) / RECORD).read_bytes():
            kept += 1
            continue
        out.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            src = store.run_dir(run_id) / name
            if src.exists():
                shutil.copyfile(src, out / name)
        new += 1
    return new, kept


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.rsplit("Usage:", 1)[1].strip())
    dest = Path(sys.argv[2] if len(sys.argv) == 3 else Path(__file__).parents[1] / "runs")
    new, kept = bank(Store(sys.argv[1]), dest)
    print(f"{new} run(s) banked, {kept} already there, in {dest}")
