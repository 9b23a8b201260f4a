"""Two ``ganbench sweep`` processes on one sweep file and one store split the work: each run
is trained once, by whichever process takes its lock first; neither waits while there is a
run nobody holds; both end with every run's record (the other's read, not retrained); and a
kill -9 of one of them loses nothing: the other takes over the killed run and resumes it
from its checkpoint.

Trainings are counted independently of what the sweeps report: a ``sitecustomize`` module
(on PYTHONPATH, so it runs in every process, the spawned workers included) wraps
``ganbench.run._train_locked``, the one place a run is trained, and appends a line per start
and end to a log file."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganbench.executors.runs import HELD, READ, TRAINED, claim
from ganbench.store import Store
from tests.conftest import toy_config

ROOT = Path(__file__).resolve().parents[1]

SWEEP = """
generator = "mlp"
discriminator = "mlp"
loss = ["non-saturating", "hinge"]
dataset = "gaussian-1d"
seed = [0, 1, 2, 3]

[train]
steps = 30
batch_size = 32
log_every = 10
checkpoint_every = 10

[noise]
dim = 4

[score]
parzen = false

[options.generator.mlp]
hidden = [[16]]

[options.discriminator.mlp]
hidden = [[16]]

[options.dataset.gaussian-1d]
n_train = 512
n_valid = 128
n_test = 128
"""
N_RUNS = 8

# Runs in every Python process started with it on PYTHONPATH; patches ganbench.run as it is
# imported. CC_LOG: the log; CC_GATE: a file whose existence lets this process's trainings
# begin; CC_HOLD: this process's Nth training hangs after its first checkpoint (to be killed).
SITECUSTOMIZE = '''
import importlib.abc, importlib.machinery, os, sys, time

LOG = os.environ.get("CC_LOG")


def _log(*words):
    with open(LOG, "a") as f:  # one short append per line: whole lines, never interleaved
        f.write(" ".join(str(w) for w in words) + "\\n")


def _patch(run):
    original, save = run._train_locked, run.atomic_torch_save
    trained = [0]

    def train_locked(exp, folder, *args, **kwargs):
        trained[0] += 1
        _log("start", exp.run_id, os.getpid(), os.getppid())
        gate = os.environ.get("CC_GATE")
        deadline = time.monotonic() + 120
        while gate and not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.02)
        record = original(exp, folder, *args, **kwargs)
        _log("end", exp.run_id, os.getpid(), os.getppid(), record.get("status"))
        return record

    def save_then_hold(path, obj):
        save(path, obj)
        if (str(trained[0]) == os.environ.get("CC_HOLD")
                and os.path.basename(str(path)) == "checkpoint.pt"):
            _log("holding", os.path.basename(os.path.dirname(str(path))), os.getpid(),
                 os.getppid())
            while True:
                time.sleep(1)

    run._train_locked, run.atomic_torch_save = train_locked, save_then_hold


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "ganbench.run":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


if LOG:
    sys.meta_path.insert(0, _Finder())
'''


class Sweep:
    """One ``ganbench sweep`` process (a session of its own, so kill -9 takes its workers)."""

    def __init__(self, tmp: Path, store: Path, name: str, **env: str):
        self.log = tmp / "trainings.log"
        hooks = tmp / "hooks"
        hooks.mkdir(exist_ok=True)
        (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
        (tmp / "sweep.toml").write_text(SWEEP)
        self.out, self.err = tmp / f"{name}.out", tmp / f"{name}.err"
        environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), str(ROOT)]),
                   "CC_LOG": str(self.log), "OMP_NUM_THREADS": "1", **env}
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ganbench.cli", "sweep", str(tmp / "sweep.toml"),
                 "--store", str(store), "--workers", "1"],
                stdout=out, stderr=err, text=True, cwd=ROOT, env=environ,
                start_new_session=True)

    def trained(self, line: list[str]) -> bool:
        """Was this log line written by this sweep (its process or one of its workers)?"""
        return str(self.proc.pid) in line[2:4]

    def finish(self, timeout: float = 180) -> tuple[str, str]:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        return self.out.read_text(), self.err.read_text()

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def _log_lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for(predicate, *sweeps: Sweep, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for s in sweeps:
            if s.proc.poll() is not None:
                pytest.fail(f"a sweep ended early:\n{s.out.read_text()}\n{s.err.read_text()}")
        time.sleep(0.02)
    for s in sweeps:
        os.killpg(s.proc.pid, signal.SIGKILL)
    pytest.fail("timed out")


def _records(store: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in store.glob("*/record.json")}


def _per_run_lines(err: str) -> list[str]:
    """The sweep's line per finished run (stderr is not a terminal): ``[k/8] RUN ...``."""
    return [line for line in err.splitlines() if line.startswith("[")]


