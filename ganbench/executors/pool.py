"""The local executor's worker pool: long-lived worker processes (spawn), one per slot (a
device), each taking the next run as soon as it is free, over pipes of its own. A worker that
dies is replaced (a few times per slot) and its run recorded as failed; Ctrl-C or SIGTERM
stops a worker's run, which records itself as interrupted."""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ganbench.errors import GanbenchError
from ganbench.executors.devices import _limit_threads

_last_interrupt = [-math.inf]


def _interrupt(signum: int, frame: Any) -> None:
    # SIGINT or SIGTERM stops the run (train_run records it as interrupted). Ctrl-C reaches
    # the workers and the driver at once, and the driver then asks them to stop too: a
    # repeat within a second is the same request and must not interrupt the writing of the
    # record. A later one is a new request (in case the first was swallowed somewhere).
    now = time.monotonic()
    if now - _last_interrupt[0] < 1.0:
        return
    _last_interrupt[0] = now
    raise KeyboardInterrupt


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:  # the driver is gone: stop, recording the run
            os.kill(os.getpid(), signal.SIGTERM)
            return


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """The environment a worker starts with (it is read when torch loads OpenMP, before any
    of our code runs there): OpenMP threads that wait passively. Spinning threads are ruinous
    on a shared or oversubscribed machine (measured: a toy run 11x slower with two threads
    on two busy cores) and cost next to nothing otherwise. A value the user set is kept."""
    if "OMP_WAIT_POLICY" in os.environ:
        yield
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        yield
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)


