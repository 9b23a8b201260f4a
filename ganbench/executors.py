"""Executors: many runs on this machine's GPUs (or CPU cores), or on a Ray cluster.

``local``: a pool of long-lived worker processes (spawn), each pinned to one device (one per
visible GPU by default, ``workers_per_device`` for small models; on a machine without GPUs,
``workers`` CPU processes sharing the cores). Workers write their own run folders: the store's
per-run lock and atomic renames make that safe, and a run another process holds is waited for,
never trained twice.

``ray``: the same runs as Ray tasks. A task trains in a temporary store on its node and returns
the run folder's files; the driver alone writes the store (atomic writes, the run's lock held
while its task is in flight), and sends an existing checkpoint along so the run resumes.

Either way a failed run is recorded and the sweep goes on; runs already done (or diverged)
are returned from the store without training; Ctrl-C stops the workers, which record their
runs as interrupted (they resume from their last checkpoint next time).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from ganbench.config import RunConfig
from ganbench.errors import ConfigError, GanbenchError
from ganbench.store import (
    RECORD,
    RunLocked,
    Store,
    atomic_write_bytes,
    atomic_write_json,
    read_json,
)

EXECUTORS = ("local", "ray")
FINAL = ("done", "diverged")  # a run in one of these states is never trained again
RAY_CONNECT_TIMEOUT = 3.0


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during ``run_many``: ``records`` holds the finished runs' records (None for the
    others), in the order of the configs."""

    def __init__(self, records: list[dict[str, Any] | None]):
        super().__init__("interrupted")
        self.records = records


# ---- the plan: what is done, what is to do ----


@dataclass
class Plan:
    configs: list[RunConfig]  # unique runs, in order
    statuses: list[str | None]  # the store's status of each (None: not started)

    @property
    def done(self) -> list[RunConfig]:
        return [c for c, s in zip(self.configs, self.statuses) if s in FINAL]

    @property
    def todo(self) -> list[RunConfig]:
        return [c for c, s in zip(self.configs, self.statuses) if s not in FINAL]

    @property
    def running_elsewhere(self) -> list[RunConfig]:
        return [c for c, s in zip(self.configs, self.statuses) if s == "running"]

    def summary(self) -> str:
        text = (f"{len(self.configs)} runs, {len(self.done)} already done, "
                f"{len(self.todo)} to run")
        resumed = sum(s in ("interrupted", "failed") for s in self.statuses)
        if resumed:
            text += (f" ({resumed} interrupted or failed before: they go on from their last "
                     f"checkpoint)")
        if self.running_elsewhere:
            text += (f"; {len(self.running_elsewhere)} being trained by another process "
                     f"(waited for)")
        return text


def plan(configs: list[RunConfig], store: Store) -> Plan:
    """Each (resolved) run's status in the store. A half-written folder (no readable record)
    counts as not started; a ``failed`` or ``interrupted`` run is to do again."""
    from ganbench.sweep import unique

    runs = unique(configs)
    return Plan(runs, [store.status(c.run_id) for c in runs])


# ---- devices ----


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_cpu_workers(cores: int | None = None) -> int:
    """CPU processes when none is asked for: one per core, each with one torch thread.
    Measured on 2 cores (docs/sweeps.md): 24 toy runs took 18.5-20.6 s with 2 workers x 1
    thread, 64-73 s with 1 worker x 2 threads; small models lose from a second thread."""
    return max(1, cores or cpu_cores())


