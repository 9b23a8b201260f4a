"""The Ray executor: a real local cluster (2 CPUs, shared by the module), the driver alone
writing the store, resume by shipping the checkpoint, and a two-node cluster started with
`ray start` on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ganbench import executors, results
from ganbench.errors import ConfigError
from ganbench.store import Store
from tests.test_executors import interrupt_after_first_checkpoint, resolved, toy_configs
from tests.test_sweep import TINY

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[1]
RAY_BIN = Path(sys.executable).with_name("ray")
# One authentication mode for every process of a test cluster (Ray may default to token
# authentication for clusters started with `ray start`).
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_line(path: Path, text: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            pytest.fail(f"`ray start` exited: {path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    pytest.fail(f"`ray start` did not start in {timeout} s: {path.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop one `ray start --block` and everything it started (its own process group; a
    machine-wide `ray stop` would also stop other people's clusters)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_two_node_cluster_started_with_ray_start(tmp_path):
    if not RAY_BIN.exists():
        pytest.skip("no `ray` command beside the interpreter")
    port, client_port = _free_port(), _free_port()
    env = {**os.environ, **RAY_ENV}
    temp = tempfile.mkdtemp(prefix="gbray-", dir="/tmp")  # short: socket paths are limited
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats", "--block"]
    procs = []
    try:
        head_log = tmp_path / "head.log"
        procs.append(subprocess.Popen(
            [str(RAY_BIN), "start", "--head", f"--port={port}", f"--temp-dir={temp}",
             f"--ray-client-server-port={client_port}", "--include-dashboard=false", *common],
            stdout=head_log.open("w"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True))
        _wait_for_line(head_log, "Ray runtime started", procs[0])
        node_log = tmp_path / "node.log"
        procs.append(subprocess.Popen(
            [str(RAY_BIN), "start", f"--address=127.0.0.1:{port}", *common],
            stdout=node_log.open("w"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True))
        _wait_for_line(node_log, "Ray runtime started", procs[1])

        sweep_file = tmp_path / "sweep.toml"
        sweep_file.write_text(TINY.replace('["non-saturating", "hinge"]', '"hinge"'))  # 2 seeds
        store = tmp_path / "store"
        out = subprocess.run(
            [sys.executable, "-m", "ganbench.cli", "sweep", str(sweep_file), "--executor", "ray",
             "--ray-address", f"127.0.0.1:{port}", "--store", str(store), "--quiet"],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "finished 2 runs" in out.stdout and "2 done" in out.stdout
        records = [Store(store).read_record(r) for r in Store(store).run_ids()]
        assert len(records) == 2 and all(r["status"] == "done" for r in records)
        nodes = {r["ray_node_id"] for r in records}
        assert len(nodes) == 2, f"all tasks ran on one node: {nodes}"
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def local_cluster():
    """One local Ray instance with 2 CPUs for the whole module (start-up costs seconds)."""
    saved = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        yield
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_ray_runs_write_the_store_through_the_driver(local_cluster, tmp_path, monkeypatch):
    from ganbench.run import train_run

    store = Store(tmp_path / "store")
    configs = resolved(toy_configs(3))
    # One run interrupted after its first checkpoint: the driver ships that checkpoint.
    with pytest.MonkeyPatch.context() as patch:
        interrupt_after_first_checkpoint(patch)
        with pytest.raises(KeyboardInterrupt):
            train_run(configs[0], store=store, device="cpu")
    assert store.status(configs[0].run_id) == "interrupted"

    records = executors.run_many(configs, store=store, executor="ray")
    assert [r["run_id"] for r in records] == [c.run_id for c in configs]
    assert all(r["status"] == "done" and r["steps"] == 20 for r in records)
    assert all(r["executor"] == "ray" and r["ray_node_id"] for r in records)
    assert all(r["worker_pid"] != os.getpid() for r in records)
    assert records[0]["resumed_from_step"] == 10
    for record in records:
        folder = store.run_dir(record["run_id"])
        for name in ("config.json", "record.json", "checkpoint.pt", "losses.csv",
                     "losses.png", "samples.png"):
            assert (folder / name).is_file(), name
        assert store.read_record(record["run_id"]) == record
    assert not store.is_locked(records[0]["run_id"])
    assert sorted(results.load(store)["status"]) == ["done"] * 3

    # Again: everything is done, nothing is sent to the cluster.
    import ganbench.executors.dispatch as ex

    monkeypatch.setattr(ex, "_run_ray", lambda *a, **k: pytest.fail("ran again"))
    assert executors.run_many(configs, store=store, executor="ray") == records


def test_ray_without_gpus_refuses_cuda(local_cluster, tmp_path):
    with pytest.raises(ConfigError, match="the Ray cluster has none"):
        executors.run_many(toy_configs(1), store=Store(tmp_path / "store"), executor="ray",
                           devices=["cuda"])
    assert not (tmp_path / "store").exists()


def test_an_address_that_does_not_answer_fails_within_seconds():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ConfigError, match="cannot reach the Ray cluster"):
        executors.check_ray_address(f"127.0.0.1:{port}")
    # An address nobody serves: the connection times out, the network says unreachable, or
    # (behind a proxy that accepts every connection) the head's service does not answer.
    with pytest.raises(ConfigError, match="at 10.255.255.1:6379"):
        executors.check_ray_address("10.255.255.1:6379", timeout=1.0)
    assert time.monotonic() - started < 5


def test_a_task_that_raises_is_recorded_failed(local_cluster, tmp_path):
    # Unchecked bad input (validate=False) makes the task itself raise on its node.
    bad = toy_configs(1)[0]
    bad.options["dataset"]["n_train"] = 16  # below batch_size 32
    store = Store(tmp_path / "store")
    [record] = executors.run_many([bad], store=store, executor="ray", validate=False)
    assert record["status"] == "failed" and "batch_size 32" in record["reason"]
    assert store.read_record(record["run_id"])["status"] == "failed"
    assert not store.is_locked(record["run_id"])