def _assert_full_table(out: str, err: str, store: Path) -> None:
    """Every run of the sweep in the summary, and a line for each run not done before it
    began, numbered on from those (``8 runs, 1 already done, 7 to run``: [2/8] to [8/8])."""
    records = _records(store)
    already = int(re.search(r"(\d+) already done", out).group(1))
    assert f"finished {N_RUNS} runs" in out and f"{N_RUNS} done" in out, out + err
    lines = _per_run_lines(err)
    assert [line.split()[0] for line in lines] == \
        [f"[{k}/{N_RUNS}]" for k in range(already + 1, N_RUNS + 1)], err
    ids = [line.split()[1] for line in lines]
    assert len(set(ids)) == len(ids) and set(ids) <= set(records), err
    assert all(line.split(": ")[1].startswith("done") for line in lines), err
    assert "Traceback" not in out + err


def test_two_sweeps_on_one_store_split_the_work(tmp_path):
    store, log = tmp_path / "store", tmp_path / "trainings.log"
    gate = tmp_path / "gate"
    # A starts, takes its first run and holds it (its training waits at the gate) until B,
    # started later, has begun a training of its own: B must skip the held run, not wait.
    a = Sweep(tmp_path, store, "a", CC_GATE=str(gate))
    _wait_for(lambda: any(line[0] == "start" for line in _log_lines(log)), a)
    first = _log_lines(log)[0][1]
    b = Sweep(tmp_path, store, "b")
    _wait_for(lambda: sum(line[0] == "start" for line in _log_lines(log)) >= 2, a, b)
    gate.touch()
    out_a, err_a = a.finish()
    out_b, err_b = b.finish()
    assert a.proc.returncode == 0 and b.proc.returncode == 0, out_a + err_a + out_b + err_b

    records = _records(store)
    assert len(records) == N_RUNS and all(r["status"] == "done" for r in records.values())
    lines = _log_lines(log)
    starts = collections.Counter(line[1] for line in lines if line[0] == "start")
    ends = collections.Counter(line[1] for line in lines if line[0] == "end")
    assert starts == ends == dict.fromkeys(records, 1)  # every run trained exactly once

    # Both trained some; the run A held while B started went to A.
    by_a = {line[1] for line in lines if line[0] == "end" and a.trained(line)}
    by_b = {line[1] for line in lines if line[0] == "end" and b.trained(line)}
    assert by_a and by_b and by_a | by_b == set(records) and not by_a & by_b
    assert first in by_a

    # Both print every run; each says which the other trained, and counts them.
    for (out, err), others in (((out_a, err_a), by_b), ((out_b, err_b), by_a)):
        _assert_full_table(out, err, store)
        said = {line.split()[1] for line in _per_run_lines(err)
                if "(trained by another process)" in line}
        assert said == others, err
        assert f"({len(others)} trained by another process" in out, out


