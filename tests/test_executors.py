"""The local executor: device placement, a pool of long-lived workers, failures recorded, and
never losing or duplicating a run (concurrent writers, races, SIGKILL, Ctrl-C)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganbench import executors, results
from ganbench.config import RunConfig
from ganbench.errors import ConfigError, GanbenchError
from ganbench.store import RECORD, Store
from tests.conftest import toy_config

ROOT = Path(__file__).resolve().parents[1]
SWEEP_CLI = [sys.executable, "-m", "ganbench.cli", "sweep"]


def toy_configs(n: int, **train) -> list[RunConfig]:
    configs = []
    for seed in range(n):
        c = toy_config(seed=seed)
        c.train.update(train)
        configs.append(c)
    return configs


def resolved(configs: list[RunConfig]) -> list[RunConfig]:
    from ganbench.sweep import resolve_all

    return resolve_all(configs, check=False)


def interrupt_after_first_checkpoint(monkeypatch):
    """Ctrl-C right after the first checkpoint of the next run trained in this process."""
    import ganbench.run as runner

    original = runner.atomic_torch_save

    def save_then_interrupt(path, obj):
        original(path, obj)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "atomic_torch_save", save_then_interrupt)


# ---- devices ----


def test_every_gpu_gets_a_worker(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert executors.local_slots() == ["cuda:0", "cuda:1"]
    assert executors.local_slots(workers_per_device=2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert executors.local_slots(["cuda:1"], check=False) == ["cuda:1"]
    assert executors.local_slots(["cuda:0", "cuda:1"], workers=3, check=False) == [
        "cuda:0", "cuda:1", "cuda:0"]


def test_cpu_workers(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert executors.local_slots(workers=3) == ["cpu"] * 3
    assert executors.local_slots(["cpu"], workers=2) == ["cpu", "cpu"]
    assert executors.default_cpu_workers(2) == 2 and executors.default_cpu_workers(16) == 16
    assert executors.parse_devices("cuda:0, cuda:1") == ["cuda:0", "cuda:1"]
    assert executors.parse_devices(None) is None


def test_devices_that_do_not_exist(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        executors.local_slots(["cuda:0"])
    with pytest.raises(ConfigError, match="tpu"):
        executors.check_executor("local", devices=["tpu"])
    with pytest.raises(ConfigError, match="unknown executor"):
        executors.check_executor("slurm")


def test_ray_missing_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(GanbenchError, match=r"pip install 'ganbench\[ray\]'"):
        executors.check_executor("ray")


# ---- the pool, with a stand-in for training (module-level: pickled by name) ----


def fake_run(payload, device):
    """Sleeps, reports where and when it ran; dies on request."""
    if payload.get("die"):
        os._exit(3)
    if payload.get("raise"):
        raise RuntimeError("boom")
    started = time.time()
    time.sleep(payload.get("sleep", 0.0))
    return {"device": device, "pid": os.getpid(), "started": started, "ended": time.time()}


def _pool(slots, items, target=fake_run):
    done, errors, starts = {}, {}, []
    pool = executors.WorkerPool(slots, 1, target)
    pool.run(items, on_start=lambda s, k: starts.append((s, k)),
             on_done=lambda s, k, r: done.__setitem__(k, r),
             on_error=lambda s, k, why: errors.__setitem__(k, why))
    return done, errors, starts


def test_the_pool_keeps_every_gpu_busy():
    # Two fake GPUs, four runs of 2 s: both devices run at once, each in its own
    # long-lived process (two processes for four runs, not four).
    items = [(f"run{i}", {"sleep": 2.0}) for i in range(4)]
    done, errors, starts = _pool(["cuda:0", "cuda:1"], items)
    assert not errors and sorted(done) == ["run0", "run1", "run2", "run3"]
    assert {r["device"] for r in done.values()} == {"cuda:0", "cuda:1"}
    assert len({r["pid"] for r in done.values()}) == 2
    # Both devices busy at once: some run on cuda:0 overlaps some run on cuda:1. (How the four
    # runs split between them depends on how fast each worker process starts on a busy machine.)
    on0 = [r for r in done.values() if r["device"] == "cuda:0"]
    on1 = [r for r in done.values() if r["device"] == "cuda:1"]
    assert any(a["started"] < b["ended"] and b["started"] < a["ended"] for a in on0 for b in on1)
    assert len(starts) == 4


def test_a_dying_worker_fails_its_run_and_the_pool_goes_on():
    items = [("a", {"sleep": 0.1}), ("dies", {"die": True}), ("raises", {"raise": True}),
             ("b", {"sleep": 0.1}), ("c", {"sleep": 0.1})]
    done, errors, _ = _pool(["cpu"], items)
    assert sorted(done) == ["a", "b", "c"]
    assert "died (exit code 3)" in errors["dies"]
    assert errors["raises"] == "RuntimeError: boom"


# ---- real runs ----


def test_run_many_resumes_retrains_and_reads_back(tmp_path, fake_distribution):
    # In one store: a run interrupted after its first checkpoint, a folder without a record,
    # one with an unreadable record, a run that fails in training, and a run already done.
    from ganbench.run import train_run

    fake_distribution("boom-loss", {"ganbench.losses": {"boom": "boomloss:boom"}}, {"boomloss": """
        class Boom:
            def discriminator_loss(self, real_logits, fake_logits):
                return fake_logits.mean() - real_logits.mean()
            def generator_loss(self, fake_logits):
                raise RuntimeError("the generator's loss exploded")

        def boom():
            return Boom()
    """})
    store = Store(tmp_path / "store")
    configs = resolved([*toy_configs(4), toy_config(loss="boom")])
    interrupted, no_record, garbage, done, boom = configs
    with pytest.MonkeyPatch.context() as patch:
        interrupt_after_first_checkpoint(patch)
        with pytest.raises(KeyboardInterrupt):
            train_run(interrupted, store=store, device="cpu")
    store.run_dir(no_record.run_id).mkdir(parents=True)
    (store.run_dir(no_record.run_id) / "config.json").write_text("{\"trunc")
    store.run_dir(garbage.run_id).mkdir(parents=True)
    (store.run_dir(garbage.run_id) / RECORD).write_text("{not json")
    first = train_run(done, store=store, device="cpu")
    frame = results.load(store)  # reading a half-written store is not fatal
    assert sorted(frame["status"]) == ["done", "incomplete", "incomplete", "interrupted"]

    the_plan = executors.plan(configs, store)
    assert [c.run_id for c in the_plan.todo] == [interrupted.run_id, no_record.run_id,
                                                 garbage.run_id, boom.run_id]
    assert "5 runs, 1 already done, 4 to run" in the_plan.summary()
    records = executors.run_many(configs, store=store, workers=2)
    assert [r["run_id"] for r in records] == [c.run_id for c in configs]  # in order
    assert [r["status"] for r in records] == ["done"] * 4 + ["failed"]
    assert records[0]["resumed_from_step"] == 10 and records[0]["steps"] == 20
    assert records[3] == first  # already done: read back, not trained
    assert "the generator's loss exploded" in records[4]["reason"]
    assert store.read_record(boom.run_id)["status"] == "failed"
    assert list(store.run_dir(garbage.run_id).glob("record.json.unreadable-*"))
    assert sorted(results.load(store)["status"]) == ["done"] * 4 + ["failed"]

    # Again: only the failed run is to do; the others come back from the store.
    assert [c.run_id for c in executors.plan(configs, store).todo] == [boom.run_id]


# ---- several processes, one store ----

RACE = """
import json, sys, time
from pathlib import Path
import ganbench.run as runner
from ganbench import executors
from ganbench.config import RunConfig
from ganbench.store import Store

