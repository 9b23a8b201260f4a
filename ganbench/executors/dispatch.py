"""The executors' entry point: ``check_executor`` (everything about where runs go that can be
checked before any run starts) and ``run_many`` (train a sweep's runs on the local or the
Ray executor, and return every record)."""

from __future__ import annotations

import contextlib
from typing import Any

from ganbench.config import RunConfig
from ganbench.errors import ConfigError
from ganbench.executors.devices import local_slots
from ganbench.executors.local import _run_local
from ganbench.executors.ray_executor import _run_ray, check_ray_address, import_ray
from ganbench.executors.runs import plan
from ganbench.progress import SweepProgress
from ganbench.store import Store

EXECUTORS = ("local", "ray")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during ``run_many``: ``records`` holds the finished runs' records (None for the
    others), in the order of the configs."""

    def __init__(self, records: list[dict[str, Any] | None]):
        super().__init__("interrupted")
        self.records = records


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
             threads: int | None = None,
             trained_elsewhere: set[str] | None = None) -> list[dict[str, Any]]:
    """Train every run that is not yet done and return all their records, in the order of
    ``configs`` (runs already done or diverged come from the store, untrained).

    With ``validate`` every variant is built and checked (``runner.prepare``) before any run
    starts; bad input raises a GanbenchError and nothing is written. A run that fails is
    recorded ``failed`` and the others go on; so does a run whose worker alone was stopped
    by a signal (recorded ``interrupted``, resumed next time). Ctrl-C raises ``Interrupted`` (a
    KeyboardInterrupt) carrying the records finished so far. ``threads``: torch threads per
    local worker (default: the cores divided among the workers).

    Other processes may train the same runs into the same store at the same time (another
    sweep, on this machine or another one sharing the disk): each run is trained once, by
    whichever process takes its lock first; this one reads the others' records. Their run
    ids are added to ``trained_elsewhere`` when it is given."""
    from ganbench import compute
    from ganbench.sweep import resolve_all

    compute.threads_from_env()  # a bad GANBENCH_THREADS: one error now, not a failed run each
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
        if trained_elsewhere is not None:
            trained_elsewhere.update(progress.trained_elsewhere)
        raise Interrupted([records.get(c.run_id) for c in resolved]) from None
    progress.close()
    if trained_elsewhere is not None:
        trained_elsewhere.update(progress.trained_elsewhere)
    return [records[c.run_id] for c in resolved]
