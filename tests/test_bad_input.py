"""Bad input gets one clear line and exit status 2 (issue: results people can trust), and
what a command writes is what it says."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from ganbench.cli import cli
from ganbench.run import train_run
from ganbench.runner import prepare
from ganbench.store import Store
from tests.conftest import toy_config

TOY = ["-G", "mlp", "-D", "mlp", "-L", "non-saturating", "-X", "gaussian-1d", "--steps", "20",
       "--batch-size", "32", "--set", "generator.hidden=[16]", "--set", "discriminator.hidden=[16]",
       "--set", "noise.dim=4", "--set", "score.n_samples=200", "--quiet"]


def _one_line_exit_2(out, *words):
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganbench: error: "), out.output
    assert "Traceback" not in out.output
    for word in words:
        assert word in lines[0], lines[0]


class Picklable:
    """An arbitrary Python object, which weights_only loading refuses."""


@pytest.fixture
def trained(runner, tmp_path):
    out = runner.invoke(cli, ["train", *TOY, "--store", str(tmp_path / "st"), "--json"])
    assert out.exit_code == 0, out.output
    return tmp_path / "st" / json.loads(out.output)["run_id"]


def test_parzen_with_an_empty_samples_file(runner, tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 1), dtype=np.float32))
    out = runner.invoke(cli, ["parzen", "--samples", str(tmp_path / "empty.npy"), "--dataset",
                              "gaussian-1d"])
    _one_line_exit_2(out, "holds no samples")


def test_sample_into_a_missing_folder_and_to_a_name_without_npy(runner, tmp_path, trained):
    out = runner.invoke(cli, ["sample", str(trained), "--n", "5", "--out",
                              str(tmp_path / "nodir" / "x.npy")])
    _one_line_exit_2(out, "does not exist")
    assert not (tmp_path / "nodir").exists()
    out = runner.invoke(cli, ["sample", str(trained), "--n", "5", "--out", str(tmp_path / "x.txt")])
    assert out.exit_code == 0 and str(tmp_path / "x.txt") in out.output
    assert (tmp_path / "x.txt").exists() and not (tmp_path / "x.txt.npy").exists()
    assert np.load(tmp_path / "x.txt").shape == (5, 1)


def test_sample_on_a_file_that_is_not_a_checkpoint_never_advises_unsafe_loading(runner, tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"hello")
    out = runner.invoke(cli, ["sample", str(tmp_path / "junk.pt"), "--n", "5", "--out",
                              str(tmp_path / "y.npy")])
    _one_line_exit_2(out, "is not a ganbench checkpoint")
    assert "weights_only" not in out.output
    import torch

    torch.save({"generator": Picklable()}, tmp_path / "pickled.pt")
    out = runner.invoke(cli, ["sample", str(tmp_path / "pickled.pt"), "--n", "5", "--out",
                              str(tmp_path / "y.npy")])
    _one_line_exit_2(out, "other than tensors")
    assert "weights_only" not in out.output


@pytest.mark.parametrize("content,words", [(None, "does not exist"),
                                           (b"not a mat file", "could not be read as a .mat")])
def test_reproduce_with_a_bad_tfd_file(runner, tmp_path, content, words):
    path = tmp_path / "TFD_48x48.mat"
    if content is not None:
        path.write_bytes(content)
    out = runner.invoke(cli, ["reproduce", "paper", "--quick", "--tfd", str(path), "--store",
                              str(tmp_path / "st"), "--out", str(tmp_path / "out")])
    _one_line_exit_2(out, words)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["results"], ["leaderboard"], ["score", "abc"]])
def test_a_store_that_does_not_exist_is_named(runner, tmp_path, command):
    out = runner.invoke(cli, [*command, "--store", str(tmp_path / "TYPO")])
    _one_line_exit_2(out, "TYPO", "no such folder")


def test_ctrl_c_in_train_says_what_was_saved_and_exits_130(runner, tmp_path, monkeypatch):
    import ganbench.run as run

    real = run.Lifecycle.train

    def train_then_interrupt(self):
        real(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(run.Lifecycle, "train", train_then_interrupt)
    out = runner.invoke(cli, ["train", *TOY, "--store", str(tmp_path / "st")])
    assert out.exit_code == 130, out.output
    assert "interrupted at step 20" in out.output and "again to resume" in out.output
    monkeypatch.undo()
    out = runner.invoke(cli, ["train", *TOY, "--store", str(tmp_path / "st"), "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["status"] == "done"


def test_a_diverged_run_records_the_steps_it_trained_not_the_loop_s_count(tmp_path):
    config = toy_config(train={"steps": 40, "batch_size": 32, "log_every": 10,
                               "checkpoint_every": 10})
    experiment = prepare(config)
    calls = {"n": 0}
    real = experiment.loss.discriminator_loss

    def d_loss(r, f):
        calls["n"] += 1
        value = real(r, f)
        return value * float("nan") if calls["n"] == 13 else value

    experiment.loss.discriminator_loss = d_loss
    record = train_run(config, store=Store(tmp_path), device="cpu", experiment=experiment)
    assert record["status"] == "diverged" and record["failed_step"] == 13
    assert record["steps"] == 13  # the loop ran on to its check at step 20


def test_store_files_honour_the_umask(tmp_path):
    from ganbench.store import atomic_torch_save, atomic_write_json

    for umask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        old = os.umask(umask)
        try:
            atomic_write_json(tmp_path / f"a{umask}.json", {"x": 1})
            atomic_torch_save(tmp_path / f"b{umask}.pt", {"x": 1})
        finally:
            os.umask(old)
        for name in (f"a{umask}.json", f"b{umask}.pt"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, (name, oct(mode))


MNIST_RUN = ["train", "-G", "mlp", "-D", "mlp", "-L", "minimax", "-X", "mnist", "--steps", "1",
             "--quiet"]


@pytest.mark.parametrize("how", ["set", "env", "empty"])
def test_a_named_mnist_folder_must_hold_mnist(runner, tmp_path, how):
    """Issue 19: a data path the user names that does not exist, or an empty folder, is an
    error naming it; MNIST never trains on the bundled copy instead."""
    folder = tmp_path / ("empty" if how == "empty" else "nonexistent")
    args, env = [*MNIST_RUN, "--store", str(tmp_path / "st")], {}
    if how == "env":
        env["GANBENCH_DATA"] = str(folder)
    else:
        args += ["--set", f"dataset.data_dir={folder}"]
    if how == "empty":
        folder.mkdir()
        args += ["--set", "dataset.download=false"]  # offline; a download would go into it
    out = runner.invoke(cli, args, env=env)
    origin = "GANBENCH_DATA" if how == "env" else "dataset.data_dir"
    words = "holds no MNIST" if how == "empty" else "does not exist"
    _one_line_exit_2(out, "dataset 'mnist' could not be built", f"{origin} {folder} {words}")
    assert not (tmp_path / "st").exists()  # nothing written
