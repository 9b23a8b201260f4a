"""Where a sweep's runs go on this machine: the CPU cores there are, the devices named on
the command line, one device per local worker process (its slot), and the torch threads
each worker gets."""

from __future__ import annotations

import contextlib

from ganbench.compute import cpu_cores
from ganbench.errors import ConfigError


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


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """Torch threads in each of ``workers`` processes: the cores divided among them (no
    oversubscription), unless given."""
    if threads is not None:
        return threads
    return max(1, cpu_cores() // max(1, workers))


def _limit_threads(threads: int) -> None:
    """In a worker process (local or Ray): torch's threads, before it does any work."""
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only possible before any parallel work
        torch.set_num_interop_threads(max(1, min(threads, 2)))