marker = Path(sys.argv[3])
original = runner._train_locked

def train_locked(*args, **kwargs):
    marker.write_text("trained")  # this process trains the run
    time.sleep(2.0)  # hold the lock long enough for the other process to find it held
    return original(*args, **kwargs)

runner._train_locked = train_locked
config = RunConfig.from_dict(json.loads(sys.argv[1]))
Path(sys.argv[4]).touch()  # ready: imports done; go when the other one is ready too
while len(list(Path(sys.argv[4]).parent.glob("ready-*"))) < 2:
    time.sleep(0.01)
record = executors.run_one(config, Store(sys.argv[2]), "cpu")
print(json.dumps({"run_id": record["run_id"], "status": record["status"],
                  "started": record["started"], "finished": record["finished"]}))
"""


def test_two_processes_racing_on_one_run_train_it_once(tmp_path):
    config = resolved([toy_config()])[0]
    procs = [subprocess.Popen([sys.executable, "-c", RACE, json.dumps(config.to_dict()),
                               str(tmp_path / "store"), str(tmp_path / f"trained-{i}"),
                               str(tmp_path / f"ready-{i}")],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
             for i in range(2)]
    outs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(list(tmp_path.glob("trained-*"))) == 1  # exactly one trained it
    assert outs[0] == outs[1] and outs[0]["status"] == "done"  # the other got its record


SWEEP_PART = """
import json, sys
from ganbench import executors
from ganbench.config import RunConfig
from ganbench.store import Store

