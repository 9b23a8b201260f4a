"""The Ray executor: a sweep's runs as Ray tasks. A task trains in a temporary store on its
node and returns the run folder's files; the driver alone writes the store (atomic writes,
the run's lock held while its task is in flight), and sends an existing checkpoint along so
the run resumes. Also: checking, within seconds, that a Ray head answers at an address.

(Not ``ray.py``, so that the name never stands for the ``ray`` library.)"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections import deque
from typing import Any

from ganbench.config import RunConfig
from ganbench.errors import ConfigError, GanbenchError
from ganbench.executors.devices import _limit_threads, cpu_cores
from ganbench.executors.runs import FINAL, _now, run_one
from ganbench.identity import is_current, set_aside_if_stale
from ganbench.identity import status as run_status
from ganbench.progress import SweepProgress, label
from ganbench.record import RunRecord
from ganbench.record import write as write_record
from ganbench.store import RECORD, RunLocked, Store, atomic_write_bytes, atomic_write_json

RAY_CONNECT_TIMEOUT = 3.0


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
    write_record(folder, RunRecord.from_dict(out["record"]))
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
    write_record(folder, RunRecord.from_dict(record))
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
                with contextlib.suppress(RunLocked):  # made by other plugin code: set aside
                    set_aside_if_stale(store, config.run_id)
                if run_status(store, config.run_id) in FINAL:  # finished elsewhere meanwhile
                    record = store.read_record(config.run_id)
                    results[config.run_id] = record
                    progress.finished_run(config.run_id, record, label(config), elsewhere=True)
                    continue
                lock = contextlib.ExitStack()
                try:
                    lock.enter_context(store.lock(config.run_id))
                except RunLocked:
                    held_elsewhere.append(config)
                    continue
                if not is_current(store.read_record(config.run_id)):  # turned stale between
                    lock.close()  # the check and the lock: set it aside first, then ship
                    pending.appendleft(config)
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
