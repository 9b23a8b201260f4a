"""Growing a budget in stages: a run that differs from a stored one only by a longer budget
starts from the stored run's last checkpoint, and ends exactly where a run trained from
scratch would (weights, validation history, selected checkpoint)."""

from __future__ import annotations

import json

import torch

from ganbench.run import train_run
from ganbench.store import BEST, CHECKPOINT, Store, load_checkpoint
from tests.conftest import toy_config


def staged_config(steps: int, **score):
    return toy_config(
        options={"generator": {"hidden": [16]}, "discriminator": {"hidden": [16], "dropout": 0.3},
                 "dataset": {"n_train": 512, "n_valid": 128, "n_test": 128}},
        train={"steps": steps, "batch_size": 32, "log_every": 5, "checkpoint_every": 10},
        optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.5, "lr_decay": 1.01},
        score={"parzen": True, "n_samples": 200, "n_valid": 64, "select": "valid",
               "select_every": 10, **score},
    )


def state(store: Store, run_id: str) -> dict:
    return load_checkpoint(store.run_dir(run_id) / CHECKPOINT)


def assert_same_weights(a: dict, b: dict) -> None:
    for part in ("generator", "discriminator"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)


def test_a_longer_budget_continues_the_shorter_run_exactly(tmp_path):
    whole_store, staged = Store(tmp_path / "whole"), Store(tmp_path / "staged")
    whole = train_run(staged_config(40), store=whole_store, device="cpu")

    short = train_run(staged_config(20), store=staged, device="cpu")
    assert short["status"] == "done" and short["steps"] == 20
    longer = train_run(staged_config(40), store=staged, device="cpu")

    assert longer["run_id"] == whole["run_id"] != short["run_id"]
    assert longer["status"] == "done" and longer["steps"] == 40
    assert longer["extended_from"] == short["run_id"] and longer["resumed_from_step"] == 20
    assert "extended_from" not in whole and "resumed_from_step" not in whole
    assert_same_weights(state(whole_store, whole["run_id"]), state(staged, longer["run_id"]))
    history = [json.loads((s.run_dir(whole["run_id"]) / "selection.json").read_text())["history"]
               for s in (whole_store, staged)]
    assert history[0] == history[1] and [h["step"] for h in history[0]] == [10, 20, 30, 40]
    assert longer["selected_step"] == whole["selected_step"]
    assert longer["parzen_mean"] == whole["parzen_mean"]
    best = [load_checkpoint(s.run_dir(whole["run_id"]) / BEST)["generator"] for s in (whole_store, staged)]
    assert all(torch.equal(best[0][k], best[1][k]) for k in best[0])
    # The shorter run is left as it was.
    assert staged.read_record(short["run_id"])["steps"] == 20


def test_only_a_run_with_the_same_config_on_the_same_grid_is_continued(tmp_path):
    store = Store(tmp_path)
    other_lr = staged_config(20)
    other_lr.optimizer["lr"] = 0.01
    train_run(other_lr, store=store, device="cpu")  # another learning rate
    train_run(staged_config(25), store=store, device="cpu")  # last checkpoint off the grid
    longer = train_run(staged_config(40), store=store, device="cpu")
    assert longer["status"] == "done" and "extended_from" not in longer
    assert "resumed_from_step" not in longer


def test_a_run_that_stopped_early_stays_stopped_when_extended(tmp_path):
    # patience 0: stop at the first validation score, whatever it is (step 10).
    store = Store(tmp_path)
    short = train_run(staged_config(20, patience=0), store=store, device="cpu")
    assert short["steps"] == 10 and "stopped_early" in short
    longer = train_run(staged_config(40, patience=0), store=store, device="cpu")
    assert longer["extended_from"] == short["run_id"]
    assert longer["steps"] == 10 and "stopped_early" in longer
    assert longer["selected_step"] == short["selected_step"] == 10


def test_a_run_stopped_early_goes_on_under_more_patience_exactly(tmp_path):
    whole_store, staged = Store(tmp_path / "whole"), Store(tmp_path / "staged")
    whole = train_run(staged_config(40), store=whole_store, device="cpu")  # no patience
    short = train_run(staged_config(20, patience=0), store=staged, device="cpu")
    assert short["steps"] == 10 and "stopped_early" in short
    longer = train_run(staged_config(40), store=staged, device="cpu")
    assert longer["run_id"] == whole["run_id"]
    assert longer["extended_from"] == short["run_id"] and longer["resumed_from_step"] == 10
    assert longer["steps"] == 40 and "stopped_early" not in longer
    assert_same_weights(state(whole_store, whole["run_id"]), state(staged, longer["run_id"]))
    assert longer["selected_step"] == whole["selected_step"]
    assert longer["parzen_mean"] == whole["parzen_mean"]


def test_a_less_patient_run_is_not_continued_from_a_more_patient_one(tmp_path):
    # The patient run's checkpoint may lie past where the impatient one would have stopped.
    store = Store(tmp_path)
    train_run(staged_config(20), store=store, device="cpu")  # no patience
    impatient = train_run(staged_config(40, patience=0), store=store, device="cpu")
    assert "extended_from" not in impatient and impatient["steps"] == 10


def test_the_record_names_the_run_it_extends_while_it_runs(tmp_path, monkeypatch):
    import ganbench.run as runner
    from ganbench.config import resolve

    store = Store(tmp_path)
    short = train_run(staged_config(20), store=store, device="cpu")
    longer_id = resolve(staged_config(40)).run_id
    seen = []
    real_run = runner.Trainer.run

    def run(self, *args, **kwargs):  # the stored record, as the training starts
        seen.append(store.read_record(longer_id))
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(runner.Trainer, "run", run)
    train_run(staged_config(40), store=store, device="cpu")
    assert seen and seen[0]["status"] == "running"
    assert seen[0]["extended_from"] == short["run_id"]
