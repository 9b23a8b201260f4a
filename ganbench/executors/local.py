"""The local executor: a sweep's runs in a pool of worker processes on this machine, each
pinned to one device. Workers write their own run folders (the store's per-run lock and
atomic renames make that safe)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from ganbench.config import RunConfig
from ganbench.executors.devices import threads_per_worker
from ganbench.executors.pool import WorkerPool
from ganbench.executors.runs import FINAL, failed_record, run_one
from ganbench.progress import SweepProgress, label
from ganbench.store import Store


def _train_target(payload: tuple[dict[str, Any], str], device: str) -> dict[str, Any]:
    config_dict, store_root = payload
    return run_one(RunConfig.from_dict(config_dict), Store(store_root), device, quiet=True)


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