def local_slots(devices: list[str] | None = None, workers: int | None = None,
                workers_per_device: int = 1, *, check: bool = True) -> list[str]:
    """One device per worker process: every visible GPU (``workers_per_device`` times, round
    robin, so N GPUs run N runs at once; ``workers`` overrides the total), else ``workers``
    CPU processes. ``check`` verifies that each named device exists (a ConfigError
    otherwise)."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if workers_per_device < 1:
        raise ConfigError(f"--workers-per-device must be at least 1, got {workers_per_device}")
    if not devices:
        import torch

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        devices = [f"cuda:{i}" for i in range(n)] or ["cpu"]
    elif check:
        from ganbench.runner import resolve_device

        devices = [str(resolve_device(d.strip())) for d in devices]
    if all(d == "cpu" for d in devices):
        return ["cpu"] * (workers or default_cpu_workers())
    count = workers or len(devices) * workers_per_device
    return [devices[i % len(devices)] for i in range(count)]


def parse_devices(text: str | None) -> list[str] | None:
    """``cuda:0,cuda:1`` -> a list; None or empty -> None (automatic)."""
    if not text:
        return None
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices:
        raise ConfigError(f"--devices {text!r} names no device; use cpu or cuda:0,cuda:1")
    return devices


# ---- one run, in whichever process ----


def run_one(config: RunConfig, store: Store, device: str | None = None,
            quiet: bool = True) -> dict[str, Any]:
    """Train, resume or skip one run. If another process holds the run, wait for it and
    return its record (or take the run over if it stopped without finishing)."""
    from ganbench.runner import train_run

    while True:
        _set_aside_unreadable_record(store, config.run_id)
        try:
            return train_run(config, store=store, device=device, quiet=quiet)
        except RunLocked:
            while store.is_locked(config.run_id):
                time.sleep(0.25)


def _set_aside_unreadable_record(store: Store, run_id: str) -> None:
    """A record.json that is not JSON (written by hand, or by a tool without atomic writes)
    is renamed aside, so the run is trained again rather than failing the sweep."""
    path = store.run_dir(run_id) / RECORD
    if not path.exists():
        return
    try:
        read_json(path)
    except (OSError, ValueError):
        with contextlib.suppress(RunLocked, FileNotFoundError), store.lock(run_id):
            os.replace(path, path.with_name(f"{RECORD}.unreadable-{int(time.time())}"))


def failed_record(config: RunConfig, reason: str, store: Store | None = None) -> dict[str, Any]:
    """A run that could not even run (its worker died, a task was lost): recorded as failed
    in the store (when its lock is free), so that results show it and a rerun retries it."""
    record: dict[str, Any] = {"run_id": config.run_id, "status": "failed", "reason": reason}
    if store is None:
        return record
    with contextlib.suppress(RunLocked), store.lock(config.run_id) as folder:
        previous = None
        with contextlib.suppress(OSError, ValueError):
            previous = store.read_record(config.run_id)
        if previous and previous.get("status") in FINAL:
            return previous
        record = {**(previous or {}), **record, "finished": _now()}
        if not (folder / "config.json").exists():
            atomic_write_json(folder / "config.json", config.to_dict())
        atomic_write_json(folder / RECORD, record)
    return record


def _train_target(payload: tuple[dict[str, Any], str], device: str) -> dict[str, Any]:
    config_dict, store_root = payload
    return run_one(RunConfig.from_dict(config_dict), Store(store_root), device, quiet=True)


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# ---- progress ----


def label(config: RunConfig) -> str:
    return (f"{config.generator}/{config.discriminator}/{config.loss}/{config.dataset} "
            f"seed {config.seed}")


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


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
        self.durations: list[float] = []
        self.parallel = max(1, parallel)
        self.drawn = 0
        self.lock = threading.Lock()

    def started(self, worker: Any, text: str) -> None:
        with self.lock:
            self.current[worker] = (text, time.perf_counter())
            self._draw()

    def finished_run(self, worker: Any, record: dict[str, Any], text: str) -> None:
        with self.lock:
            _, since = self.current.pop(worker, (text, None))
            if since is not None:
                self.durations.append(time.perf_counter() - since)
            self.finished += 1
            status = record.get("status", "failed")
            self.counts[status if status in self.counts else "failed"] += 1
            if not self.quiet:
                self._clear()
                self.stream.write(self._line(record, text) + "\n")
            self._draw()

    def _line(self, record: dict[str, Any], text: str) -> str:
        line = f"[{self.finished}/{self.total}] {record.get('run_id')} {text}: {record.get('status')}"
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
        return (f"sweep: {self.finished}/{self.total} runs finished, {failed} failed or "
                f"diverged{stopped}, {len(self.current)} running, time left {_clock(eta)}")

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


# ---- the local pool ----


def _limit_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only possible before any parallel work
        torch.set_num_interop_threads(max(1, min(threads, 2)))


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
                return
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
            on_done: Callable[[int, Any, Any], None],
            on_error: Callable[[int, Any, str], None],
            on_interrupted: Callable[[int, Any], None] | None = None) -> None:
        """Run every (key, payload); the callbacks get (slot, key[, result or reason]).
        ``on_interrupted``: a worker was stopped by a signal of its own (SIGTERM to that
        process, say) while the pool was not stopping; its run recorded itself as
        interrupted, and the pool goes on with the others."""
        self.callbacks = (on_start, on_done, on_error, on_interrupted)
        self.pending = deque(items)
        self.busy: dict[int, Any] = {}  # slot -> the (key, payload) sent to it
        self.running: set[int] = set()  # slots whose run has started (said "start")
        for slot in range(min(len(self.slots), len(items))):
            self._start(slot)
        try:
            while self.pending or self.busy:
                for slot in list(self.processes):
                    if slot in self.ready and slot not in self.busy and self.pending:
                        key, payload = self.pending.popleft()
                        self.busy[slot] = (key, payload)
                        try:
                            self.tasks[slot].send((key, payload))
                        except OSError:
                            self._dead(slot)
                self._poll(0.5)
                for slot in [s for s, p in self.processes.items() if not p.is_alive()]:
                    self._poll(0)  # its last words may still be in the pipe
                    if slot in self.processes:
                        self._dead(slot)
        except BaseException:
            self.stop()
            raise
        self.close()

    def _poll(self, timeout: float) -> None:
        by_conn = {conn: slot for slot, conn in self.events.items()}
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
            self._free(slot)
            on_done(slot, event[1], event[2])
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
        if not self.pending:
            return
        self.restarts[slot] += 1
        if self.restarts[slot] <= self.max_restarts_per_slot:
            self._start(slot)
        elif not self.processes:
            raise GanbenchError(
                f"worker processes keep dying (last exit code {code}, its error is printed "
                f"above); {len(self.pending)} runs not started")

    def _free(self, slot: int) -> tuple[Any, Any] | None:
        self.running.discard(slot)
        return self.busy.pop(slot, None)

    def stop(self, grace: float = 20.0) -> None:
        """Stop every worker (their runs are recorded as interrupted), collect what finishes
        meanwhile, then kill what is left. Workers that Ctrl-C reached stop by themselves;
        the others are asked (SIGTERM) after a moment."""
        self.stopping = True
        self.pending = deque()  # nothing new starts
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


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """Torch threads in each of ``workers`` processes: the cores divided among them (no
    oversubscription), unless given."""
    if threads is not None:
        return threads
    return max(1, cpu_cores() // max(1, workers))


def _run_local(todo: list[RunConfig], store: Store, slots: list[str],
               progress: SweepProgress, results: dict[str, dict[str, Any]],
               threads: int | None = None, target: Callable = _train_target) -> None:
    """Train ``todo`` in a worker pool; each record lands in ``results`` as it finishes."""
    slots = slots[: len(todo)]
    threads = threads_per_worker(len(slots), threads)
    by_id = {c.run_id: c for c in todo}

    def worker(slot: int) -> str:
        return f"worker {slot} ({slots[slot]})"

    def on_start(slot: int, run_id: str) -> None:
        progress.started(worker(slot), f"{run_id} {label(by_id[run_id])}")

    def on_done(slot: int, run_id: str, record: dict[str, Any]) -> None:
        results[run_id] = record
        progress.finished_run(worker(slot), record, label(by_id[run_id]))

    def on_error(slot: int, run_id: str, reason: str) -> None:
        on_done(slot, run_id, failed_record(by_id[run_id], reason, store))

    def on_interrupted(slot: int, run_id: str) -> None:
        record = None
        with contextlib.suppress(OSError, ValueError):
            record = store.read_record(run_id)
        if not record or record.get("status") not in (*FINAL, "failed"):
            record = {**(record or {"run_id": run_id}), "status": "interrupted",
                      "reason": "interrupted before training began"}
        on_done(slot, run_id, record)

    pool = WorkerPool(slots, threads, target)
    pool.run([(c.run_id, (c.to_dict(), str(store.root))) for c in todo],
             on_start=on_start, on_done=on_done, on_error=on_error,
             on_interrupted=on_interrupted)


# ---- Ray ----


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise GanbenchError(
            "the ray executor needs Ray, which is not installed: pip install 'ganbench[ray]'"
        ) from None
    return ray


def check_ray_address(address: str, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """Is a Ray cluster's head there? A plain TCP connection to its port, then (when grpc,
    a dependency of Ray, is importable) one call to the head's GCS service: an address that
    does not answer, or where something else answers (a proxy, another server), is a clear
    error within seconds, not a hang or a long retry inside ``ray.init``."""
    if address in ("auto", "local"):
        return
    scheme, _, text = address.rpartition("://")
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r} is not HOST:PORT (e.g. 10.0.0.1:6379, the "
                          f"head node's address printed by `ray start --head`)")
    fix = (f"start the head with `ray start --head --port={port}` on that machine, or leave "
           f"out --ray-address to start a local Ray instance")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except TimeoutError:
        raise ConfigError(f"the Ray cluster at {address} does not answer (no reply within "
                          f"{timeout:g} s); {fix}") from None
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: "
                          f"{exc.strerror or exc}; {fix}") from None
    if scheme:  # ray://: the Ray Client server, not the GCS
        return
    problem = _gcs_problem(f"{host}:{port}" if ":" not in host else f"[{host}]:{port}", timeout)
    if problem:
        raise ConfigError(f"no Ray cluster answers at {address} ({problem}); {fix}")


def _gcs_problem(target: str, timeout: float) -> str | None:
    """Why the GCS at ``target`` is not a Ray head, or None if it answers like one."""
    try:
        import grpc
    except ImportError:
        return None
    channel = grpc.insecure_channel(target)
    try:
        call = channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetClusterId")
        call(b"", timeout=timeout)
    except grpc.RpcError as exc:
        code, details = exc.code(), " ".join(str(exc.details() or "").split())[:160]
        if code == grpc.StatusCode.UNAUTHENTICATED:  # a Ray head with token authentication
            return None
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"no reply within {timeout:g} s"
        if code == grpc.StatusCode.UNAVAILABLE or (
                code == grpc.StatusCode.UNIMPLEMENTED and "Method not found" not in details):
            return f"the port answers, but not as a Ray head: {details}"
        return None  # a gRPC server that knows the method: Ray, answering in its own way
    finally:
        channel.close()
    return None


def _ray_task(config_dict: dict[str, Any], files: dict[str, bytes], device: str,
              threads: int) -> dict[str, Any]:
    """On a Ray worker: train in a temporary store, return the record and the folder's files."""
    import ray

    _limit_threads(threads)
    config = RunConfig.from_dict(config_dict)
    with tempfile.TemporaryDirectory(prefix="ganbench-ray-") as tmp:
        store = Store(tmp)
        folder = store.run_dir(config.run_id)
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        record = dict(run_one(config, store, device, quiet=True))
        record.update(executor="ray", ray_node_id=ray.get_runtime_context().get_node_id(),
                      worker_pid=os.getpid())
        out = {p.name: p.read_bytes() for p in sorted(folder.iterdir())
               if p.is_file() and not p.name.startswith(".") and p.name != RECORD}
    return {"record": record, "files": out}


