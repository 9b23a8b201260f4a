"""A sweep's runs, one at a time: the plan (which runs the store already has, which are to
do), training one run in whichever process (``run_one`` waits for a run another process
holds; ``claim``, the local executor's, never waits), and recording a run that could not even
run as failed."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

from ganbench.config import RunConfig
from ganbench.identity import STALE, STALE_DIR
from ganbench.identity import status as identity_status
from ganbench.record import FINAL, RunRecord
from ganbench.record import now as _now
from ganbench.record import write as write_record
from ganbench.store import RECORD, RunLocked, Store, atomic_write_json, read_json

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
        stale = self.statuses.count(STALE)
        if stale:
            text += (f" ({stale} stale: made by other plugin versions or sources; set aside in "
                     f"{STALE_DIR}/ and trained afresh)")
        if self.running_elsewhere:
            text += (f"; {len(self.running_elsewhere)} being trained by another process "
                     f"(left to it, read when it finishes)")
        return text


def plan(configs: list[RunConfig], store: Store) -> Plan:
    """Each (resolved) run's status in the store. A half-written folder (no readable record)
    counts as not started; a ``failed`` or ``interrupted`` run is to do again, and so is a
    ``stale`` one (``ganbench.identity``: made by other plugin versions or sources)."""
    from ganbench.sweep import unique

    runs = unique(configs)
    return Plan(runs, [identity_status(store, c.run_id) for c in runs])


# ---- one run, in whichever process ----


def run_one(config: RunConfig, store: Store, device: str | None = None,
            quiet: bool = True) -> dict[str, Any]:
    """Train, resume or skip one run. If another process holds the run, wait for it and
    return its record (or take the run over if it stopped without finishing)."""
    from ganbench.run import train_run

    while True:
        _set_aside_unreadable_record(store, config.run_id)
        try:
            return train_run(config, store=store, device=device, quiet=quiet)
        except RunLocked:
            while store.is_locked(config.run_id):
                time.sleep(0.25)


TRAINED, READ, HELD = "trained", "read", "held"  # what ``claim`` did with a run


def claim(config: RunConfig, store: Store, device: str | None = None,
          quiet: bool = True) -> tuple[str, dict[str, Any] | None]:
    """Train or resume one run unless another process holds it, never waiting for it:
    ``(HELD, None)`` when its lock is taken; ``(READ, record)`` when it is finished already
    (read, not retrained; at most scored for a metric it lacks); ``(TRAINED, record)`` when
    this process trained it (or resumed it from the checkpoint of a holder that died).

    The lock decides who trains; READ vs TRAINED is only what this process reports. It is
    judged by the status just before the lock is tried, so a run another process both starts
    and finishes in that moment (milliseconds) would be reported TRAINED, though read."""
    from ganbench.run import train_run

    _set_aside_unreadable_record(store, config.run_id)
    finished_before = identity_status(store, config.run_id) in FINAL
    try:
        record = train_run(config, store=store, device=device, quiet=quiet)
    except RunLocked:
        return HELD, None
    return (READ if finished_before else TRAINED), record


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
        write_record(folder, RunRecord.from_dict(record))
    return record
