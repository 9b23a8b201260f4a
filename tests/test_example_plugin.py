"""The example third-party package (plugins/examples/ganbench-example-loss, installed by
`make install` like any user's plugin) competes with the built-ins in a sweep and appears on
the leaderboard."""

from __future__ import annotations

import pytest

from ganbench import plugins, results
from ganbench.executors import run_many
from ganbench.leaderboard import leaderboard
from ganbench.store import Store
from ganbench.sweep import expand


def test_example_loss_competes_in_a_sweep(tmp_path):
    found = [p for p in plugins.discover("loss") if p.name == "label-smoothing"]
    if not found:
        pytest.fail("ganbench-example-loss is not installed: run `make install`")
    assert found[0].distribution == "ganbench-example-loss"
    configs = expand({
        "generator": "mlp", "discriminator": "mlp", "dataset": "gaussian-1d",
        "loss": ["label-smoothing", "non-saturating"], "seed": [0, 1],
        "train": {"steps": 40, "batch_size": 32, "log_every": 10, "checkpoint_every": 20},
        "noise": {"dim": 4},
        "score": {"n_samples": 300, "n_valid": 100},
        "options": {"generator": {"mlp": {"hidden": [[16]]}},
                    "discriminator": {"mlp": {"hidden": [[16]]}},
                    "dataset": {"gaussian-1d": {"n_train": 256, "n_valid": 100, "n_test": 100}}},
    })
    store = Store(tmp_path)
    records = run_many(configs, store=store, executor="local", workers=1)
    assert [r["status"] for r in records] == ["done"] * 4
    board = leaderboard(results.load(store))
    assert set(board["loss"]) == {"label-smoothing", "non-saturating"}
    row = board[board["loss"] == "label-smoothing"].iloc[0]
    assert row.notna().any()