def _folder_files(folder: Any) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    # Not the record: the task writes a fresh one (and an unreadable one must not travel).
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".") and not p.name.startswith(RECORD)}


def _write_back(store: Store, config: RunConfig, out: dict[str, Any]) -> dict[str, Any]:
    """The task's files into the run folder (atomically, the record last: a record that says
    done means every other file is in place)."""
    folder = store.run_dir(config.run_id)
    for name, data in out["files"].items():
        if "/" in name or name.startswith(".") or name == RECORD:
            continue
        atomic_write_bytes(folder / name, data)
    atomic_write_json(folder / RECORD, out["record"])
    return out["record"]


def _ray_failure(store: Store, config: RunConfig, exc: Exception) -> dict[str, Any]:
    """A task that raised or was lost: recorded as failed (its lock is held by the caller)."""
    cause = getattr(exc, "cause", None) or exc  # a RayTaskError carries the task's exception
    first = " ".join((str(cause).strip().splitlines() or [""])[0].split())
    record = {"run_id": config.run_id, "status": "failed", "executor": "ray",
              "reason": f"Ray task failed: {type(cause).__name__}: {first}", "finished": _now()}
    folder = store.run_dir(config.run_id)
    if not (folder / "config.json").exists():
        atomic_write_json(folder / "config.json", config.to_dict())
    atomic_write_json(folder / RECORD, record)
    return record


