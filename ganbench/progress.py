"""Progress on stderr: the one-line bar of a training run (``Progress``: step, losses, steps
per second, time left), and a sweep's lines (``SweepProgress``: runs finished of all, and
what each worker is running).

Quiet when asked, and when stderr is not a terminal (logs and CI stay clean); a sweep then
prints one line per finished run instead."""

from __future__ import annotations

import math
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ganbench.config import RunConfig


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total: int, *, label: str = "", quiet: bool = False,
                 stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.enabled = not quiet and getattr(self.stream, "isatty", lambda: False)()
        self.total = total
        self.label = label
        self.start_time = time.perf_counter()
        self.start_step: int | None = None

    def update(self, step: int, **values: float) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.start_step is None:
            self.start_step, self.start_time = step, now
            rate = 0.0
        else:
            rate = (step - self.start_step) / max(now - self.start_time, 1e-9)
        left = (self.total - step) / rate if rate > 0 else float("nan")
        shown = " ".join(f"{k} {v:.4g}" for k, v in values.items())
        eta = _clock(left)
        width = len(str(self.total))
        line = (
            f"\r{self.label}[{step:>{width}}/{self.total}] {100 * step / max(self.total, 1):3.0f}% "
            f"{shown} {rate:.1f} it/s left {eta}"
        )
        self.stream.write(line.ljust(100))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def label(config: RunConfig) -> str:
    """A run as the sweep's lines name it: its plugins and its seed."""
    return (f"{config.generator}/{config.discriminator}/{config.loss}/{config.dataset} "
            f"seed {config.seed}")


class SweepProgress:
    """One overall line (runs done of total, failures, time left) and one line per worker
    with its current run, redrawn in place on a terminal; a line per finished run otherwise.
    Silent with ``quiet``; no live lines when the stream is not a terminal."""

    def __init__(self, total: int, already: int, *, quiet: bool = True,
                 stream: TextIO | None = None, parallel: int = 1):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = not quiet and getattr(self.stream, "isatty", lambda: False)()
        self.total, self.finished = total, already
        self.counts = {"done": 0, "diverged": 0, "failed": 0, "interrupted": 0}
        self.current: dict[Any, tuple[str, float]] = {}
        self.trained_elsewhere: list[str] = []  # run ids another process trained meanwhile
        self.held_elsewhere: set[str] = set()  # run ids another process holds now
        self.durations: list[float] = []
        self.parallel = max(1, parallel)
        self.drawn = 0
        self.lock = threading.Lock()

    def started(self, worker: Any, text: str) -> None:
        with self.lock:
            self.current[worker] = (text, time.perf_counter())
            self._draw()

    def idle(self, worker: Any) -> None:
        """The worker's run went back (another process holds it): nothing finished."""
        with self.lock:
            self.current.pop(worker, None)
            self._draw()

    def held(self, run_ids: set[str]) -> None:
        """The runs another process holds now (shown on the overall line)."""
        with self.lock:
            if run_ids != self.held_elsewhere:
                self.held_elsewhere = set(run_ids)
                self._draw()

    def finished_run(self, worker: Any, record: dict[str, Any], text: str, *,
                     elsewhere: bool = False) -> None:
        """A run finished; ``elsewhere``: another process trained it (its record was read)."""
        with self.lock:
            _, since = self.current.pop(worker, (text, None))
            if since is not None and not elsewhere:
                self.durations.append(time.perf_counter() - since)
            if elsewhere:
                self.trained_elsewhere.append(str(record.get("run_id")))
            self.held_elsewhere.discard(record.get("run_id"))
            self.finished += 1
            status = record.get("status", "failed")
            self.counts[status if status in self.counts else "failed"] += 1
            if not self.quiet:
                self._clear()
                self.stream.write(self._line(record, text) + "\n")
            self._draw()

    def _line(self, record: dict[str, Any], text: str) -> str:
        line = f"[{self.finished}/{self.total}] {record.get('run_id')} {text}: {record.get('status')}"
        if record.get("run_id") in self.trained_elsewhere:
            line += " (trained by another process)"
        if record.get("reason"):
            line += f" ({' '.join(str(record['reason']).split())[:200]})"
        if record.get("parzen_mean") is not None:
            line += f", parzen {record['parzen_mean']:.4g}"
        if record.get("wall_time") is not None:
            line += f", {record['wall_time']:.1f} s on {record.get('device')}"
        return line

    def overall(self) -> str:
        left = self.total - self.finished
        eta = (sum(self.durations) / len(self.durations) * left / self.parallel
               if self.durations else float("nan"))
        failed = self.counts["failed"] + self.counts["diverged"]
        stopped = (f", {self.counts['interrupted']} interrupted" if self.counts["interrupted"]
                   else "")
        others = (f", {len(self.trained_elsewhere)} trained by another process"
                  if self.trained_elsewhere else "")
        held = (f", {len(self.held_elsewhere)} being trained by another process"
                if self.held_elsewhere else "")
        return (f"sweep: {self.finished}/{self.total} runs finished{others}, {failed} failed or "
                f"diverged{stopped}, {len(self.current)} running{held}, time left {_clock(eta)}")

    def _clear(self) -> None:
        if self.live and self.drawn:
            self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def _draw(self) -> None:
        if not self.live:
            return
        self._clear()
        width = 160
        lines = [self.overall()]
        now = time.perf_counter()
        for worker, (text, since) in sorted(self.current.items(), key=lambda kv: str(kv[0])):
            lines.append(f"  {worker}: {text} ({now - since:.0f} s)")
        self.stream.write("".join(line[:width] + "\n" for line in lines))
        self.stream.flush()
        self.drawn = len(lines)

    def close(self) -> None:
        with self.lock:
            self._clear()
            self.stream.flush()
