"""How a run uses the machine it trains on: torch's CPU threads and the float32 matmul
precision of training.

**Threads.** ``train.threads`` (``--threads N`` on train, sweep and reproduce, ``--set
train.threads=N``; else the environment variable ``GANBENCH_THREADS``, which worker processes
inherit) is a number given; left unset, ``threads_for`` chooses. Measured on a 2-core VM with one core
busy (README, Performance): a second OpenMP thread made the toy 1.5-1.7x slower and the
paper's MNIST networks 1.8x slower with passive OpenMP threads (the toy 28x with spinning
ones); the toy's products are too small to split anyway, while the paper's networks may gain
from a second core when it is free (not measured: that machine was never idle). So the automatic
choice is one thread, unless the model is large (``LARGE_WORK``: parameters x batch size)
*and* cores are free now (``free_cores``: what other processes used of this process's cores
over a fifth of a second, from ``/proc/stat``; the 1-minute load average where that cannot be
read); never more than the threads the process was given (a local sweep's worker gets the
cores divided among the workers; ``OMP_NUM_THREADS`` counts too). A CUDA run keeps what it
was given. The choice is made when a run starts or resumes, not changed during it, and is
written in the record (``threads``); a run's scoring (large products whatever the model)
takes the free cores, as ``ganbench score`` does, unless a number is given. Thread counts change no number of the MLP models
here (1 and 2 threads gave bitwise-identical parameters after training, toy and paper), so
``train.threads`` is not part of the run id; other kernels (convolutions, e.g. dcgan, and
large reductions) differ in the last bits across thread counts, which is the same experiment
all the same, as on another machine. So that a resumed or extended run follows the path of
an uninterrupted one, it keeps the thread count its earlier session recorded unless a number
is given.

**Precision.** ``train.matmul_precision`` is torch's ``set_float32_matmul_precision``
(``"highest"``, ``"high"``, ``"medium"``), applied to training only and restored after it:
scoring (the validation selection during training too), Parzen and every metric run at
``"highest"``. On CUDA, torch makes "high" and "medium" TF32 matrix products; on a CPU with
bf16 support, "medium" sends float32 products through oneDNN's bfloat16 path.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from typing import Any

from ganbench.errors import ConfigError

ENV_THREADS = "GANBENCH_THREADS"
# Parameters (G + D) x batch size below which a second thread cannot pay: the toy MLPs
# (64-64, batch 100) are 9e5, the paper's MNIST networks 3.7e8.
LARGE_WORK = 2 * 10**7
PRECISIONS = ("highest", "high", "medium")


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_from_env() -> int | None:
    """``GANBENCH_THREADS`` as a number of threads, None when unset; a ConfigError if bad."""
    text = os.environ.get(ENV_THREADS, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{ENV_THREADS}={text!r}: must be a whole number of threads, at least 1")
    return value


def _cpu_times(cpus: set[int]) -> tuple[float, float] | None:
    """(busy, total) jiffies of ``cpus`` from /proc/stat; None where it cannot be read."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    busy = total = 0.0
    for line in lines:
        name, *values = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        numbers = [float(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
        total += sum(numbers)
        busy += sum(numbers) - numbers[3] - numbers[4]
    return (busy, total) if total else None


def busy_cores(seconds: float = 0.2) -> float:
    """Cores of this process's set that other processes keep busy, over ``seconds`` (the
    1-minute load average, less this process, where /proc/stat cannot be read)."""
    try:
        cpus = set(os.sched_getaffinity(0))
    except AttributeError:
        cpus = set(range(os.cpu_count() or 1))
    before, own = _cpu_times(cpus), time.process_time()
    if before is None:
        try:
            return max(0.0, os.getloadavg()[0] - 1.0)
        except OSError:
            return 0.0
    time.sleep(seconds)
    after, own = _cpu_times(cpus), time.process_time() - own
    if after is None or after[1] <= before[1]:
        return 0.0
    share = (after[0] - before[0]) / (after[1] - before[1])  # of all the cores in the set
    return max(0.0, share * len(cpus) - own / seconds)


FREE_CORES_TTL = 10.0  # seconds a measurement of free cores is reused
_free: tuple[float, int] | None = None  # (when, free cores) of the last measurement


def free_cores() -> int:
    """Cores no other process is using now (at least 1). A measurement takes a fifth of a
    second of waiting, so one younger than ``FREE_CORES_TTL`` seconds is reused (a sweep of
    short runs scored one after another measured once per run: 0.2 s of each toy run)."""
    global _free
    now = time.monotonic()
    if _free is None or not 0 <= now - _free[0] < FREE_CORES_TTL:
        _free = (now, max(1, cpu_cores() - math.floor(busy_cores() + 0.5)))
    return _free[1]


def model_work(*modules: Any, batch_size: int) -> int:
    """Parameters of the modules times the batch size: the size ``threads_for`` compares."""
    return batch_size * sum(p.numel() for m in modules for p in m.parameters())


def threads_for(setting: int | None, *, work: int, device_type: str = "cpu",
                allowance: int | None = None, previous: int | None = None) -> int:
    """The torch threads a run trains with: the setting (or ``GANBENCH_THREADS``) if given,
    else, for a run resumed or extended, the threads its earlier session recorded
    (``previous``: some kernels, convolutions among them, differ in the last bits across
    thread counts, and a resumed run must follow the path of an uninterrupted one), else the
    automatic choice (see the module's docstring). ``allowance``: the threads this process
    was given (default: torch's current number)."""
    given = setting if setting is not None else threads_from_env()
    if given is not None:
        return given
    if isinstance(previous, int) and not isinstance(previous, bool) and previous >= 1:
        return previous
    import torch

    allowance = allowance or torch.get_num_threads()
    if device_type != "cpu":
        return allowance
    if allowance <= 1 or work < LARGE_WORK:
        return 1
    return max(1, min(allowance, free_cores()))


def threads_for_run(experiment: Any, device_type: str, previous: int | None = None) -> int:
    """``threads_for`` a built experiment (``runner.Experiment``: its config and models)."""
    train = experiment.config.settings.train
    return threads_for(train.threads, device_type=device_type, previous=previous,
                       work=model_work(experiment.generator, experiment.discriminator,
                                       batch_size=train.batch_size))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """torch's intra-op threads set to ``n``, and restored afterwards."""
    import torch

    previous = torch.get_num_threads()
    if n != previous:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


@contextlib.contextmanager
def matmul_precision(precision: str) -> Iterator[str]:
    """torch's float32 matmul precision set to ``precision`` and restored afterwards."""
    import torch

    if precision not in PRECISIONS:
        raise ConfigError(f"matmul precision must be one of {', '.join(PRECISIONS)}, "
                          f"got {precision!r}")
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield precision
    finally:
        torch.set_float32_matmul_precision(previous)


def passive_openmp() -> None:
    """OpenMP threads that sleep rather than spin while waiting (read when torch loads
    OpenMP, so call it before torch is imported; a value the user set is kept). Spinning
    threads are ruinous on a shared machine and save next to nothing otherwise."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