def _ray_init(ray: Any, address: str | None, workers: int | None, quiet: bool) -> bool:
    """Connect (or start a local instance); True if this call did it (and should shut down)."""
    if ray.is_initialized():
        return False
    import logging

    kwargs = dict(log_to_driver=not quiet, logging_level=logging.WARNING if quiet else logging.INFO)
    try:
        if address:
            check_ray_address(address)
            ray.init(address=address, **kwargs)
        else:
            ray.init(address="local", num_cpus=workers or cpu_cores(), include_dashboard=False,
                     **kwargs)
    except GanbenchError:
        raise
    except Exception as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GanbenchError(f"cannot connect to {where}: {first}") from exc
    return True


def _ray_resources(ray: Any, devices: list[str] | None, workers_per_device: int
                   ) -> tuple[float, int, str]:
    """(GPUs per task, tasks the cluster runs at once, device name inside a task)."""
    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0)
    for d in devices or []:
        if d != "cpu" and not d.startswith("cuda"):
            raise ConfigError(f"unsupported device {d!r} for the ray executor; use cpu or cuda")
    want_gpu = gpus > 0 if not devices else any(d.startswith("cuda") for d in devices)
    if want_gpu and gpus == 0:
        raise ConfigError("GPUs asked for (--devices cuda...), but the Ray cluster has none; "
                          "use --devices cpu or add GPU nodes")
    if want_gpu:
        return 1.0 / workers_per_device, max(1, int(gpus * workers_per_device)), "cuda"
    return 0.0, max(1, int(resources.get("CPU", 1))), "cpu"


