"""One local worker on the CPU, in the sweep's own process: the same interface and callbacks
as ``WorkerPool`` (``run(items, on_start=..., on_done=..., on_error=..., check=...)``), the
runs one after the other, no process spawned.

Why: a worker process pays its own start-up, once per sweep (importing python's and
torch's modules again, then ``torch._dynamo``, which ``torch.optim`` loads at the first
optimizer; about 1.7-3 CPU-s measured on the 2-core VM, docs/sweeps.md). With several
workers that is paid in parallel; with one (``--workers 1``, or one run to do) it only
adds to the sweep's time, and two sweeps sharing one store (one worker each) pay it twice
over the same two cores. What a worker process gave, the sweep keeps here: a run's
exception is recorded as its failure and the others go on; Ctrl-C or SIGTERM stops the run,
which records itself as interrupted; a run another process holds is set aside and asked
about again. What it cannot give: a crash in native code (or the kernel's out-of-memory
killer) ends the sweep too, not only its worker; the run's lock is then released by the OS,
and the next sweep resumes it from its checkpoint. ``GANBENCH_INLINE=0`` keeps a worker
process."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ganbench import compute
from ganbench.executors.pool import _interrupt


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops the run as Ctrl-C does (recorded interrupted), and a repeated Ctrl-C
    within a second counts once, as in a worker process; only where handlers can be set (the
    main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _interrupt)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # ignored stays ignored
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _interrupt)  # a repeat within
    try:  # a second does not cut the interrupted record short, as in a worker process
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: installed from C, cannot be put back from here
                signal.signal(signum, handler)


class InlinePool:
    """``WorkerPool``'s interface for one slot, run in this process (slot number 0)."""

    def __init__(self, slots: list[str], threads: int, target: Callable):
        if len(slots) != 1:
            raise ValueError(f"InlinePool takes one slot, got {len(slots)}")
        self.device, self.threads, self.target = slots[0], threads, target

    def run(self, items: list[tuple[Any, Any]], *, on_start: Callable[[int, Any], None],
            on_done: Callable[[int, Any, Any], Any],
            on_error: Callable[[int, Any, str], None],
            on_interrupted: Callable[[int, Any], None] | None = None,
            check: Callable[[Any], str] | None = None) -> None:
        """As ``WorkerPool.run``. ``on_interrupted`` is never called: a signal that stops
        the run here stops the sweep (``KeyboardInterrupt`` is raised, the run recorded)."""
        check = check or (lambda key: "go")
        pending, aside = deque(items), []
        asked = -math.inf
        with _sigterm_interrupts(), compute.torch_threads(self.threads):
            while pending or aside:
                if aside and time.monotonic() - asked >= 0.25:  # held elsewhere: ask again
                    asked = time.monotonic()
                    back, kept = [], []
                    for held in aside:
                        verdict = check(held[0])
                        if verdict != "drop":
                            (back if verdict == "go" else kept).append(held)
                    aside = kept
                    pending.extendleft(reversed(back))
                item = None
                while pending and item is None:
                    candidate = pending.popleft()
                    verdict = check(candidate[0])
                    if verdict == "go":
                        item = candidate
                    elif verdict == "later":
                        aside.append(candidate)
                if item is None:
                    time.sleep(0.25)
                    continue
                key, payload = item
                on_start(0, key)
                try:
                    result = self.target(payload, self.device)
                except KeyboardInterrupt:
                    raise
                except (Exception, SystemExit) as exc:  # a run's failure never stops the sweep
                    on_error(0, key, f"{type(exc).__name__}: {' '.join(str(exc).split())}")
                    continue
                if on_done(0, key, result) == "later":
                    aside.append(item)
