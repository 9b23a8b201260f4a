"""One CPU worker runs in the sweep's own process (ganbench.executors.inline): the same runs,
bit for bit, as in a worker process; failures recorded and the sweep goes on; runs another
process holds are waited for; Ctrl-C and SIGTERM record the run interrupted, and the same
command resumes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from ganbench import executors
from ganbench.executors.inline import InlinePool
from ganbench.executors.local import _run_local
from ganbench.progress import SweepProgress
from ganbench.store import CHECKPOINT, Store, load_checkpoint
from tests.conftest import toy_config
from tests.test_executors import (
    KILL_SWEEP,
    ROOT,
    _checkpoint_step,
    _mid_training,
    _records,
    _wait_for,
    resolved,
)


def test_one_cpu_worker_trains_in_this_process_and_ganbench_inline_0_spawns(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # as the ganbench command sets it
    store = Store(tmp_path / "store")
    configs = resolved([toy_config(seed=s) for s in range(2)])
    # _run_local hands the target (config dict, store root): the run id from the dict.
    results = {}
    progress = SweepProgress(2, 0, quiet=True)
    _run_local(configs, store, ["cpu"], progress, results, threads=1, target=_pid_of_run)
    assert {r["pid"] for r in results.values()} == {os.getpid()}
    monkeypatch.setenv("GANBENCH_INLINE", "0")
    results = {}
    _run_local(configs, store, ["cpu"], SweepProgress(2, 0, quiet=True), results, threads=1,
               target=_pid_of_run)
    pids = {r["pid"] for r in results.values()}
    assert len(pids) == 1 and os.getpid() not in pids  # one worker process for both runs


def _pid_of_run(payload, device):
    config_dict, _ = payload
    return "trained", {"run_id": _run_id(config_dict), "status": "done", "pid": os.getpid()}


def _run_id(config_dict):
    from ganbench.config import RunConfig

    return RunConfig.from_dict(config_dict).run_id


def test_the_same_run_bit_for_bit_in_this_process_and_in_a_worker(tmp_path, monkeypatch):
    config = resolved([toy_config(train={"steps": 40, "batch_size": 32, "log_every": 5,
                                         "checkpoint_every": 10})])[0]
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    inline = Store(tmp_path / "inline")
    [a] = executors.run_many([config], store=inline, workers=1, threads=1)
    monkeypatch.setenv("GANBENCH_INLINE", "0")
    spawned = Store(tmp_path / "spawned")
    [b] = executors.run_many([config], store=spawned, workers=1, threads=1)
    assert a["status"] == b["status"] == "done" and a["run_id"] == b["run_id"]
    ca = load_checkpoint(inline.run_dir(a["run_id"]) / CHECKPOINT)
    cb = load_checkpoint(spawned.run_dir(b["run_id"]) / CHECKPOINT)
    for part in ("generator", "discriminator"):
        assert ca[part].keys() == cb[part].keys()
        assert all(torch.equal(ca[part][k], cb[part][k]) for k in ca[part])

    def losses(store, run_id):  # step, d_loss, g_loss (not the seconds column)
        lines = (store.run_dir(run_id) / "losses.csv").read_text().splitlines()
        return [line.rsplit(",", 1)[0] for line in lines]

    assert losses(inline, a["run_id"]) == losses(spawned, b["run_id"])
    assert len(losses(inline, a["run_id"])) == 9  # the header and 8 logged steps


def test_a_failing_run_is_recorded_and_the_others_go_on():
    done, errors, starts = {}, {}, []
    pool = InlinePool(["cpu"], 1, lambda payload, device: payload())
    items = [("a", lambda: 1), ("raises", lambda: (_ for _ in ()).throw(ValueError("bad x"))),
             ("exits", lambda: sys.exit(3)), ("b", lambda: 2)]
    pool.run(items, on_start=lambda s, k: starts.append(k),
             on_done=lambda s, k, r: done.__setitem__(k, r),
             on_error=lambda s, k, why: errors.__setitem__(k, why))
    assert done == {"a": 1, "b": 2}
    assert errors == {"raises": "ValueError: bad x", "exits": "SystemExit: 3"}
    assert starts == ["a", "raises", "exits", "b"]


def test_a_run_held_elsewhere_goes_last_and_is_asked_about_again():
    asked = {"held": 0}

    def check(key):
        if key == "held":
            asked["held"] += 1
            return "later" if asked["held"] < 3 else "go"
        return "drop" if key == "gone" else "go"

    order = []
    InlinePool(["cpu"], 1, lambda payload, device: payload).run(
        [("held", 0), ("gone", 1), ("a", 2)], on_start=lambda s, k: order.append(k),
        on_done=lambda s, k, r: None, on_error=lambda s, k, why: None, check=check)
    # "gone" was settled, never run; "held": set aside, asked twice more, and once as it goes
    assert order == ["a", "held"] and asked["held"] == 4


def test_threads_are_set_for_the_runs_and_restored():
    before = torch.get_num_threads()
    seen = []
    InlinePool(["cpu"], before + 1,
               lambda payload, device: seen.append(torch.get_num_threads())).run(
        [("a", None)], on_start=lambda s, k: None, on_done=lambda s, k, r: None,
        on_error=lambda s, k, why: None)
    assert seen == [before + 1] and torch.get_num_threads() == before


def test_in_this_process_only_with_passive_openmp_and_not_when_turned_off(monkeypatch):
    from ganbench.executors.local import inline

    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.delenv("GANBENCH_INLINE", raising=False)
    assert inline(["cpu"]) and not inline(["cpu", "cpu"]) and not inline(["cuda:0"])
    for off in ("0", "false", "No", "off"):
        monkeypatch.setenv("GANBENCH_INLINE", off)
        assert not inline(["cpu"])
    monkeypatch.delenv("GANBENCH_INLINE")
    monkeypatch.delenv("OMP_WAIT_POLICY")  # spinning OpenMP threads here: a worker process
    assert not inline(["cpu"])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_a_one_worker_sweep_records_the_run_interrupted_and_it_resumes(
        tmp_path, signum):
    store = tmp_path / "store"
    (tmp_path / "sweep.toml").write_text(KILL_SWEEP)
    command = [sys.executable, "-m", "ganbench.cli", "sweep", str(tmp_path / "sweep.toml"),
               "--store", str(store), "--workers", "1", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT, env=env, start_new_session=True)
    _wait_for(lambda: _mid_training(store, cap=300), proc)
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)],
                              capture_output=True, text=True).stdout.split()
    os.kill(proc.pid, signum)  # the sweep's own process: it trains the run
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0 and "Traceback" not in output, output
    assert not children, children  # no worker process was spawned
    assert "executor local: in this process on cpu (1 thread each)" in output, output
    interrupted = {r: rec for r, rec in _records(store).items()
                   if rec["status"] == "interrupted"}
    assert len(interrupted) == 1, output
    [(run_id, _)] = interrupted.items()
    step = _checkpoint_step(store / run_id)
    assert step > 0
    time.sleep(0.1)
    output = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=300).stdout
    records = _records(store)
    assert all(rec["status"] == "done" for rec in records.values()), output
    assert records[run_id]["resumed_from_step"] == step