@pytest.mark.slow
def test_a_sweep_killed_mid_run_loses_nothing_and_trains_nothing_twice(tmp_path):
    store, log = tmp_path / "store", tmp_path / "trainings.log"
    # A's second training hangs after its first checkpoint; B starts; once B has trained a
    # run, A (its driver and its worker) is killed with SIGKILL.
    a = Sweep(tmp_path, store, "a", CC_HOLD="2")
    _wait_for(lambda: any(line[0] == "holding" for line in _log_lines(log)), a)
    killed_run = next(line[1] for line in _log_lines(log) if line[0] == "holding")
    b = Sweep(tmp_path, store, "b")
    _wait_for(lambda: sum(line[0] == "end" for line in _log_lines(log)) >= 2, a, b)
    a.kill()
    out_b, err_b = b.finish()
    assert b.proc.returncode == 0, out_b + err_b

    records = _records(store)
    assert len(records) == N_RUNS and all(r["status"] == "done" for r in records.values())
    lines = _log_lines(log)
    ends = collections.Counter(line[1] for line in lines if line[0] == "end")
    assert ends == dict.fromkeys(records, 1)  # each run trained to its end exactly once
    starts = collections.Counter(line[1] for line in lines if line[0] == "start")
    # Only the killed run was begun twice: by A, then resumed by B from A's checkpoint.
    assert {r for r, n in starts.items() if n > 1} == {killed_run}
    assert starts[killed_run] == 2
    killed_by = [line for line in lines if line[1] == killed_run and line[0] == "start"]
    assert a.trained(killed_by[0]) and b.trained(killed_by[1])
    assert records[killed_run]["resumed_from_step"] == 10
    assert records[killed_run]["steps"] == 30
    _assert_full_table(out_b, err_b, store)

    # A rerun finds everything done and trains nothing.
    rerun = subprocess.run(
        [sys.executable, "-m", "ganbench.cli", "sweep", str(tmp_path / "sweep.toml"),
         "--store", str(store), "--dry-run"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert f"{N_RUNS} runs, {N_RUNS} already done, 0 to run" in rerun.stdout, rerun.stdout


# ---- the pool's side: what check holds back; claim, the worker's side ----


def echo(payload, device):
    return payload


def test_the_pool_sets_aside_what_check_holds_back_and_asks_again():
    from ganbench.executors import WorkerPool

    asked, starts, done = collections.Counter(), [], []

    def check(key):
        asked[key] += 1
        if key == "settled":  # finished elsewhere: reported by check, never sent
            return "drop"
        return "later" if key == "held" and asked[key] <= 3 else "go"

    def on_done(slot, key, result):
        if key == "taken" and starts.count("taken") == 1:
            return "later"  # its worker found it held: set aside, asked again
        done.append(key)
        return None

    pool = WorkerPool(["cpu"], 1, echo)
    pool.run([(k, k) for k in ("held", "a", "settled", "taken", "b")],
             on_start=lambda slot, key: starts.append(key), on_done=on_done,
             on_error=lambda slot, key, why: pytest.fail(why), check=check)
    assert sorted(done) == ["a", "b", "held", "taken"]  # each once, "settled" not at all
    assert done.index("a") < done.index("held")  # held back: the others went first
    assert sorted(starts) == ["a", "b", "held", "taken", "taken"]
    assert asked["held"] >= 4 and asked["settled"] == 1


def test_claim_skips_a_held_run_and_reads_a_finished_one(tmp_path):
    from ganbench.sweep import resolve_all

    store = Store(tmp_path / "store")
    config = resolve_all([toy_config()], check=False)[0]
    with store.lock(config.run_id):  # held (by this process, through another descriptor)
        assert claim(config, store, "cpu") == (HELD, None)
    assert not (store.run_dir(config.run_id) / "record.json").exists()  # nothing written
    what, record = claim(config, store, "cpu")
    assert what == TRAINED and record["status"] == "done"
    assert claim(config, store, "cpu") == (READ, record)  # read back, not retrained


def test_progress_says_which_runs_another_process_trained():
    import io

    from ganbench.progress import SweepProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    progress = SweepProgress(3, 0, quiet=False, stream=screen)
    progress.started("worker 0 (cpu)", "aaa label a")
    progress.held({"bbb"})
    assert "1 running, 1 being trained by another process" in screen.getvalue()
    progress.finished_run("another process", {"run_id": "bbb", "status": "done"}, "label b",
                          elsewhere=True)
    progress.idle("worker 0 (cpu)")  # its run was taken meanwhile: back to the queue
    progress.close()
    text = screen.getvalue()
    assert "[1/3] bbb label b: done (trained by another process)" in text
    assert ("sweep: 1/3 runs finished, 1 trained by another process, 0 failed or diverged, "
            "0 running, time left ?") in text
    assert progress.trained_elsewhere == ["bbb"] and progress.counts["done"] == 1


def test_a_store_without_locks_is_one_clear_error(tmp_path, monkeypatch):
    import errno

    from ganbench.errors import GanbenchError
    from ganbench.executors import run_many

    def no_locks(self, run_id):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(Store, "is_locked", no_locks)
    store = Store(tmp_path / "store")
    with pytest.raises(GanbenchError, match="does not support flock .*NFS v4"):
        run_many([toy_config()], store=store, workers=1, validate=False)
    assert not list(store.root.glob("*/record.json"))  # nothing trained
