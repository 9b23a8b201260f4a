"""The speed settings (issue 20): ``train.threads`` and the automatic thread policy,
``train.matmul_precision`` (part of the run id only off its default, applied to training
only and restored after), and their command-line forms (bad values: one line, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from ganbench import compute
from ganbench import config as cfg
from ganbench.cli import cli
from ganbench.errors import ConfigError
from ganbench.run import train_run
from ganbench.store import CHECKPOINT, Store
from ganbench.train import Trainer
from tests.conftest import toy_config
from tests.test_bad_input import TOY, _one_line_exit_2


@pytest.fixture
def seen(monkeypatch):
    """What torch's threads and matmul precision were while Trainer.run trained, and while
    the validation score was computed."""
    out: dict[str, list] = {"threads": [], "precision": [], "scoring_precision": [],
                            "backends": []}
    original = Trainer.run

    def run(self, **kwargs):
        out["threads"].append(torch.get_num_threads())
        out["precision"].append(torch.get_float32_matmul_precision())
        out["backends"].append(_backends())
        return original(self, **kwargs)

    monkeypatch.setattr(Trainer, "run", run)
    from ganbench import evaluate

    score = evaluate.validation_score

    def validation_score(*args, **kwargs):
        out["scoring_precision"].append(torch.get_float32_matmul_precision())
        return score(*args, **kwargs)

    monkeypatch.setattr(evaluate, "validation_score", validation_score)
    return out


def _backends() -> tuple[str, str]:
    """What torch made of the precision: CUDA's matmul and oneDNN's (CPU) fp32 modes."""
    return (torch.backends.cuda.matmul.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision)


def _params(store: Store, run_id: str) -> list[torch.Tensor]:
    state = torch.load(store.run_dir(run_id) / CHECKPOINT, weights_only=False)
    return [v for v in state["generator"].values()] + [v for v in state["discriminator"].values()]


# ---- threads ---------------------------------------------------------------------------------


def test_threads_setting_is_applied_in_the_run_recorded_and_restored(tmp_path, seen):
    before = torch.get_num_threads()  # 1 (conftest)
    record = train_run(toy_config(train={"steps": 20, "batch_size": 32, "threads": 2}),
                       store=Store(tmp_path))
    assert record["status"] == "done"
    assert seen["threads"] == [2] and record["threads"] == 2
    assert torch.get_num_threads() == before


def test_threads_change_no_number_and_no_run_id(tmp_path):
    """The claim behind in_id=False, on the toy: 1 and 2 threads train bitwise alike."""
    ids, params = [], []
    for n in (1, 2):
        store = Store(tmp_path / f"t{n}")
        record = train_run(toy_config(train={"steps": 20, "batch_size": 32, "threads": n}),
                           store=store)
        ids.append(record["run_id"])
        params.append(_params(store, record["run_id"]))
    assert ids[0] == ids[1] == cfg.resolve(toy_config(train={"steps": 20, "batch_size": 32})).run_id
    assert all(torch.equal(a, b) for a, b in zip(*params))


def test_automatic_policy_one_thread_for_small_models_whatever_the_machine(monkeypatch):
    monkeypatch.delenv(compute.ENV_THREADS, raising=False)
    monkeypatch.setattr(compute, "free_cores", lambda: 16)
    assert compute.threads_for(None, work=compute.LARGE_WORK - 1, allowance=16) == 1


def test_automatic_policy_large_models_take_the_free_cores_within_the_allowance(monkeypatch):
    monkeypatch.delenv(compute.ENV_THREADS, raising=False)
    free = {"n": 2}
    monkeypatch.setattr(compute, "free_cores", lambda: free["n"])
    assert compute.threads_for(None, work=compute.LARGE_WORK, allowance=2) == 2
    free["n"] = 1  # another process holds a core: one thread
    assert compute.threads_for(None, work=compute.LARGE_WORK, allowance=2) == 1
    free["n"] = 8  # never more than the process was given (a sweep worker's share)
    assert compute.threads_for(None, work=compute.LARGE_WORK, allowance=3) == 3
    assert compute.threads_for(None, work=10**12, allowance=1) == 1
    # a CUDA run keeps what it was given; a number given is taken as it is
    assert compute.threads_for(None, work=1, device_type="cuda", allowance=4) == 4
    assert compute.threads_for(5, work=1, allowance=1) == 5


def test_the_paper_networks_are_large_and_the_toy_small():
    from ganbench import plugins

    def work(g, d, **options):
        G = plugins.load("generator", g)(noise_dim=options.get("noise_dim", 100),
                                         data_shape=options["shape"], **options.get("G", {}))
        D = plugins.load("discriminator", d)(data_shape=options["shape"], **options.get("D", {}))
        return compute.model_work(G, D, batch_size=100)

    paper = work("paper-mnist", "paper-mnist", shape=(784,))
    toy = work("mlp", "mlp", shape=(2,), noise_dim=4, G={"hidden": [64, 64]},
               D={"hidden": [64, 64]})
    # parameters counted by hand: G 100-1200-1200-784, D 784-(240x5)-(240x5)-1
    g_params = 100 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 784 + 784
    d_params = 784 * 1200 + 1200 + 240 * 1200 + 1200 + 240 + 1
    assert paper == 100 * (g_params + d_params) > compute.LARGE_WORK
    assert toy == 100 * ((4 * 64 + 64) + (64 * 64 + 64) + (64 * 2 + 2) + (2 * 64 + 64)
                         + (64 * 64 + 64) + (64 + 1)) < compute.LARGE_WORK


def test_environment_variable_and_its_bad_values(monkeypatch):
    monkeypatch.setenv(compute.ENV_THREADS, "3")
    assert compute.threads_for(None, work=1, allowance=1) == 3
    assert compute.threads_for(2, work=1, allowance=1) == 2  # the run's setting wins
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(compute.ENV_THREADS, bad)
        with pytest.raises(ConfigError, match=compute.ENV_THREADS):
            compute.threads_for(None, work=1)


def test_busy_cores_arithmetic(monkeypatch):
    """Other processes' share of this process's cores over the interval, less this process."""
    samples = iter([(100.0, 400.0), (100.0 + 150.0, 400.0 + 200.0)])  # 75% of the cores busy
    clock = iter([10.0, 10.05])  # this process used 0.05 s of CPU over the 0.2 s
    monkeypatch.setattr(compute, "_cpu_times", lambda cpus: next(samples))
    monkeypatch.setattr(compute.time, "process_time", lambda: next(clock))
    monkeypatch.setattr(compute.time, "sleep", lambda s: None)
    monkeypatch.setattr(compute.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert compute.busy_cores(0.2) == pytest.approx(0.75 * 2 - 0.05 / 0.2)


def test_free_cores_reuses_a_recent_measurement(monkeypatch):
    busy, clock = iter([0.0, 1.0, 0.0]), {"t": 100.0}
    calls = []

    def measured():
        calls.append(1)
        return next(busy)

    monkeypatch.setattr(compute, "busy_cores", measured)
    monkeypatch.setattr(compute, "cpu_cores", lambda: 2)
    monkeypatch.setattr(compute.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(compute, "_free", None)
    assert compute.free_cores() == 2 and len(calls) == 1
    clock["t"] += compute.FREE_CORES_TTL - 0.5
    assert compute.free_cores() == 2 and len(calls) == 1  # reused: no wait
    clock["t"] += 1.0
    assert compute.free_cores() == 1 and len(calls) == 2  # measured again: one core busy
    clock["t"] -= 50.0  # a clock that went back is never trusted
    assert compute.free_cores() == 2 and len(calls) == 3


def test_cpu_times_read_this_machine():
    import os

    if not os.path.exists("/proc/stat"):
        pytest.skip("no /proc/stat")
    busy, total = compute._cpu_times(set(os.sched_getaffinity(0)))
    assert 0 <= busy <= total and total > 0
    assert 0.0 <= compute.busy_cores(0.05) <= compute.cpu_cores() + 0.5
    assert 1 <= compute.free_cores() <= compute.cpu_cores()


def test_torch_threads_context_restores_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), compute.torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
        raise RuntimeError("x")
    assert torch.get_num_threads() == before


# ---- matmul precision ------------------------------------------------------------------------


def test_matmul_precision_is_in_the_run_id_only_off_its_default():
    pinned = "ef11fb45abf4"  # tests/test_settings.py: the toy config's stored id
    assert cfg.resolve(toy_config()).run_id == pinned
    ids = {p: cfg.resolve(toy_config(train={"steps": 20, "batch_size": 32, "log_every": 5,
                                           "checkpoint_every": 10, "matmul_precision": p})).run_id
           for p in compute.PRECISIONS}
    assert ids["highest"] == pinned
    assert len(set(ids.values())) == 3


def test_matmul_precision_applies_to_training_only_and_is_restored(tmp_path, seen):
    assert torch.get_float32_matmul_precision() == "highest"
    config = toy_config(train={"steps": 20, "batch_size": 32, "log_every": 5,
                               "checkpoint_every": 10, "matmul_precision": "medium"},
                        score={"parzen": True, "n_samples": 200, "n_valid": 64,
                               "select": "valid", "metrics": ["parzen"]})
    record = train_run(config, store=Store(tmp_path))
    assert record["status"] == "done", record
    assert seen["precision"] == ["medium"]
    assert seen["backends"] == [("tf32", "bf16")]  # TF32 on CUDA, bf16 through oneDNN
    assert _backends() == ("ieee", "ieee")
    assert seen["scoring_precision"] and set(seen["scoring_precision"]) == {"highest"}
    assert torch.get_float32_matmul_precision() == "highest"
    stored = json.loads((Store(tmp_path).run_dir(record["run_id"]) / "config.json").read_text())
    assert stored["train"]["matmul_precision"] == "medium"


def test_matmul_precision_context_restores_after_an_error():
    with pytest.raises(KeyError), compute.matmul_precision("high"):
        assert torch.get_float32_matmul_precision() == "high"
        raise KeyError("x")
    assert torch.get_float32_matmul_precision() == "highest"
    with pytest.raises(ConfigError, match="one of highest, high, medium"):
        with compute.matmul_precision("low"):
            pass


def test_medium_precision_is_close_to_float64_on_a_paper_sized_product():
    """Whatever path torch takes ("medium" is bf16 products on a CPU with bf16 support):
    within a bf16-sized tolerance of the float64 product."""
    g = torch.Generator().manual_seed(0)
    a, w = torch.randn(100, 1200, generator=g), torch.randn(1200, 1200, generator=g)
    exact = a.double() @ w.double()
    with compute.matmul_precision("medium"):
        got = (a @ w).double()
    scale = exact.abs().max()
    assert float((got - exact).abs().max() / scale) < 2 ** -7


# ---- the command line ------------------------------------------------------------------------


def test_train_threads_flag_reaches_the_config_and_the_record(runner, tmp_path):
    out = runner.invoke(cli, ["train", *TOY, "--set", "score.parzen=false", "--threads", "2",
                              "--store", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    record = json.loads(out.output)
    assert record["threads"] == 2
    stored = json.loads((tmp_path / record["run_id"] / "config.json").read_text())
    assert stored["train"]["threads"] == 2


@pytest.mark.parametrize("args,words", [
    (["train", *TOY, "--threads", "0"], ["--threads must be at least 1, got 0"]),
    (["train", *TOY, "--set", "train.threads=0"], ["train.threads must be at least 1"]),
    (["train", *TOY, "--set", "train.threads=two"], ["train.threads must be an integer"]),
    (["train", *TOY, "--set", "train.matmul_precision=low"],
     ["train.matmul_precision must be one of highest, high, medium", "'low'"]),
    (["score", "abc", "--threads", "0"], ["--threads must be at least 1"]),
    (["reproduce", "paper", "--quick", "--threads", "-1"], ["--threads must be at least 1"]),
])
def test_bad_values_one_line_exit_2(runner, tmp_path, args, words):
    out = runner.invoke(cli, [*args, "--store", str(tmp_path / "st")])
    _one_line_exit_2(out, *words)
    assert not (tmp_path / "st").exists() or not any((tmp_path / "st").iterdir())


def test_sweep_bad_threads_one_line_exit_2(runner, tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text('generator = "mlp"\ndiscriminator = "mlp"\nloss = "non-saturating"\n'
                     'dataset = "gaussian-1d"\n[train]\nsteps = 5\n')
    out = runner.invoke(cli, ["sweep", str(sweep), "--threads", "0",
                              "--store", str(tmp_path / "st")])
    _one_line_exit_2(out, "--threads must be at least 1")
    assert not (tmp_path / "st").exists()


def test_the_cli_does_not_import_torch_before_its_command_runs():
    """``main()`` sets OMP_WAIT_POLICY=PASSIVE, read when torch loads OpenMP: it must come
    before any import of torch."""
    code = "import sys, ganbench.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_bad_environment_variable_stops_a_run_before_anything_is_written(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv(compute.ENV_THREADS, "lots")
    with pytest.raises(ConfigError, match="GANBENCH_THREADS='lots'"):
        train_run(toy_config(), store=Store(tmp_path / "st"))
    assert not (tmp_path / "st").exists() or not any((tmp_path / "st").iterdir())


def test_bad_environment_variable_stops_a_sweep_before_any_run_is_recorded(tmp_path,
                                                                          monkeypatch):
    """Not one failed record per run from the workers: the error line alone (no plan
    printed first), exit 2, nothing written."""
    from click.testing import CliRunner

    (tmp_path / "s.toml").write_text(
        'generator = "mlp"\ndiscriminator = "mlp"\nloss = ["minimax", "hinge"]\n'
        'dataset = "gaussian-1d"\n[train]\nsteps = 5\n')
    monkeypatch.setenv(compute.ENV_THREADS, "lots")
    out = CliRunner().invoke(cli, ["sweep", str(tmp_path / "s.toml"), "--store",
                                   str(tmp_path / "st"), "--workers", "1"])
    assert out.exit_code == 2 and "Traceback" not in out.output, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1, out.output
    assert lines[0].startswith("ganbench: error: GANBENCH_THREADS='lots'"), out.output
    assert "failed" not in out.output
    assert not (tmp_path / "st").exists() or not any((tmp_path / "st").iterdir())


def test_scoring_takes_its_own_threads(tmp_path, monkeypatch):
    """Training a small model on one thread; scoring (large products) on the free cores."""
    monkeypatch.delenv(compute.ENV_THREADS, raising=False)
    monkeypatch.setattr(compute, "free_cores", lambda: 2)
    from ganbench import run as run_module

    scored = []
    original = run_module._score

    def score(*args, **kwargs):
        scored.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(run_module, "_score", score)
    with compute.torch_threads(2):  # the process's allowance, as a fresh 2-core process
        record = train_run(toy_config(score={"parzen": True, "n_samples": 200}),
                           store=Store(tmp_path))
        assert torch.get_num_threads() == 2
    assert record["status"] == "done" and record["threads"] == 1 and scored == [2]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_precision_on_cuda(tmp_path, seen):
    for precision, backend in (("high", "tf32"), ("highest", "ieee")):
        config = toy_config(train={"steps": 20, "batch_size": 32, "matmul_precision": precision})
        record = train_run(config, store=Store(tmp_path / precision), device="cuda")
        assert record["status"] == "done" and record["device"].startswith("cuda")
        assert seen["backends"][-1][0] == backend
    assert _backends() == ("ieee", "ieee")


def test_a_run_extended_to_a_longer_budget_keeps_its_earlier_thread_count(seen, tmp_path,
                                                                          monkeypatch):
    """Some kernels (convolutions) differ in the last bits across thread counts: a run that
    goes on from an earlier session's checkpoint trains with the threads that session
    recorded, not with whatever the automatic choice says today; a number given wins."""
    monkeypatch.delenv(compute.ENV_THREADS, raising=False)
    store = Store(tmp_path / "store")
    first = train_run(toy_config(train={"steps": 20, "batch_size": 32, "threads": 2,
                                        "checkpoint_every": 10}), store=store)
    assert first["threads"] == 2
    longer = train_run(toy_config(train={"steps": 40, "batch_size": 32,
                                         "checkpoint_every": 10}), store=store)
    assert longer["extended_from"] == first["run_id"]
    assert longer["threads"] == 2 and seen["threads"][-1] == 2  # automatic would say 1
    assert compute.threads_for(None, work=1, previous=3) == 3
    assert compute.threads_for(1, work=1, previous=3) == 1
