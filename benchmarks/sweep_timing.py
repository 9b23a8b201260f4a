"""Wall time of a 24-run toy sweep with 1 and with 2 CPU worker processes (the local
executor), each into a fresh store. Reports; never fails on time.

    .venv/bin/python benchmarks/sweep_timing.py            # 1 and 2 workers
    .venv/bin/python benchmarks/sweep_timing.py --workers 1 2 4 --steps 300

The sweep is examples/toy-losses.toml (2 losses x 2 datasets) with 6 seeds: 24 runs of a
second or two each, so process start-up and imports matter. The pool's workers are
long-lived (started once, a run after another), which is what makes 2 workers pay off.

The second table is where the wall time goes, from the parent's view of each worker:
"to 1st run" is run_many's own checks plus the worker's start (spawn, import torch); "1st
run" against "later runs" shows what a worker's first run costs on top (torch._dynamo,
imported by the first optimizer step, and matplotlib, by the first picture); "tail" is the
time between the first worker running out of runs and the sweep's end. Those are paid once
per worker, in parallel, so they cap the speed-up: (fixed + N t) / (fixed + N t / W).
Two sweep processes on one store: benchmarks/concurrent_timing.py.
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


class _Timeline:
    """When each worker started and finished each run, as the parent sees it (a stand-in
    for run_many's SweepProgress: its callbacks, timed)."""

    def __init__(self):
        self.events: list[tuple[float, str, str]] = []  # (time, worker, "start" | "end")

    def progress(self, *args, **kwargs):
        from ganbench.progress import SweepProgress

        timeline = self

        class Timed(SweepProgress):
            def started(self, worker, text):
                timeline.events.append((time.perf_counter(), str(worker), "start"))
                super().started(worker, text)

            def finished_run(self, worker, record, text, **how):
                timeline.events.append((time.perf_counter(), str(worker), "end"))
                super().finished_run(worker, record, text, **how)

        return Timed(*args, **kwargs)

    def breakdown(self, started: float, ended: float) -> dict:
        by_worker: dict[str, list[tuple[float, str]]] = {}
        for t, worker, kind in self.events:
            by_worker.setdefault(worker, []).append((t - started, kind))
        firsts, rest, last_ends = [], [], []
        for events in by_worker.values():
            starts = [t for t, k in events if k == "start"]
            ends = [t for t, k in events if k == "end"]
            durations = [e - s for s, e in zip(starts, ends)]
            firsts.append((starts[0], durations[0]))
            rest += durations[1:]
            last_ends.append(ends[-1])
        return {"to_first": statistics.mean(f[0] for f in firsts),
                "first_run": statistics.mean(f[1] for f in firsts),
                "later_runs": statistics.mean(rest) if rest else float("nan"),
                "tail": (ended - started) - min(last_ends), "per_worker": len(by_worker)}


def time_sweep(workers: int, threads: int | None, steps: int, seeds: int) -> dict:
    from ganbench.executors import dispatch, run_many
    from ganbench.store import Store

    runs = configs(steps, seeds)
    timeline = _Timeline()
    original, dispatch.SweepProgress = dispatch.SweepProgress, timeline.progress
    try:
        with tempfile.TemporaryDirectory(prefix="ganbench-timing-") as tmp:
            cpu0 = _cpu_seconds()
            started = time.perf_counter()
            records = run_many(runs, store=Store(tmp), executor="local", devices=["cpu"],
                               workers=workers, threads=threads, quiet=True)
            ended = time.perf_counter()
            wall = ended - started
            cpu = _cpu_seconds() - cpu0
    finally:
        dispatch.SweepProgress = original
    from ganbench.executors import threads_per_worker

    return {"workers": workers, "threads": threads_per_worker(workers, threads),
            "runs": len(records), "wall": wall, "cpu": cpu,
            "done": sum(r["status"] == "done" for r in records),
            "train_mean": statistics.mean(r.get("wall_time") or 0.0 for r in records),
            **timeline.breakdown(started, ended)}


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
    print(f"\n{'workers':>7} {'to 1st run s':>12} {'1st run s':>9} {'later runs s':>12} "
          f"{'tail s':>7}   (means over the workers)")
    for r in rows:
        print(f"{r['workers']:>7} {r['to_first']:>12.2f} {r['first_run']:>9.2f} "
              f"{r['later_runs']:>12.2f} {r['tail']:>7.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
