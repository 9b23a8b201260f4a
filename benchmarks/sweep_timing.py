"""Wall time of a 24-run toy sweep with 1 and with 2 CPU worker processes (the local
executor), each into a fresh store. Reports; never fails on time.

    .venv/bin/python benchmarks/sweep_timing.py            # 1 and 2 workers
    .venv/bin/python benchmarks/sweep_timing.py --workers 1 2 4 --steps 300

The sweep is examples/toy-losses.toml (2 losses x 2 datasets) with 6 seeds: 24 runs of a
second or two each, so process start-up and imports matter. The pool's workers are
long-lived (started once, a run after another), which is what makes 2 workers pay off.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def configs(steps: int, seeds: int):
    from ganbench import sweep

    data = sweep.read_toml(ROOT / "examples" / "toy-losses.toml")
    data["seed"] = list(range(seeds))
    data["train"]["steps"] = steps
    return sweep.expand(data)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool's workers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def time_sweep(workers: int, threads: int | None, steps: int, seeds: int) -> dict:
    from ganbench.executors import run_many
    from ganbench.store import Store

    runs = configs(steps, seeds)
    with tempfile.TemporaryDirectory(prefix="ganbench-timing-") as tmp:
        cpu0 = _cpu_seconds()
        started = time.perf_counter()
        records = run_many(runs, store=Store(tmp), executor="local", devices=["cpu"],
                           workers=workers, threads=threads, quiet=True)
        wall = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu0
    from ganbench.executors import threads_per_worker

    return {"workers": workers, "threads": threads_per_worker(workers, threads),
            "runs": len(records), "wall": wall, "cpu": cpu,
            "done": sum(r["status"] == "done" for r in records),
            "train_mean": statistics.mean(r.get("wall_time") or 0.0 for r in records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per worker (default: the cores divided among them)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} before")
    rows = [time_sweep(w, args.threads, args.steps, args.seeds) for w in args.workers]
    base = rows[0]["wall"]
    print(f"{'workers':>7} {'threads':>7} {'runs':>5} {'done':>5} {'wall s':>8} "
          f"{'speed-up':>9} {'CPU s':>7} {'cores used':>10} {'mean training s/run':>20}")
    for r in rows:
        print(f"{r['workers']:>7} {r['threads']:>7} {r['runs']:>5} {r['done']:>5} "
              f"{r['wall']:>8.1f} {base / r['wall']:>8.2f}x {r['cpu']:>7.1f} "
              f"{r['cpu'] / r['wall']:>10.2f} {r['train_mean']:>20.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
