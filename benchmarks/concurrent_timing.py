"""Wall time of the 24-run toy sweep as one ``ganbench sweep`` process against two on one
store (the second started ``--later`` seconds after the first), each with one worker of one
torch thread, each case into a fresh store. Reports; never fails on time.

    .venv/bin/python benchmarks/concurrent_timing.py
    .venv/bin/python benchmarks/concurrent_timing.py --later 3 --steps 300 --repeat 2

The sweep is examples/toy-losses.toml (2 losses x 2 datasets) with 6 seeds. Two processes
split the runs (each takes the next run that no process holds); both end with every run.
The table says how many runs each trained, and checks that every run was trained once (the
sum is 24 and every record is done). Whole commands are timed, imports and checks included,
as a user at two terminals would see them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep_file(folder: Path, steps: int, seeds: int) -> Path:
    text = (ROOT / "examples" / "toy-losses.toml").read_text()
    text = re.sub(r"(?m)^seed = .*$", f"seed = {list(range(seeds))}", text)
    text = re.sub(r"(?m)^steps = .*$", f"steps = {steps}", text)
    path = folder / "sweep.toml"
    path.write_text(text)
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_case(processes: int, later: float, steps: int, seeds: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ganbench-concurrent-") as tmp:
        folder = Path(tmp)
        path, store = sweep_file(folder, steps, seeds), folder / "store"
        command = [sys.executable, "-m", "ganbench.cli", "sweep", str(path), "--store",
                   str(store), "--workers", str(workers), "--threads", "1"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        cpu0, started = _children_cpu(), time.perf_counter()
        procs = []
        for i in range(processes):
            if i:
                time.sleep(later)
            procs.append(subprocess.Popen(command, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                          env=env))
        outputs, ends = [], []
        for proc in procs:
            outputs.append(proc.communicate())
            ends.append(time.perf_counter() - started)
        wall, cpu = max(ends), _children_cpu() - cpu0
        records = [json.loads(p.read_text()) for p in store.glob("*/record.json")]
    trained, failed = [], []
    for proc, (out, err) in zip(procs, outputs):
        if proc.returncode != 0:
            failed.append(f"exit {proc.returncode}: {(out + err).strip()[-500:]}")
        lines = [line for line in err.splitlines() if line.startswith("[")]
        trained.append(sum("(trained by another process)" not in line for line in lines))
    return {"processes": processes, "workers": workers, "wall": wall, "ends": ends,
            "cpu": cpu, "trained": trained, "records": len(records),
            "done": sum(r.get("status") == "done" for r in records), "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--later", type=float, default=0.0,
                        help="seconds between starting the first and the second process")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--two-workers", action="store_true",
                        help="also one process with 2 workers (the local pool's own split)")
    args = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} before")
    cases = [(1, 1), (2, 1)] + ([(1, 2)] if args.two_workers else [])
    rows = [run_case(p, args.later, args.steps, args.seeds, w)
            for _ in range(args.repeat) for p, w in cases]
    base = min(r["wall"] for r in rows if (r["processes"], r["workers"]) == (1, 1))
    print(f"{'processes':>9} {'workers':>7} {'runs':>5} {'done':>5} {'wall s':>7} "
          f"{'speed-up':>9} {'CPU s':>6} {'trained by each':>16}  each ended at (s)")
    for r in rows:
        print(f"{r['processes']:>9} {r['workers']:>7} {r['records']:>5} {r['done']:>5} "
              f"{r['wall']:>7.1f} {base / r['wall']:>8.2f}x {r['cpu']:>6.1f} "
              f"{' + '.join(map(str, r['trained'])):>16}  "
              f"{', '.join(f'{e:.1f}' for e in r['ends'])}")
        for failure in r["failed"]:
            print(f"  FAILED: {failure}")
        if sum(r["trained"]) != r["records"] or r["done"] != r["records"]:
            print(f"  CHECK: {sum(r['trained'])} trainings reported for {r['records']} runs "
                  f"({r['done']} done)")
    print(f"load average {os.getloadavg()[0]:.2f} after (speed-up: against the fastest "
          f"single-process, single-worker wall time)")


if __name__ == "__main__":
    main()