if __name__ == "__main__":
    configs = [RunConfig.from_dict(c) for c in json.loads(open(sys.argv[1]).read())]
    records = executors.run_many(configs, store=Store(sys.argv[2]), workers=int(sys.argv[3]))
    print(json.dumps([r["status"] for r in records]))
"""


def test_concurrent_sweeps_into_one_store_lose_nothing(tmp_path):
    # Two sweep processes, each with a worker, train overlapping sets of runs into one
    # store at once: every run ends done exactly once, and no folder is left half-written.
    configs = resolved(toy_configs(4))
    script = tmp_path / "part.py"
    script.write_text(SWEEP_PART)
    parts = [configs[:3], configs[1:]]
    procs = []
    for i, part in enumerate(parts):
        path = tmp_path / f"part{i}.json"
        path.write_text(json.dumps([c.to_dict() for c in part]))
        procs.append(subprocess.Popen([sys.executable, str(script), str(path),
                                       str(tmp_path / "store"), "1"],
                                      stdout=subprocess.PIPE, text=True, cwd=ROOT))
    outs = [json.loads(p.communicate(timeout=180)[0].strip().splitlines()[-1]) for p in procs]
    assert outs == [["done"] * 3, ["done"] * 3]
    frame = results.load(tmp_path / "store")
    assert sorted(frame["run_id"]) == sorted(c.run_id for c in configs)
    assert list(frame["status"]) == ["done"] * 4


# ---- killing the sweep ----

# Two short runs, then two longer ones: when the short ones are done the long ones are
# mid-training (checkpoints every 20 iterations).
KILL_SWEEP = """
generator = "mlp"
discriminator = "mlp"
loss = "non-saturating"
dataset = "gaussian-1d"
seed = [0, 1]

[train]
steps = [60, 400]
batch_size = 32
log_every = 10
checkpoint_every = 20

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


# The sweep's command line, with SIGINT's disposition set first. A terminal's foreground job
# gets the default (Ctrl-C raises KeyboardInterrupt) even when pytest itself was started with
# SIGINT ignored, as `make test &` from a script does, and children inherit that: set it.
_SWEEP_WITH_SIGINT = (
    "import runpy, signal, sys; "
    "signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv.pop(1) == 'ignore' "
    "else signal.default_int_handler); "
    "runpy.run_module('ganbench.cli', run_name='__main__', alter_sys=True)")


