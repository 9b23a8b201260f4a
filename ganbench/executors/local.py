"""The local executor: a sweep's runs in a pool of worker processes on this machine, each
pinned to one device. Workers write their own run folders (the store's per-run lock and
atomic renames make that safe).

Several sweeps on one store (two terminals, or machines sharing a disk) split the work: a
run goes to a worker only if no process holds its lock and it is not finished; a run held
elsewhere is set aside, and the others go first. When only held runs are left, the sweep
waits for them: one that another process finished is read, not retrained; one whose holder
died (its lock released by the OS, even after kill -9) is taken over and resumed from its
checkpoint."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from ganbench.config import RunConfig
from ganbench.errors import GanbenchError
from ganbench.executors.devices import threads_per_worker
from ganbench.executors.inline import InlinePool
from ganbench.executors.pool import WorkerPool
from ganbench.executors.runs import FINAL, HELD, READ, claim, failed_record
from ganbench.identity import status as run_status
from ganbench.progress import SweepProgress, label
from ganbench.store import Store


def _train_target(payload: tuple[dict[str, Any], str], device: str
                  ) -> tuple[str, dict[str, Any] | None]:
    config_dict, store_root = payload
    return claim(RunConfig.from_dict(config_dict), Store(store_root), device, quiet=True)


def _fingerprint(store: Store, run_id: str) -> tuple[Any, ...] | None:
    record = None
    with contextlib.suppress(OSError, ValueError):
        record = store.read_record(run_id)
    if not isinstance(record, dict):
        return None
    return tuple(record.get(k) for k in ("status", "started", "finished"))


def inline(slots: list[str]) -> bool:
    """One CPU worker runs in this process (ganbench.executors.inline: a worker process's
    start-up only adds to the time when there is one), if this process's OpenMP threads wait
    passively (``OMP_WAIT_POLICY`` set before torch loaded, as the ganbench command does; a
    worker process is started with it); ``GANBENCH_INLINE=0`` (or false, no, off) spawns it."""
    off = os.environ.get("GANBENCH_INLINE", "1").strip().lower() in ("0", "false", "no", "off")
    return slots == ["cpu"] and not off and "OMP_WAIT_POLICY" in os.environ


def _run_local(todo: list[RunConfig], store: Store, slots: list[str],
               progress: SweepProgress, results: dict[str, dict[str, Any]],
               threads: int | None = None, target: Callable = _train_target) -> None:
    """Train ``todo`` in a worker pool; each record lands in ``results`` as it finishes.
    Runs another process holds are left to it and read when it finishes them (reported to
    ``progress`` as trained elsewhere)."""
    slots = slots[: len(todo)]
    threads = threads_per_worker(len(slots), threads)
    by_id = {c.run_id: c for c in todo}
    before = {c.run_id: _fingerprint(store, c.run_id) for c in todo}  # as this sweep began
    held: set[str] = set()

    def check(run_id: str) -> str:
        """go: train it; later: another process holds it; drop: another process finished it
        (read here)."""
        try:
            locked = store.is_locked(run_id)
        except OSError as exc:  # ENOLCK, ENOSYS, EOPNOTSUPP: a file system without locks
            raise GanbenchError(
                f"cannot lock runs in the store {store.root} ({exc.strerror or exc}): its file "
                f"system does not support flock (a network mount without locks?); use a local "
                f"disk, or a mount with locks (NFS v4, or v3 with its lock daemon)") from exc
        if locked:
            held.add(run_id)
            progress.held(held)
            return "later"
        status = run_status(store, run_id)
        # Failed since this sweep began: another process tried it; its record is the result.
        failed_meanwhile = status == "failed" and _fingerprint(store, run_id) != before[run_id]
        if status in FINAL or failed_meanwhile:
            record = None
            with contextlib.suppress(OSError, ValueError):
                record = store.read_record(run_id)
            if record is not None:
                held.discard(run_id)
                results[run_id] = record
                progress.finished_run("another process", record, label(by_id[run_id]),
                                      elsewhere=True)
                return "drop"
        if run_id in held:
            held.discard(run_id)
            progress.held(held)
        return "go"

    def worker(slot: int) -> str:
        return f"worker {slot} ({slots[slot]})"

    def on_start(slot: int, run_id: str) -> None:
        progress.started(worker(slot), f"{run_id} {label(by_id[run_id])}")

    def on_done(slot: int, run_id: str, outcome: tuple[str, dict[str, Any] | None]) -> str | None:
        what, record = outcome
        if what == HELD:  # taken by another process since ``check``: ask again later
            progress.idle(worker(slot))
            return "later"
        _finished(slot, run_id, record, elsewhere=what == READ)
        return None

    def _finished(slot: int, run_id: str, record: dict[str, Any], elsewhere: bool = False
                  ) -> None:
        results[run_id] = record
        progress.finished_run(worker(slot), record, label(by_id[run_id]), elsewhere=elsewhere)

    def on_error(slot: int, run_id: str, reason: str) -> None:
        _finished(slot, run_id, failed_record(by_id[run_id], reason, store))

    def on_interrupted(slot: int, run_id: str) -> None:
        record = None
        with contextlib.suppress(OSError, ValueError):
            record = store.read_record(run_id)
        if not record or record.get("status") not in (*FINAL, "failed"):
            record = {**(record or {"run_id": run_id}), "status": "interrupted",
                      "reason": "interrupted before training began"}
        _finished(slot, run_id, record)

    pool = (InlinePool if inline(slots) else WorkerPool)(slots, threads, target)
    pool.run([(c.run_id, (c.to_dict(), str(store.root))) for c in todo],
             on_start=on_start, on_done=on_done, on_error=on_error,
             on_interrupted=on_interrupted, check=check)