def _exit_at_once() -> None:
    """The driver has no more runs: end the worker now, as multiprocessing ends the children
    it forks (``os._exit``), not through the interpreter's teardown of torch and thousands of
    modules, which took 2-3 s (measured on a busy 2-core machine; this way, 0.05 s) that the
    driver waited for at the end of every sweep. A run's files are all written and closed by
    then (atomic renames); only the standard streams are left to flush."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _worker_main(slot: int, device: str, threads: int, target: Callable, tasks: Any,
                 events: Any, parent_pid: int, sigint: bool = True) -> None:
    # Ctrl-C stops a worker only if it stops the driver: a sweep started with SIGINT ignored
    # (nohup, or `cmd &` from a script) must not lose its workers to a Ctrl-C it ignores.
    signal.signal(signal.SIGINT, _interrupt if sigint else signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _limit_threads(threads)
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
        events.send(("ready",))
        while True:
            item = tasks.recv()
            if item is None:
                _exit_at_once()
            key, payload = item
            events.send(("start", key))
            try:
                result = target(payload, device)
            except KeyboardInterrupt:
                # The run recorded itself as interrupted; say so before going, so that the
                # driver never takes this exit for a crash.
                with contextlib.suppress(OSError):
                    events.send(("interrupted", key))
                raise
            except BaseException as exc:  # noqa: BLE001 - a run's failure never stops the pool
                reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                events.send(("error", key, reason))
                continue
            events.send(("done", key, result))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):  # stopped, or the driver is gone
        return


class WorkerPool:
    """Long-lived worker processes (spawn), one per slot (a device name), each taking the
    next item as soon as it is free. ``target(payload, device)`` runs in the worker; it must
    be a module-level function (pickled by name).

    Each worker has its own pipes (no queue shared between processes): a worker that dies
    in the middle of a message, killed for memory say, cannot block the others."""

    max_restarts_per_slot = 3

    def __init__(self, slots: list[str], threads: int, target: Callable):
        self.slots, self.threads, self.target = slots, threads, target
        self.ctx = mp.get_context("spawn")
        self.processes: dict[int, Any] = {}
        self.tasks: dict[int, Any] = {}  # driver -> worker
        self.events: dict[int, Any] = {}  # worker -> driver
        self.restarts = dict.fromkeys(range(len(slots)), 0)
        self.ready: set[int] = set()  # a run goes only to a worker that has started up
        self.stopping = False

    def _start(self, slot: int) -> None:
        events_in, events_out = self.ctx.Pipe(duplex=False)
        tasks_in, tasks_out = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(
            target=_worker_main, name=f"ganbench-worker-{slot}", daemon=True,
            args=(slot, self.slots[slot], self.threads, self.target, tasks_in, events_out,
                  os.getpid(), signal.getsignal(signal.SIGINT) is not signal.SIG_IGN))
        with _worker_environment():
            process.start()
        events_out.close()  # the worker's ends: a dead worker then reads as end-of-file
        tasks_in.close()
        self.processes[slot], self.tasks[slot], self.events[slot] = process, tasks_out, events_in

    def run(self, items: list[tuple[Any, Any]], *, on_start: Callable[[int, Any], None],
            on_done: Callable[[int, Any, Any], Any],
            on_error: Callable[[int, Any, str], None],
            on_interrupted: Callable[[int, Any], None] | None = None,
            check: Callable[[Any], str] | None = None) -> None:
        """Run every (key, payload); the callbacks get (slot, key[, result or reason]).
        ``on_interrupted``: a worker was stopped by a signal of its own (SIGTERM to that
        process, say) while the pool was not stopping; its run recorded itself as
        interrupted, and the pool goes on with the others.

        ``check(key)``, asked in this process just before an item goes to a free worker:
        ``"go"`` sends it; ``"later"`` sets it aside (asked again about every 0.25 s, and the
        items behind it go first); ``"drop"`` settles it without a worker (``check`` has
        reported it). An ``on_done`` that returns ``"later"`` sets its item aside too (its
        worker found it taken)."""
        self.callbacks = (on_start, on_done, on_error, on_interrupted)
        self.check = check or (lambda key: "go")
        self.pending = deque(items)
        self.aside: list[tuple[Any, Any]] = []  # items to ask ``check`` about again
        self.asked = -math.inf
        self.busy: dict[int, Any] = {}  # slot -> the (key, payload) sent to it
        self.running: set[int] = set()  # slots whose run has started (said "start")
        for slot in range(min(len(self.slots), len(items))):
            self._start(slot)
        try:
            while self.pending or self.busy or self.aside:
                self._ask_again()
                for slot in list(self.processes):
                    if slot in self.ready and slot not in self.busy:
                        item = self._next()
                        if item is None:
                            break
                        key, payload = self.busy[slot] = item
                        try:
                            self.tasks[slot].send((key, payload))
                        except OSError:
                            self._dead(slot)
                self._poll(0.25 if self.aside else 0.5)
                for slot in [s for s, p in self.processes.items() if not p.is_alive()]:
                    self._poll(0)  # its last words may still be in the pipe
                    if slot in self.processes:
                        self._dead(slot)
        except BaseException:
            self.stop()
            raise
        self.close()

    def _next(self) -> tuple[Any, Any] | None:
        """The next pending item that ``check`` lets go (None: none)."""
        while self.pending:
            item = self.pending.popleft()
            verdict = self.check(item[0])
            if verdict == "go":
                return item
            if verdict == "later":
                self.aside.append(item)
        return None

    def _ask_again(self) -> None:
        """The items set aside that ``check`` now lets go return to the front, in order."""
        if not self.aside or time.monotonic() - self.asked < 0.25:
            return
        self.asked = time.monotonic()
        back, kept = [], []
        for item in self.aside:
            verdict = self.check(item[0])
            if verdict != "drop":
                (back if verdict == "go" else kept).append(item)
        self.aside = kept
        self.pending.extendleft(reversed(back))

    def _poll(self, timeout: float) -> None:
        by_conn = {conn: slot for slot, conn in self.events.items()}
        if not by_conn:  # no worker to hear from (all dead): wait all the same
            time.sleep(timeout)
            return
        for conn in mp.connection.wait(list(by_conn), timeout=timeout):
            slot = by_conn[conn]
            try:
                event = conn.recv()
            except Exception:  # end of file (or a message cut short): the worker is gone
                self._dead(slot)
                continue
            self._handle(slot, event)

    def _handle(self, slot: int, event: tuple) -> None:
        on_start, on_done, on_error, on_interrupted = self.callbacks
        kind = event[0]
        if kind == "ready":
            self.ready.add(slot)
        elif kind == "start":
            self.running.add(slot)
            on_start(slot, event[1])
        elif kind == "done":
            item = self._free(slot)
            if on_done(slot, event[1], event[2]) == "later" and item is not None:
                self.aside.append(item)
        elif kind == "error":
            self._free(slot)
            on_error(slot, event[1], event[2])
        elif kind == "interrupted":
            self._free(slot)
            if not self.stopping and on_interrupted is not None:
                on_interrupted(slot, event[1])

    def _dead(self, slot: int) -> None:
        process = self.processes.pop(slot)
        process.join(timeout=5)
        code = process.exitcode
        for conn in (self.tasks.pop(slot), self.events.pop(slot)):
            conn.close()
        self.ready.discard(slot)
        started = slot in self.running
        item = self._free(slot)
        if self.stopping:  # its run, if any, recorded itself as interrupted
            return
        if item is not None and not started:  # it went before taking its run: run it again
            self.pending.appendleft(item)
        elif item is not None:
            self.callbacks[2](slot, item[0],
                              f"its worker process died (exit code {code}), e.g. killed for "
                              f"memory or a crash in native code")
        if not self.pending and not self.aside:
            return
        self.restarts[slot] += 1
        if self.restarts[slot] <= self.max_restarts_per_slot:
            self._start(slot)
        elif not self.processes:
            raise GanbenchError(
                f"worker processes keep dying (last exit code {code}, its error is printed "
                f"above); {len(self.pending) + len(self.aside)} runs not started")

    def _free(self, slot: int) -> tuple[Any, Any] | None:
        self.running.discard(slot)
        return self.busy.pop(slot, None)

    def stop(self, grace: float = 20.0) -> None:
        """Stop every worker (their runs are recorded as interrupted), collect what finishes
        meanwhile, then kill what is left. Workers that Ctrl-C reached stop by themselves;
        the others are asked (SIGTERM) after a moment."""
        self.stopping = True
        self.pending, self.aside = deque(), []  # nothing new starts
        started = time.monotonic()
        asked = False
        try:
            while self.events and time.monotonic() - started < grace:
                if not asked and time.monotonic() - started > 1.5:
                    asked = True
                    for process in self.processes.values():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(process.pid, signal.SIGTERM)
                self._poll(0.1)
                for slot in [s for s, p in self.processes.items() if not p.is_alive()]:
                    self._poll(0)
                    if slot in self.processes:
                        self._dead(slot)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            pass
        finally:
            for process in self.processes.values():
                if process.is_alive():
                    process.kill()
                process.join(timeout=5)
            self.processes.clear()

    def close(self) -> None:
        for conn in self.tasks.values():
            with contextlib.suppress(OSError):
                conn.send(None)
        for process in self.processes.values():
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for conn in [*self.tasks.values(), *self.events.values()]:
            conn.close()
        self.processes.clear()
