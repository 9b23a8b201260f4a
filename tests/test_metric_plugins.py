"""The metric plugin group, end to end: --metrics on train / score / sweep, columns, settings
in the record, a finished run scored for a new metric without retraining, bad input."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

from ganbench import results
from ganbench.cli import cli
from ganbench.leaderboard import leaderboard

pytestmark = pytest.mark.skipif(
    not any(ep.name == "moments" for ep in entry_points(group="ganbench.metrics")),
    reason="the example metric package is not installed: run `make install`")

TOY = ["-G", "mlp", "-D", "mlp", "-L", "non-saturating", "-X", "gaussian-1d", "--steps", "20",
       "--batch-size", "32", "--set", "generator.hidden=[16]", "--set", "discriminator.hidden=[16]",
       "--set", "noise.dim=4", "--set", "score.n_samples=300", "--quiet"]


def _train(runner, store, *extra):
    out = runner.invoke(cli, ["train", *TOY, "--store", str(store), "--json", *extra])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_train_with_metrics_gives_columns_and_records_their_settings(runner, tmp_path):
    record = _train(runner, tmp_path, "--metrics", "parzen,moments",
                    "--set", "metric.moments.n_real=50")
    assert record["status"] == "done"
    assert {"parzen_mean", "moments", "moments_std_ratio", "moments_seconds"} <= set(record)
    settings = record["metrics"]["moments"]
    assert settings["settings"] == {"n_real": 50} and settings["n_samples"] == 300
    assert settings["distribution"] == "ganbench-example-metric"
    assert settings["higher_is_better"] == {"moments": False}
    frame = results.load(tmp_path)
    assert {"moments", "moments_std_ratio", "parzen_mean"} <= set(frame.columns)


def test_score_adds_a_metric_to_a_finished_run_without_changing_the_others(runner, tmp_path):
    first = _train(runner, tmp_path)
    assert "moments" not in first and "parzen_mean" in first
    out = runner.invoke(cli, ["score", first["run_id"], "--metrics", "moments", "--store",
                              str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    again = json.loads(out.output)
    assert again["moments"] >= 0 and again["parzen_mean"] == first["parzen_mean"]
    assert again["steps"] == first["steps"] and again["wall_time"] == first["wall_time"]
    assert set(again["metrics"]) == {"parzen", "moments"}


def test_score_set_changes_a_metric_option_for_this_scoring_and_records_it(runner, tmp_path):
    first = _train(runner, tmp_path, "--metrics", "parzen,moments")
    assert first["metrics"]["moments"]["settings"] == {"n_real": 10000}
    config = (tmp_path / first["run_id"] / "config.json").read_text()
    out = runner.invoke(cli, ["score", first["run_id"], "--metrics", "moments", "--set",
                              "metric.moments.n_real=50", "--store", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    again = json.loads(out.output)
    assert again["metrics"]["moments"]["settings"] == {"n_real": 50}
    assert again["moments"] != first["moments"]  # fewer real examples: another estimate
    assert again["parzen_mean"] == first["parzen_mean"]  # not asked for: as it was
    assert (tmp_path / first["run_id"] / "config.json").read_text() == config  # same run
    # the leaderboard never pools it with a run of the run's own settings
    second = _train(runner, tmp_path, "--metrics", "parzen,moments", "--seed", "1")
    third = _train(runner, tmp_path, "--metrics", "parzen,moments", "--seed", "2")
    assert len({first["run_id"], second["run_id"], third["run_id"]}) == 3
    board = leaderboard(results.load(tmp_path), metric="moments")
    assert board.iloc[0]["n"] == 2 and board.iloc[0]["left_out"] == 1
    # the reference rows follow what the record says a run was scored with
    from ganbench import references
    from ganbench.store import Store

    _, _, protocol = references.protocol_of_run(Store(tmp_path), first["run_id"])
    assert protocol.options_of("moments") == {"n_real": 50}
    _, _, protocol = references.protocol_of_run(Store(tmp_path), second["run_id"])
    assert protocol.options_of("moments") == {} and protocol.n_samples == 300
    out = runner.invoke(cli, ["score", second["run_id"], "--n-samples", "200", "--store",
                              str(tmp_path)])
    assert out.exit_code == 0, out.output
    _, _, protocol = references.protocol_of_run(Store(tmp_path), second["run_id"])
    assert protocol.n_samples == 200


@pytest.mark.parametrize("args,message", [
    (["--set", "optimizer.lr=0.1"], "only metric options apply when re-scoring"),
    (["--set", "metric.moments.n_real=50"], "metric 'moments' is not among the metrics scored"),
    (["--metrics", "moments", "--set", "metric.moments.nreal=5"], "unknown option(s) nreal"),
    (["--metrics", "moments", "--set", "metric.moments.n_real=1"], "n_real must be at least 2"),
    (["--metrics", "prdc", "--set", "metric.prdc.k_pr=100000"], "nothing re-scored"),
])
def test_score_set_bad_input_is_one_line_exit_2_and_the_record_unchanged(runner, tmp_path, args,
                                                                         message):
    first = _train(runner, tmp_path)
    record = (tmp_path / first["run_id"] / "record.json").read_bytes()
    out = runner.invoke(cli, ["score", first["run_id"], *args, "--store", str(tmp_path)])
    assert out.exit_code == 2, out.output
    assert message in out.output and len(out.output.strip().splitlines()) == 1
    assert (tmp_path / first["run_id"] / "record.json").read_bytes() == record


def test_a_rerun_asking_for_a_new_metric_scores_it_without_retraining(runner, tmp_path):
    first = _train(runner, tmp_path, "--metrics", "parzen")
    second = _train(runner, tmp_path, "--metrics", "parzen,moments")
    assert second["run_id"] == first["run_id"]  # metrics are not part of the run id
    assert "moments" in second and second["parzen_mean"] == first["parzen_mean"]
    assert second["finished"] == first["finished"] and second["steps"] == first["steps"]


def test_sweep_file_metrics_reach_every_run_and_the_leaderboard_ranks_by_them(runner, tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'generator = "mlp"\ndiscriminator = "mlp"\nloss = ["non-saturating", "hinge"]\n'
        'dataset = "gaussian-1d"\nseed = [0, 1]\nmetrics = ["parzen", "moments"]\n'
        '[train]\nsteps = 20\nbatch_size = 32\n[noise]\ndim = 4\n[score]\nn_samples = 200\n'
        '[options.generator.mlp]\nhidden = [[16]]\n[options.discriminator.mlp]\nhidden = [[16]]\n')
    out = runner.invoke(cli, ["sweep", str(sweep), "--store", str(tmp_path / "st"), "--workers",
                              "1", "--quiet"])
    assert out.exit_code == 0, out.output
    frame = results.load(tmp_path / "st")
    assert len(frame) == 4 and frame["moments"].notna().all()
    board = leaderboard(frame, metric="moments")
    best = board.sort_values("rank").iloc[0]
    assert best["mean"] == board["mean"].min()  # lower is better, as the plugin declares


@pytest.mark.parametrize("args,message", [
    (["--metrics", "momnets"], "did you mean 'moments'"),
    (["--metrics", "parzen,"], None),
    (["--metrics", ","], "names no metric"),
    (["--metrics", "moments", "--set", "metric.moments.n_real=1"], "n_real must be at least 2"),
    (["--metrics", "moments", "--set", "metric.moments.nreal=5"], "unknown option(s) nreal"),
    (["--set", "metric.moments=5"], "is not metric.NAME.OPTION=VALUE"),
])
def test_bad_metric_input_is_one_line_and_exit_2_before_training(runner, tmp_path, args, message):
    out = runner.invoke(cli, ["train", *TOY, "--store", str(tmp_path / "st"), *args])
    if message is None:  # a trailing comma is harmless
        assert out.exit_code == 0, out.output
        return
    assert out.exit_code == 2, out.output
    assert message in out.output and len(out.output.strip().splitlines()) == 1
    assert not (tmp_path / "st").exists() or not any((tmp_path / "st").iterdir())


def test_the_example_metric_package_passes_its_own_tests():
    import subprocess
    import sys
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "plugins/examples/ganbench-example-metric"
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(package / "tests")], capture_output=True, text=True, cwd=package)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "4 passed" in out.stdout


def test_score_of_a_run_another_process_holds_is_one_line(runner, tmp_path):
    from ganbench.store import Store

    first = _train(runner, tmp_path)
    with Store(tmp_path).lock(first["run_id"]):
        out = runner.invoke(cli, ["score", first["run_id"], "--store", str(tmp_path)])
    assert out.exit_code == 2, out.output
    assert "another process" in out.output and len(out.output.strip().splitlines()) == 1



def test_score_of_a_run_removed_before_its_lock_leaves_nothing_behind(runner, tmp_path,
                                                                      monkeypatch):
    import shutil

    from ganbench.store import Store

    first = _train(runner, tmp_path)
    real_lock = Store.lock

    def removed_first(self, run_id):  # `ganbench rm` in another process, just before
        shutil.rmtree(self.run_dir(run_id))
        return real_lock(self, run_id)

    monkeypatch.setattr(Store, "lock", removed_first)
    out = runner.invoke(cli, ["score", first["run_id"], "--store", str(tmp_path)])
    assert out.exit_code == 2 and "no run" in out.output, out.output
    assert len(out.output.strip().splitlines()) == 1
    assert not (tmp_path / first["run_id"]).exists()  # no half-made folder
