"""The paper preset, its schedules, Table 1's arithmetic, a preset of one's own end to end
(its table, runs, validation curves, exported and re-scored generators), and the scoring
commands (score, parzen, sample) that let anyone re-score a generator."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from ganbench import presets, reproduce
from ganbench.cli import cli
from ganbench.config import resolve
from ganbench.scoring import export_generator, load_generator
from ganbench.train import learning_rate, momentum
from tests.conftest import toy_config

MEANS = [0.1] * 784


@pytest.fixture
def paper(monkeypatch):
    """The paper preset, with every pixel mean 0.1 (no MNIST needed)."""
    monkeypatch.setattr(presets, "train_mean", lambda *args, **kwargs: MEANS)
    return presets.find("paper")


def test_paper_preset_is_the_original_configuration(paper):
    c = paper.config(update="simultaneous", seed=0, epochs=300)
    assert c == resolve(c)
    assert (c.generator, c.discriminator, c.loss, c.dataset) == (
        "paper-mnist", "paper-mnist", "non-saturating", "mnist")
    assert c.noise == {"prior": "uniform", "dim": 100, "scale": math.sqrt(3)}
    assert c.options["generator"]["output_bias_mean"] == MEANS
    assert c.options["loss"]["discriminator_scale"] == 0.5
    assert c.train["batch_size"] == 100 and c.train["discriminator_steps"] == 1
    assert c.train["epochs"] == 300 and c.train["update"] == "simultaneous"
    assert c.score["select"] == "valid" and c.score["n_samples"] == 10000
    assert c.score["n_valid"] == 1000 and c.score["patience"] is None
    assert c.score["select_every"] == c.train["checkpoint_every"] == 500
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
    alt = paper.config(update="alternating", seed=1, epochs=300)
    assert alt.train["update"] == "alternating" and alt.run_id != c.run_id


def test_the_tfd_column_is_the_same_run_on_each_fold(paper):
    runs = paper.runs(column="TFD", seeds=3, epochs=300, inputs={"tfd": "/data/TFD_48x48.mat"})
    assert [(r.values["fold"], r.values["update"], r.config.seed) for r in runs] == [
        (f, u, 0) for f in range(5) for u in ("simultaneous", "alternating")]
    c = runs[3].config
    assert c.dataset == "tfd" and c.options["dataset"]["fold"] == 1
    assert c.options["dataset"]["path"] == "/data/TFD_48x48.mat"
    assert c.options["dataset"]["train_set"] == "unlabeled"
    mnist = paper.config(update="alternating", seed=0, epochs=300)
    assert (c.generator, c.optimizer, c.noise) == (mnist.generator, mnist.optimizer, mnist.noise)


def test_table_reports_mean_over_seeds_stderr_and_spread(paper):
    records = [
        {"update": "simultaneous", "status": "done", "parzen_mean": 200.0, "parzen_stderr": 2.0},
        {"update": "simultaneous", "status": "done", "parzen_mean": 210.0, "parzen_stderr": 2.2},
        {"update": "alternating", "status": "done", "parzen_mean": 100.0, "parzen_stderr": 3.0},
        {"update": "alternating", "status": "diverged", "parzen_mean": None},
    ]
    ref = reproduce.Reference("reference: real images", mean=244.6, stderr=1.1, sigma=0.167)
    frame = reproduce.table(paper, records, ref, quick=True)
    published = frame[frame.source == "published"]
    assert list(published.model) == ["DBN", "Stacked CAE", "Deep GSN", "Adversarial nets"]
    assert published.iloc[3].MNIST == "225 +- 2" and published.iloc[3].TFD == "2057 +- 26"
    sim = frame[frame.model.str.contains("simultaneous")].iloc[0]
    spread = np.std([200.0, 210.0], ddof=1)
    assert sim.MNIST == f"205.0 +- 2.1 (seed sd {spread:.1f}, 2 seeds)"
    assert "NOT the paper's budget" in sim.model
    assert sim.TFD.startswith("data not available: pass --tfd")  # no TFD input given
    tfd = [{"update": "simultaneous", "fold": f, "parzen_mean": 2000.0 + 10 * f} for f in range(5)]
    with_tfd = reproduce.table(paper, records, ref, columns={"TFD": tfd})
    se = np.std([0, 10, 20, 30, 40], ddof=1) / math.sqrt(5)
    assert with_tfd.iloc[4].TFD == f"2020.0 +- {se:.1f} (5 folds)"
    assert with_tfd.iloc[5].TFD == "data not available"  # given, but no alternating score
    alt = frame[frame.model.str.contains("alternating")].iloc[0]
    assert alt.MNIST.startswith("100.0 +- 3.0 (1 seed)")
    assert alt.MNIST.endswith("; 1 of 2 runs diverged")
    full = reproduce.table(paper, records, ref, quick=False)
    assert list(full[full.source == "this run"].model[:2]) == [
        "Adversarial nets, ganbench, simultaneous", "Adversarial nets, ganbench, alternating"]
    assert frame.iloc[-1].MNIST == "244.6 +- 1.1 (sigma 0.167)" and frame.iloc[-1].TFD == ""
    assert list(frame.columns) == ["model", "MNIST", "TFD", "source"]


def test_table_averages_finished_runs_and_lists_unfinished_ones_beside(paper):
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
    frame = reproduce.table(paper, records, None, quick=False)
    sim = frame[frame.model.str.endswith("simultaneous")].iloc[0].MNIST
    spread = np.std([160.0, 150.0], ddof=1)
    assert sim == (f"155.0 +- 1.5 (seed sd {spread:.1f}, 2 seeds); not in the mean, unfinished: "
                   "seed 2 at 1 epochs (-60.0)")
    alt = frame[frame.model.str.endswith("alternating")].iloc[0].MNIST
    assert alt == ("120.0 +- 1.5 (1 seed); unfinished runs only, at 35 epochs (best generator "
                   "so far); 2 of 3 runs: 1 failed, 1 not started")


TOY_PRESET = """
    [preset]
    name = "toy"

    [run]
    generator = "mlp"
    discriminator = "mlp"
    loss = "non-saturating"
    dataset = "gaussian-1d"
    options.generator.hidden = [8]
    options.discriminator.hidden = [8]
    options.dataset = { n_train = 256, n_valid = 64, n_test = 64 }
    train = { batch_size = 32, checkpoint_every = 4, log_every = 4 }
    noise = { dim = 2 }
    score = { n_samples = 200, n_valid = 64, select = "valid", select_every = 4 }

    [axes]
    "train.update" = ["simultaneous", "alternating"]
    seed = [0, 1]

    [budgets.default]
    label = "toy budget"
    epochs = 1
    export_generators = true

    [table]
    name = "toy"
    header = "# Toy ({label}: {epochs:g} epochs, {seeds} seeds)"
    row = "mlp, {update}"
    notes = "Notes: none."
    published = [{ model = "someone else", nats = { mean = 1.5, stderr = 0.25 } }]
    columns = { nats = {} }
    reference = { model = "real data", column = "nats", n = 200 }

    [outputs]
    generators = "generators/{update}-seed{seed}.pt"
