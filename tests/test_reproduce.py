"""The paper preset, its schedules, Table 1's arithmetic, and the scoring commands
(score, parzen, sample) that let anyone re-score a generator."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ganbench import reproduce
from ganbench.cli import cli
from ganbench.config import resolve
from ganbench.scoring import export_generator, load_generator
from ganbench.train import learning_rate, momentum
from tests.conftest import toy_config

MEANS = [0.1] * 784


def test_paper_preset_is_the_original_configuration():
    c = resolve(reproduce.paper_config("simultaneous", 0, 300, MEANS))
    assert (c.generator, c.discriminator, c.loss, c.dataset) == (
        "paper-mnist", "paper-mnist", "non-saturating", "mnist")
    assert c.noise == {"prior": "uniform", "dim": 100, "scale": math.sqrt(3)}
    assert c.options["generator"]["output_bias_mean"] == MEANS
    assert c.options["loss"]["discriminator_scale"] == 0.5
    assert c.train["batch_size"] == 100 and c.train["discriminator_steps"] == 1
    assert c.score["select"] == "valid" and c.score["n_samples"] == 10000
    assert c.score["n_valid"] == 1000
    opt = c.optimizer
    assert (opt["name"], opt["lr"], opt["lr_decay"], opt["lr_min"]) == ("sgd", 0.1, 1.000004, 1e-6)
    # the schedules at given minibatches and epochs
    assert learning_rate(opt, 0.1, 0) == 0.1
    assert learning_rate(opt, 0.1, 500 * 100) == pytest.approx(0.1 / 1.000004 ** 50000)
    assert learning_rate(opt, 0.1, 500 * 100) == pytest.approx(0.0818732, rel=1e-5)
    assert learning_rate(opt, 0.1, 5_000_000) == 1e-6
    assert momentum(opt, 0) == 0.5 and momentum(opt, 1) == 0.5
    assert momentum(opt, 250) == pytest.approx(0.7) and momentum(opt, 300) == pytest.approx(0.7)
    assert momentum(opt, 125.5) == pytest.approx(0.6)
    alt = resolve(reproduce.paper_config("alternating", 1, 300, MEANS))
    assert alt.train["update"] == "alternating" and alt.run_id != c.run_id


def test_table_reports_mean_over_seeds_stderr_and_spread():
    records = [
        {"update": "simultaneous", "status": "done", "parzen_mean": 200.0, "parzen_stderr": 2.0},
        {"update": "simultaneous", "status": "done", "parzen_mean": 210.0, "parzen_stderr": 2.2},
        {"update": "alternating", "status": "done", "parzen_mean": 100.0, "parzen_stderr": 3.0},
        {"update": "alternating", "status": "diverged", "parzen_mean": None},
    ]
    ref = reproduce.Reference(mean=244.6, stderr=1.1, sigma=0.167, seconds=1.0)
    frame = reproduce.table(records, ref, quick=True)
    published = frame[frame.source == "published"]
    assert list(published.model) == ["DBN", "Stacked CAE", "Deep GSN", "Adversarial nets"]
    assert published.iloc[3].MNIST == "225 +- 2" and published.iloc[3].TFD == "2057 +- 26"
    sim = frame[frame.model.str.contains("simultaneous")].iloc[0]
    spread = np.std([200.0, 210.0], ddof=1)
    assert sim.MNIST == f"205.0 +- 2.1 (seed sd {spread:.1f}, 2 seeds)"
    assert "NOT the paper's budget" in sim.model
    assert "data not available" in sim.TFD
    alt = frame[frame.model.str.contains("alternating")].iloc[0]
    assert alt.MNIST.startswith("100.0 +- 3.0 (1 seed)")
    assert alt.MNIST.endswith("; 1 of 2 runs diverged")
    full = reproduce.table(records, ref, quick=False)
    assert list(full[full.source == "this run"].model[:2]) == [
        "Adversarial nets, ganbench, simultaneous", "Adversarial nets, ganbench, alternating"]
    assert "244.6 +- 1.1" in frame.iloc[-1].MNIST


def test_table_averages_finished_runs_and_lists_unfinished_ones_beside():
    records = [
        {"update": "simultaneous", "seed": 0, "status": "done", "parzen_mean": 160.0, "parzen_stderr": 1.4},
        {"update": "simultaneous", "seed": 1, "status": "done", "parzen_mean": 150.0, "parzen_stderr": 1.6},
        {"update": "simultaneous", "seed": 2, "status": "partial", "parzen_mean": -60.0,
         "parzen_stderr": 2.0, "epochs": 1.0},
        {"update": "alternating", "seed": 0, "status": "partial", "parzen_mean": 120.0,
         "parzen_stderr": 1.5, "epochs": 35.0},
        {"update": "alternating", "seed": 1, "status": None, "parzen_mean": None},
        {"update": "alternating", "seed": 2, "status": "failed", "parzen_mean": None},
    ]
    frame = reproduce.table(records, None, quick=False)
    sim = frame[frame.model.str.endswith("simultaneous")].iloc[0].MNIST
    spread = np.std([160.0, 150.0], ddof=1)
    assert sim == (f"155.0 +- 1.5 (seed sd {spread:.1f}, 2 seeds); not in the mean, unfinished: "
                   "seed 2 at 1 epochs (-60.0)")
    alt = frame[frame.model.str.endswith("alternating")].iloc[0].MNIST
    assert alt == ("120.0 +- 1.5 (1 seed); unfinished runs only, at 35 epochs (best generator "
                   "so far); 2 of 3 runs: 1 failed, 1 not started")


@pytest.fixture
def toy_run(tmp_path):
    from ganbench.runner import train_run
    from ganbench.store import Store

    store = Store(tmp_path / "store")
    config = toy_config(score={"parzen": True, "n_samples": 500})
    record = train_run(config, store=store, device="cpu")
    assert record["status"] == "done"
    return store, record


def test_sample_from_a_run_folder_and_from_exported_weights(runner, toy_run, tmp_path):
    store, record = toy_run
    folder = store.run_dir(record["run_id"])
    out = tmp_path / "a.npy"
    result = runner.invoke(cli, ["sample", str(folder), "--n", "64", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    a = np.load(out)
    assert a.shape == (64, 1) and np.isfinite(a).all()
    exported = export_generator(folder, tmp_path / "g.pt")
    runner.invoke(cli, ["sample", str(exported), "--n", "64", "--seed", "3", "--out", str(tmp_path / "b.npy")])
    np.testing.assert_array_equal(a, np.load(tmp_path / "b.npy"))
    runner.invoke(cli, ["sample", str(folder / "checkpoint.pt"), "--n", "64", "--seed", "4",
                        "--out", str(tmp_path / "c.npy")])
    assert not np.array_equal(a, np.load(tmp_path / "c.npy"))
    generator, config = load_generator(exported, torch.device("cpu"))
    assert config.run_id == record["run_id"] and not generator.training


def test_exporting_unchanged_weights_again_leaves_the_file_as_it_was(toy_run, tmp_path):
    # torch.save writes a random serialization id into every file, so a naive re-export of
    # the same weights changes the file's bytes (and adds a copy to git each time).
    from ganbench.store import BEST, CHECKPOINT, atomic_torch_save, load_checkpoint

    store, record = toy_run
    folder = store.run_dir(record["run_id"])
    out = export_generator(folder, tmp_path / "g.pt")
    first = out.read_bytes()
    export_generator(folder, out)
    assert out.read_bytes() == first
    source = folder / BEST if (folder / BEST).exists() else folder / CHECKPOINT
    state = load_checkpoint(source)
    name = next(iter(state["generator"]))
    state["generator"][name] = state["generator"][name] + 1.0
    atomic_torch_save(source, state)
    export_generator(folder, out)
    assert out.read_bytes() != first
    changed = load_checkpoint(out)["generator"][name]
    torch.testing.assert_close(changed, state["generator"][name], rtol=0, atol=0)


def test_score_reproduces_the_training_score(runner, toy_run):
    store, record = toy_run
    result = runner.invoke(cli, ["score", record["run_id"], "--store", str(store.root), "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.output)
    assert again["parzen_mean"] == pytest.approx(record["parzen_mean"], abs=1e-9)
    assert again["parzen_sigma"] == record["parzen_sigma"]
    more = runner.invoke(cli, ["score", record["run_id"], "--store", str(store.root), "--json",
                               "--n-samples", "800"])
    assert json.loads(more.output)["parzen_n_samples"] == 800
    missing = runner.invoke(cli, ["score", "nosuchrun", "--store", str(store.root)])
    assert missing.exit_code == 2 and "no run 'nosuchrun'" in missing.output


def test_parzen_command_scores_samples_made_anywhere(runner, tmp_path):
    from ganbench_plugins.toy import gaussian_1d

    from ganbench.parzen import parzen_log_likelihood

    data = gaussian_1d()
    samples = np.random.default_rng(0).normal(4.0, 0.5, size=(2000, 1)).astype(np.float32)
    np.save(tmp_path / "s.npy", samples)
    result = runner.invoke(cli, ["parzen", "--samples", str(tmp_path / "s.npy"), "--dataset",
                                 "gaussian-1d", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    expected = parzen_log_likelihood(samples, data.splits["valid"], data.splits["test"])
    assert got["parzen_mean"] == pytest.approx(expected.mean)
    wrong = np.zeros((10, 3), dtype=np.float32)
    np.save(tmp_path / "w.npy", wrong)
    bad = runner.invoke(cli, ["parzen", "--samples", str(tmp_path / "w.npy"), "--dataset", "gaussian-1d"])
    assert bad.exit_code == 2 and "do not match dataset 'gaussian-1d'" in bad.output


def test_epochs_given_as_float_or_int_is_one_run():
    a = resolve(reproduce.paper_config("simultaneous", 0, 100, MEANS))
    b = resolve(reproduce.paper_config("simultaneous", 0, 100.0, MEANS))
    assert a.run_id == b.run_id
    assert resolve(reproduce.paper_config("simultaneous", 0, 0.5, MEANS)).train["epochs"] == 0.5