def _run_ray(todo: list[RunConfig], store: Store, devices: list[str] | None,
             workers: int | None, workers_per_device: int, address: str | None, quiet: bool,
             progress: SweepProgress, results: dict[str, dict[str, Any]]) -> None:
    """Train ``todo`` as Ray tasks; each record lands in ``results`` as it finishes."""
    ray = import_ray()
    owns = _ray_init(ray, address, workers, quiet)
    in_flight: dict[Any, tuple[RunConfig, contextlib.ExitStack]] = {}
    try:
        num_gpus, capacity, device = _ray_resources(ray, devices, workers_per_device)
        progress.parallel = capacity
        task = ray.remote(_ray_task).options(
            num_cpus=1, num_gpus=num_gpus, scheduling_strategy="SPREAD", max_retries=1)
        pending = deque(todo)
        held_elsewhere: list[RunConfig] = []
        while pending or in_flight or held_elsewhere:
            while pending and len(in_flight) < 2 * capacity:
                config = pending.popleft()
                if store.status(config.run_id) in FINAL:  # finished by someone else meanwhile
                    record = store.read_record(config.run_id)
                    results[config.run_id] = record
                    progress.finished_run(config.run_id, record, label(config))
                    continue
                lock = contextlib.ExitStack()
                try:
                    lock.enter_context(store.lock(config.run_id))
                except RunLocked:
                    held_elsewhere.append(config)
                    continue
                files = _folder_files(store.run_dir(config.run_id))
                ref = task.remote(config.to_dict(), files, device, 1)
                in_flight[ref] = (config, lock)
                progress.started(config.run_id, f"{config.run_id} {label(config)}")
            if in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
                for ref in ready:
                    config, lock = in_flight.pop(ref)
                    try:
                        record = _write_back(store, config, ray.get(ref))
                    except Exception as exc:  # the task, its worker or its node died
                        record = _ray_failure(store, config, exc)
                    finally:
                        lock.close()
                    results[config.run_id] = record
                    progress.finished_run(config.run_id, record, label(config))
            elif held_elsewhere:
                time.sleep(0.25)
                free = [c for c in held_elsewhere if not store.is_locked(c.run_id)]
                held_elsewhere = [c for c in held_elsewhere if c not in free]
                pending.extend(free)
    except BaseException:
        for ref, (_, lock) in in_flight.items():
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
            lock.close()
        raise
    finally:
        if owns:
            ray.shutdown()