"""


def test_a_preset_of_ones_own_trains_and_writes_its_table_runs_and_generators(tmp_path):
    from ganbench.store import Store

    path = tmp_path / "toy.toml"
    path.write_text(textwrap.dedent(TOY_PRESET))
    store, out, lines = Store(tmp_path / "store"), tmp_path / "out", []
    frame = reproduce.run_preset(str(path), store=store, out=out, workers=1, echo=lines.append)
    assert lines[0] == ("reproduce toy (toy budget): 4 runs of 1 epochs (simultaneous, "
                        f"alternating x 2 seed(s)), store {store.root}")
    assert sorted(p.name for p in out.iterdir()) == [
        "generators", "runs.csv", "toy.csv", "toy.md", "validation.csv"]
    assert list(frame.model) == ["someone else", "mlp, simultaneous", "mlp, alternating",
                                 "real data"]
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs.columns[:4]) == ["update", "seed", "run_id", "status"]
    assert (runs.status == "done").all() and (runs.steps == 8).all()  # 256 // 32 per epoch
    sim = runs[runs["update"] == "simultaneous"]
    spread = np.std(sim.parzen_mean, ddof=1)
    assert frame.iloc[1].nats == (f"{sim.parzen_mean.mean():.1f} +- {sim.parzen_stderr.mean():.1f}"
                                  f" (seed sd {spread:.1f}, 2 seeds)")
    assert frame.iloc[0].nats == "1.5 +- 0.25" and "sigma" in frame.iloc[3].nats
    md = (out / "toy.md").read_text()
    assert md.startswith("# Toy (toy budget: 1 epochs, 2 seeds)\n\n| model | nats |\n|---|---|\n")
    assert md.endswith("| real data | " + frame.iloc[3].nats + " |\n\nNotes: none.")
    curves = pd.read_csv(out / "validation.csv")
    assert list(curves.columns) == ["update", "seed", "run_id", "step", "epoch", "parzen_valid",
                                    "sigma"]
    assert set(curves.epoch) == {0.5, 1.0}
    exported = sorted(p.name for p in (out / "generators").iterdir())
    assert exported == [f"{u}-seed{s}.pt" for u in ("alternating", "simultaneous") for s in (0, 1)]

    # The same generators listed as committed ones: re-scored exactly as their runs.csv says.
    committed = textwrap.dedent(TOY_PRESET) + textwrap.dedent("""
        [committed]
        title = "toy generators, re-scored now"
        root = "out"
        generators = ["generators/simultaneous-seed1.pt", "generators/alternating-seed0.pt"]
    """)
    path.write_text(committed)
    lines.clear()
    again = reproduce.rescore_committed(presets.find(path), echo=lines.append)
    assert list(again["generator"]) == ["generators/simultaneous-seed1.pt",
                                        "generators/alternating-seed0.pt"]
    assert list(again["run"]) == ["simultaneous, seed 1", "alternating, seed 0"]
    assert again["re-scored now"].str.endswith("(same to the last digit)").all(), again
    assert (again["budget (epochs)"] == "1").all()
    assert any(line.startswith("## toy generators, re-scored now") for line in lines)
    (out / "generators" / "alternating-seed0.pt").unlink()
    lines.clear()
    assert reproduce.rescore_committed(presets.find(path), echo=lines.append) is None
    assert "skipped, 1 of 2 files not found" in lines[0]


@pytest.fixture
def toy_run(tmp_path):
    from ganbench.run import train_run
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


def test_epochs_given_as_float_or_int_is_one_run(paper):
    a = paper.config(update="simultaneous", seed=0, epochs=100)
    b = paper.config(update="simultaneous", seed=0, epochs=100.0)
    assert a.run_id == b.run_id
    assert paper.config(update="simultaneous", seed=0, epochs=0.5).train["epochs"] == 0.5
