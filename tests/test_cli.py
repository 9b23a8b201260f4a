"""The command line: training end to end, the results table, and every bad input failing
before training with one line and exit status 2."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ganbench import results
from ganbench.cli import cli

BASE = ["-G", "mlp", "-D", "mlp", "-L", "non-saturating", "-X", "gaussian-1d", "--steps", "20",
        "--batch-size", "32", "--set", "noise.dim=4", "--set", "dataset.n_train=256",
        "--set", "score.n_samples=200", "--quiet"]
FAST = [*BASE, "--set", "generator.hidden=[16]", "--set", "discriminator.hidden=[16]"]

BAD_PLUGINS = """
import torch
from torch import nn

class Const(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.out = out
    def forward(self, x):
        return torch.zeros(x.shape[0], *self.out) + self.lin.weight.sum()

def wrong_shape_generator(noise_dim, data_shape):
    return Const((3,))

def two_column_discriminator(data_shape):
    return Const((2,))

def not_a_module(data_shape):
    return {"forward": None}

def raising_loss(strength: float = 1.0):
    raise ValueError("strength must be below 1")
"""


def test_train_then_results(runner, tmp_path):
    store = str(tmp_path / "store")
    out = runner.invoke(cli, ["train", *FAST, "--store", store, "--json"])
    assert out.exit_code == 0, out.output
    record = json.loads(out.output)
    assert record["status"] == "done" and len(record["run_id"]) == 12
    assert record["steps"] == 20
    assert record["versions"]["torch"].startswith("2.14.1")
    loss = dict(record["plugins"]["loss"])
    source = loss.pop("source")  # the hash of its code (ganbench.identity), 16 hex digits
    assert loss == {"name": "non-saturating", "distribution": "ganbench",
                    "version": record["versions"]["ganbench"]}
    assert len(source) == 16 and int(source, 16) >= 0
    folder = tmp_path / "store" / record["run_id"]
    for name in ("config.json", "record.json", "checkpoint.pt", "losses.csv", "losses.png",
                 "samples.png"):
        assert (folder / name).exists(), name
    frame = results.load(store)
    assert list(frame["run_id"]) == [record["run_id"]]
    assert frame.loc[0, "generator.hidden"] == "[16]"
    assert frame.loc[0, "status"] == "done"
    for fmt in ("csv", "json", "table"):
        shown = runner.invoke(cli, ["results", "--store", store, "--format", fmt])
        assert shown.exit_code == 0 and record["run_id"] in shown.output
    parsed = pd.read_csv(pd.io.common.StringIO(
        runner.invoke(cli, ["results", "--store", store, "--format", "csv"]).output))
    assert parsed.loc[0, "run_id"] == record["run_id"]
    # the same command again does nothing: the run is done
    again = runner.invoke(cli, ["train", *FAST, "--store", store, "--json"])
    assert json.loads(again.output)["finished"] == record["finished"]


def _bad(runner, tmp_path, args):
    store = tmp_path / "store"
    out = runner.invoke(cli, ["train", *args, "--store", str(store)])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1, out.output
    assert "Traceback" not in out.output
    assert not store.exists() or not any(store.iterdir())  # nothing written
    return lines[0]


def _swap(args, flag, value):
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


def test_unknown_plugin_lists_and_suggests(runner, tmp_path):
    line = _bad(runner, tmp_path, _swap(FAST, "-L", "non-saturatng"))
    assert "unknown loss 'non-saturatng'" in line
    assert "did you mean 'non-saturating'" in line and "minimax" in line


def test_unknown_option_lists_the_options(runner, tmp_path):
    line = _bad(runner, tmp_path, [*FAST, "--set", "generator.hiden=[8]"])
    assert "hiden" in line and "hidden=" in line and "output_activation" in line


@pytest.mark.parametrize("assignment,words", [
    ("generator.hidden=fast", "must be a list"),
    ("discriminator.dropout=lots", "must be a number"),
    ("train.batch_size=1.5", "must be an integer"),
    ("optimizer.name=rmsprop", "must be one of adam, sgd"),
    ("nonsense=1", "PART.OPTION=VALUE"),
    ("train.warmup=3", "unknown train setting"),
])
def test_wrong_option_values(runner, tmp_path, assignment, words):
    assert words in _bad(runner, tmp_path, [*FAST, "--set", assignment])


def test_batch_larger_than_the_training_split(runner, tmp_path):
    line = _bad(runner, tmp_path, _swap(FAST, "--batch-size", "1000"))
    assert "larger than the training split (256" in line


def test_k_below_one(runner, tmp_path):
    assert "at least 1" in _bad(runner, tmp_path, [*FAST, "--discriminator-steps", "0"])


def test_missing_device(runner, tmp_path):
    import torch

    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    assert "cuda:7" in _bad(runner, tmp_path, [*FAST, "--device", "cuda:7"])


def test_contract_breaking_plugins(runner, tmp_path, fake_distribution):
    fake_distribution("bad-plugins", {
        "ganbench.generators": {"wrong-shape": "badplug:wrong_shape_generator"},
        "ganbench.discriminators": {"two-column": "badplug:two_column_discriminator",
                                    "not-module": "badplug:not_a_module"},
        "ganbench.losses": {"raising": "badplug:raising_loss"},
    }, {"badplug": BAD_PLUGINS})
    line = _bad(runner, tmp_path, _swap(BASE, "-G", "wrong-shape"))
    assert "shape (3,)" in line and "(1,)" in line
    line = _bad(runner, tmp_path, _swap(BASE, "-D", "two-column"))
    assert "(N,) logits" in line and "(2, 2)" in line
    line = _bad(runner, tmp_path, _swap(BASE, "-D", "not-module"))
    assert "torch.nn.Module" in line and "dict" in line
    line = _bad(runner, tmp_path, _swap(BASE, "-L", "raising"))
    assert "could not be built: strength must be below 1" in line


def test_broken_plugin_named_in_a_run(runner, tmp_path, fake_distribution):
    fake_distribution("broken-dist", {"ganbench.losses": {"broken": "nowhere_mod_q:factory"}}, {})
    line = _bad(runner, tmp_path, _swap(FAST, "-L", "broken"))
    assert "is broken" in line and "nowhere_mod_q" in line


def test_check_plugin_command(runner, fake_distribution):
    ok = runner.invoke(cli, ["check-plugin", "loss", "hinge"])
    assert ok.exit_code == 0, ok.output
    assert "PASS scalar" in ok.output and ", 0 failed" in ok.output
    fake_distribution("sloppy-dist", {"ganbench.discriminators": {"two-column": "sloppy:two_column_discriminator"}},
                      {"sloppy": BAD_PLUGINS})
    bad = runner.invoke(cli, ["check-plugin", "ganbench.discriminators", "two-column"])
    assert bad.exit_code == 1
    assert "FAIL output shape" in bad.output
    unknown = runner.invoke(cli, ["check-plugin", "loss", "hinje"])
    assert unknown.exit_code == 2 and "did you mean 'hinge'" in unknown.output
