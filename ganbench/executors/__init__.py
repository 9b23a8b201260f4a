"""Executors: many runs on this machine's GPUs (or CPU cores), or on a Ray cluster.

``local``: a pool of long-lived worker processes (spawn), each pinned to one device (one per
visible GPU by default, ``workers_per_device`` for small models; on a machine without GPUs,
``workers`` CPU processes sharing the cores). Workers write their own run folders: the store's
per-run lock and atomic renames make that safe. Several sweeps on one store split the work: a
run another process holds is left to it (its record read when it finishes, never trained
twice) while this one trains the others; one whose holder died is taken over.

``ray``: the same runs as Ray tasks. A task trains in a temporary store on its node and returns
the run folder's files; the driver alone writes the store (atomic writes, the run's lock held
while its task is in flight), and sends an existing checkpoint along so the run resumes.

Either way a failed run is recorded and the sweep goes on; runs already done (or diverged)
are returned from the store without training; Ctrl-C stops the workers, which record their
runs as interrupted (they resume from their last checkpoint next time).

The package, module by module: ``devices`` (CPU cores, devices, one device per worker, torch
threads), ``runs`` (the plan, one run in whichever process, a run recorded as failed),
``pool`` (the worker processes), ``local`` and ``ray_executor`` (the two executors),
``dispatch`` (``check_executor`` and ``run_many``, the entry point). The sweep's progress
lines are ``ganbench.progress.SweepProgress``. Every public name is importable from here.
"""

from ganbench.executors.devices import (
    cpu_cores,
    default_cpu_workers,
    local_slots,
    parse_devices,
    threads_per_worker,
)
from ganbench.executors.dispatch import EXECUTORS, Interrupted, check_executor, run_many
from ganbench.executors.pool import WorkerPool
from ganbench.executors.ray_executor import RAY_CONNECT_TIMEOUT, check_ray_address, import_ray
from ganbench.executors.runs import FINAL, Plan, failed_record, plan, run_one
from ganbench.progress import SweepProgress, label

__all__ = [
    "EXECUTORS",
    "FINAL",
    "RAY_CONNECT_TIMEOUT",
    "Interrupted",
    "Plan",
    "SweepProgress",
    "WorkerPool",
    "check_executor",
    "check_ray_address",
    "cpu_cores",
    "default_cpu_workers",
    "failed_record",
    "import_ray",
    "label",
    "local_slots",
    "parse_devices",
    "plan",
    "run_many",
    "run_one",
    "threads_per_worker",
]
