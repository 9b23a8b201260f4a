"""A one-line progress bar on stderr: step, losses, steps per second, time left.

Quiet when asked, and when stderr is not a terminal (logs and CI stay clean)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
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
        eta = _clock(left) if left == left else "?"
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