def _start_sweep(tmp_path, store, *extra, sigint="default"):
    path = tmp_path / "sweep.toml"
    path.write_text(KILL_SWEEP)
    return subprocess.Popen(
        [sys.executable, "-c", _SWEEP_WITH_SIGINT, sigint, "sweep", str(path),
         "--store", str(store), "--workers", "2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        start_new_session=True)


def _records(store: Path) -> dict[str, dict]:
    out = {}
    for path in store.glob("*/record.json"):
        with contextlib.suppress(ValueError, OSError):
            out[path.parent.name] = json.loads(path.read_text())
    return out


def _done_runs(store: Path) -> dict[str, str]:
    return {r: rec["finished"] for r, rec in _records(store).items() if rec["status"] == "done"}


def _checkpointed_step(folder: Path) -> int:
    """About the iteration of the run's last checkpoint (its loss curve is written with it)."""
    try:
        return int((folder / "losses.csv").read_text().split()[-1].split(",")[0])
    except (OSError, ValueError, IndexError):
        return 0


def _checkpoint_step(folder: Path) -> int:
    """Exactly the iteration of the run's last checkpoint (0 without one)."""
    from ganbench.store import CHECKPOINT, load_checkpoint

    path = folder / CHECKPOINT
    return int(load_checkpoint(path)["step"]) if path.exists() else 0


def _wait_for(predicate, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended early:\n{proc.stdout.read()}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("timed out")


def _long_runs(store: Path) -> dict[str, int]:
    """The 400-iteration runs that have a folder, with their last checkpoint's iteration."""
    out = {}
    for folder in store.iterdir() if store.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            if json.loads((folder / "config.json").read_text())["train"]["steps"] == 400:
                out[folder.name] = _checkpointed_step(folder)
    return out


def _mid_training(store: Path, after: dict[str, int] | None = None, cap: int = 300) -> bool:
    """A long run has trained at least 20 iterations past ``after`` (its step, or 0), and
    is far from its end (``cap``)."""
    after = after or {}
    return any(after.get(r, 0) + 20 <= step <= cap for r, step in _long_runs(store).items())


def test_ctrl_c_then_sigkill_lose_and_duplicate_nothing(tmp_path):
    store = tmp_path / "store"

    # 1. Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while a run is
    #    done and another is mid-training: a clean stop that says what finished.
    proc = _start_sweep(tmp_path, store)
    _wait_for(lambda: _done_runs(store) and _mid_training(store, cap=150), proc)
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, output
    assert "interrupted:" in output and "resume from their last checkpoints" in output
    assert "Traceback" not in output, output
    statuses = {r: Store(store).status(r) for r in Store(store).run_ids()}
    assert "interrupted" in statuses.values(), output
    # None: a run folder made just as Ctrl-C came, before its first record (counts as to-do)
    assert set(statuses.values()) <= {"done", "interrupted", None}, output
    finished_lines = [line for line in output.splitlines() if line.startswith("  ")
                      and line.rstrip().endswith(" done")]
    assert len(finished_lines) == sum(s == "done" for s in statuses.values())
    done_first = _done_runs(store)

    # 2. Again, and SIGKILL of the driver and every worker at once, once the resumed runs
    #    have trained on past their first checkpoint.
    cut = _long_runs(store)
    proc = _start_sweep(tmp_path, store)
    _wait_for(lambda: _mid_training(store, after=cut), proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    done_second = _done_runs(store)
    assert all(done_second[r] == t for r, t in done_first.items())
    cut = {f.name: _checkpoint_step(f) for f in store.iterdir() if f.name not in done_second}
    assert len(done_second) < 4 and max(cut.values()) >= 20

    # 3. Again, to the end: each run exactly once, the finished ones untouched, the killed
    #    ones resumed from their last checkpoint.
    proc = _start_sweep(tmp_path, store, "--quiet")
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output
    assert f"{len(done_second)} already done, {4 - len(done_second)} to run" in output
    after = _records(store)
    assert len(after) == 4 and len(Store(store).run_ids()) == 4
    assert all(r["status"] == "done" for r in after.values())
    for run_id, finished in done_second.items():
        assert after[run_id]["finished"] == finished
    for run_id, step in cut.items():
        assert after[run_id].get("resumed_from_step", 0) == step
    assert sorted(results.load(store)["status"]) == ["done"] * 4


def test_ctrl_c_is_ignored_by_a_sweep_that_ignores_it(tmp_path):
    """A sweep started with SIGINT ignored (nohup, `cmd &` in a script): a Ctrl-C that reaches
    its process group stops nothing, its workers included (they once stopped and were
    recorded as failed, "worker process died (exit code 0)")."""
    store = tmp_path / "store"
    proc = _start_sweep(tmp_path, store, sigint="ignore")
    _wait_for(lambda: _mid_training(store, cap=150), proc)
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output
    assert "4 done, 0 diverged, 0 failed" in output, output
    assert sorted(r["status"] for r in _records(store).values()) == ["done"] * 4
    # Nothing was interrupted and resumed (a 400-iteration run may start from the finished
    # 60-iteration run of its seed: staged budgets).
    assert all(r.get("resumed_from_step") in (None, 60) for r in _records(store).values())


def _worker_pids(driver_pid: int) -> list[int]:
    """The sweep's worker processes (spawned children running ganbench's worker loop)."""
    out = subprocess.run(["ps", "-ww", "-o", "pid=,cmd=", "--ppid", str(driver_pid)],
                         capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "spawn_main" in line]


def test_a_worker_stopped_alone_records_its_run_interrupted_and_the_sweep_goes_on(tmp_path):
    store = tmp_path / "store"
    proc = _start_sweep(tmp_path, store)
    _wait_for(lambda: _mid_training(store, cap=150), proc)
    pids = _worker_pids(proc.pid)
    assert pids, subprocess.run(["ps", "-ww", "-o", "pid=,ppid=,cmd=", "-g", str(proc.pid)],
                                capture_output=True, text=True).stdout
    for pid in pids:  # SIGTERM to the workers, not the driver
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 1, output
    assert "died" not in output and "Traceback" not in output, output
    # Every run is accounted for (the sweep went on): done, or interrupted, each listed.
    lines = [line for line in output.splitlines() if line.startswith("[")]
    assert len(lines) == 4, output
    stopped = [line.split()[1] for line in lines if ": interrupted" in line]
    assert stopped, output
    assert f"{len(stopped)} interrupted (their worker was stopped by a signal" in output, output
    assert all(f"interrupted: {r}" in output for r in stopped), output
    records = _records(store)
    for run_id in stopped:  # recorded as interrupted, or stopped before its record was written
        assert records.get(run_id, {"status": "interrupted"})["status"] == "interrupted"
    assert {rec["status"] for r, rec in records.items() if r not in stopped} == {"done"}
    # (one stopped before any checkpoint may start from the 60-iteration run: staged budgets)
    cut = {r: _checkpoint_step(store / r) for r in stopped if (store / r).is_dir()}
    cut = {r: step for r, step in cut.items() if step}

    # The same command resumes the interrupted runs from their checkpoints.
    proc = _start_sweep(tmp_path, store, "--quiet")
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output
    assert f"{4 - len(stopped)} already done, {len(stopped)} to run" in output
    after = _records(store)
    assert len(after) == 4 and all(rec["status"] == "done" for rec in after.values())
    assert all(after[r].get("resumed_from_step", 0) == step for r, step in cut.items())


@pytest.mark.slow
def test_workers_stop_when_the_driver_is_killed_alone(tmp_path):
    store = tmp_path / "store"
    proc = _start_sweep(tmp_path, store)
    _wait_for(lambda: _mid_training(store), proc)
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers notice and stop
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        group = subprocess.run(["ps", "-ww", "-o", "pid=,cmd=", "-g", str(proc.pid)],
                               capture_output=True, text=True).stdout
        if "spawn_main" not in group:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"workers still running:\n{group}")
    statuses = {Store(store).status(r) for r in Store(store).run_ids()}
    assert statuses <= {"done", "interrupted"} and "interrupted" in statuses


def test_progress_lines():
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    progress = executors.SweepProgress(4, 1, quiet=False, stream=screen, parallel=2)
    progress.started("worker 0 (cuda:0)", "aaa mlp/mlp/hinge/ring-2d seed 0")
    progress.started("worker 1 (cuda:1)", "bbb mlp/mlp/hinge/ring-2d seed 1")
    progress.finished_run("worker 0 (cuda:0)", {"run_id": "aaa", "status": "done",
                                                "wall_time": 1.5, "device": "cuda:0"},
                          "mlp/mlp/hinge/ring-2d seed 0")
    progress.close()
    text = screen.getvalue()
    assert "sweep: 1/4 runs finished, 0 failed or diverged, 2 running, time left ?" in text
    assert "  worker 1 (cuda:1): bbb mlp/mlp/hinge/ring-2d seed 1" in text
    assert "[2/4] aaa mlp/mlp/hinge/ring-2d seed 0: done, 1.5 s on cuda:0" in text
    assert "sweep: 2/4 runs finished, 0 failed or diverged, 1 running, time left 0:00:0" in text
    assert "\x1b[" in text  # redrawn in place

    quiet = Terminal()
    progress = executors.SweepProgress(4, 0, quiet=True, stream=quiet)
    progress.finished_run("w", {"run_id": "aaa", "status": "failed", "reason": "x"}, "label")
    progress.close()
    assert quiet.getvalue() == ""
    log = io.StringIO()  # not a terminal: a line per finished run, no live lines
    progress = executors.SweepProgress(4, 0, quiet=False, stream=log)
    progress.started("w", "aaa label")
    progress.finished_run("w", {"run_id": "aaa", "status": "failed", "reason": "boom"}, "label")
    assert log.getvalue() == "[1/4] aaa label: failed (boom)\n"