# ---- the entry point ----


def check_executor(executor: str, *, devices: list[str] | None = None, workers: int | None = None,
                   workers_per_device: int = 1, ray_address: str | None = None,
                   threads: int | None = None) -> list[str]:
    """Everything about where runs go that can be checked before any runs: the executor's
    name, the devices (local), Ray being installed and its address answering (ray).
    Returns the local executor's slots (one device per worker process)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if workers_per_device < 1:
        raise ConfigError(f"--workers-per-device must be at least 1, got {workers_per_device}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    if executor == "local":
        if ray_address:
            raise ConfigError("--ray-address is for --executor ray")
        return local_slots(devices, workers, workers_per_device)
    import_ray()
    if ray_address:
        check_ray_address(ray_address)
    return []


def run_many(configs: list[RunConfig], *, store: Store, executor: str = "local",
             devices: list[str] | None = None, workers: int | None = None,
             workers_per_device: int = 1, ray_address: str | None = None,
             quiet: bool = True, validate: bool = True,
             threads: int | None = None) -> list[dict[str, Any]]:
    """Train every run that is not yet done and return all their records, in the order of
    ``configs`` (runs already done or diverged come from the store, untrained).

    With ``validate`` every variant is built and checked (``runner.prepare``) before any run
    starts; bad input raises a GanbenchError and nothing is written. A run that fails is
    recorded ``failed`` and the others go on; so does a run whose worker alone was stopped
    by a signal (recorded ``interrupted``, resumed next time). Ctrl-C raises ``Interrupted`` (a
    KeyboardInterrupt) carrying the records finished so far. ``threads``: torch threads per
    local worker (default: the cores divided among the workers)."""
    from ganbench.sweep import resolve_all

    slots = check_executor(executor, devices=devices, workers=workers,
                           workers_per_device=workers_per_device, ray_address=ray_address,
                           threads=threads)
    resolved = resolve_all(list(configs), check=validate)
    the_plan = plan(resolved, store)
    records: dict[str, dict[str, Any]] = {}
    for config in the_plan.done:
        with contextlib.suppress(OSError, ValueError):
            records[config.run_id] = store.read_record(config.run_id)
    todo = [c for c in the_plan.todo if c.run_id not in records]
    progress = SweepProgress(len(the_plan.configs), len(the_plan.configs) - len(todo),
                             quiet=quiet, parallel=len(slots) or 1)
    try:
        if todo and executor == "local":
            _run_local(todo, store, slots, progress, records, threads)
        elif todo:
            _run_ray(todo, store, devices, workers, workers_per_device, ray_address, quiet,
                     progress, records)
    except KeyboardInterrupt:
        progress.close()
        raise Interrupted([records.get(c.run_id) for c in resolved]) from None
    progress.close()
    return [records[c.run_id] for c in resolved]
