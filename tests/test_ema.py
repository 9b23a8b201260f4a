"""Generator EMA (issue 21): ``train.ema``, an exponential moving average of G's weights.

The update against a float64 reference written out here; the decay's bounds; the run id
unchanged when unset; resume and staged budgets bitwise exact; the EMA generator is the one
scored, selected, exported and loaded, and the record says so; a ring-2d run end to end."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ganbench import evaluate, plugins
from ganbench.cli import cli
from ganbench.config import resolve
from ganbench.errors import ConfigError
from ganbench.run import _make_trainer, train_run
from ganbench.runner import prepare
from ganbench.scoring import export_generator, load_generator
from ganbench.store import BEST, CHECKPOINT, Store, load_checkpoint, read_json
from ganbench.train import MinibatchSampler, NoisePrior, Schedule, Trainer
from tests.conftest import toy_config
from tests.test_bad_input import TOY, _one_line_exit_2

PINNED_TOY_ID = "ef11fb45abf4"  # tests/test_settings.py: test_toy_run_id_is_pinned


def ema_config(ema=0.9, steps=20, **overrides):
    train = {"steps": steps, "batch_size": 32, "log_every": 5, "checkpoint_every": 10}
    if ema is not None:
        train["ema"] = ema
    return toy_config(train=train, **overrides)


# ---- the update, against a float64 reference -------------------------------------------------


class BatchNormGenerator(nn.Module):
    """A generator with buffers (batch-norm running statistics), which the EMA copies."""

    def __init__(self, noise_dim=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(noise_dim, 8), nn.BatchNorm1d(8), nn.ReLU(),
                                 nn.Linear(8, 1))

    def forward(self, z):
        return self.net(z)


def small_trainer(ema: float | None, update: str = "alternating") -> Trainer:
    torch.manual_seed(0)
    G = BatchNormGenerator()
    D = nn.Sequential(nn.Linear(1, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1), nn.Flatten(0))
    data = torch.randn(256, 1)
    opt = {"name": "adam", "lr": 0.01, "discriminator_lr": None, "betas": [0.5, 0.999],
           "momentum": 0.5, "momentum_final": None, "lr_decay": 1.0, "lr_min": 0.0,
           "weight_decay": 0.0}
    schedule = Schedule(iterations=6, discriminator_steps=2, batch_size=32, update=update,
                        log_every=3, checkpoint_every=3)
    loss = plugins.load("loss", "non-saturating")()
    return Trainer(G, D, loss, MinibatchSampler(data, 32, seed=1),
                   NoisePrior("uniform", 3, 1.0, torch.device("cpu"), seed=2), opt, schedule,
                   ema=ema)


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_the_update_matches_a_float64_reference_after_every_generator_step(update):
    decay = 0.8
    trainer = small_trainer(decay, update)
    # the reference: a copy of G at step 0, then decay * ema + (1 - decay) * param in float64
    reference = {k: v.double().clone() for k, v in trainer.G.named_parameters()}
    step_name = "simultaneous_step" if update == "simultaneous" else "generator_step"
    step = getattr(trainer, step_name)
    updates = []

    def recorded(*args, **kwargs):
        out = step(*args, **kwargs)
        for k, p in trainer.G.named_parameters():
            reference[k] = decay * reference[k] + (1 - decay) * p.detach().double()
        updates.append(trainer.step)
        return out

    setattr(trainer, step_name, recorded)
    trainer.run()
    assert len(updates) == 6
    ema = dict(trainer.ema.module.named_parameters())
    raw = dict(trainer.G.named_parameters())
    for k, ref in reference.items():
        torch.testing.assert_close(ema[k].double(), ref, rtol=1e-6, atol=1e-7)
        assert not torch.allclose(ema[k], raw[k])  # it is an average, not a copy
    # buffers (batch-norm running statistics) are G's, copied
    for (name, mine), (_, theirs) in zip(trainer.ema.module.named_buffers(),
                                        trainer.G.named_buffers(), strict=True):
        assert torch.equal(mine, theirs), name
    assert not any(p.requires_grad for p in trainer.ema.module.parameters())
    assert all(p.requires_grad for p in trainer.G.parameters())


def test_without_ema_there_is_no_average_and_no_checkpoint_entry():
    trainer = small_trainer(None)
    trainer.run()
    assert trainer.ema is None and trainer.reported_generator is trainer.G
    assert "generator_ema" not in trainer.state_dict()


def test_training_uses_the_raw_generator_so_its_numbers_do_not_change():
    plain, averaged = small_trainer(None), small_trainer(0.99)
    plain.run()
    averaged.run()
    for a, b in zip(plain.G.state_dict().values(), averaged.G.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert plain.curve.rows[-1][1:3] == averaged.curve.rows[-1][1:3]


# ---- the setting ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, -0.5, 1.5, True, "x"])
def test_a_decay_outside_0_1_is_a_config_error(bad):
    with pytest.raises(ConfigError) as err:
        resolve(ema_config(ema=bad))
    assert "train.ema" in str(err.value)


def test_the_cli_rejects_a_bad_decay_in_one_line_exit_2(runner, tmp_path):
    out = runner.invoke(cli, ["train", *TOY, "--set", "train.ema=1.5",
                              "--store", str(tmp_path / "st")])
    _one_line_exit_2(out, "train.ema must be a decay between 0 and 1", "1.5")
    assert not (tmp_path / "st").exists() or not any((tmp_path / "st").iterdir())


def test_the_run_id_is_unchanged_unset_and_changes_with_the_decay():
    assert resolve(toy_config()).run_id == PINNED_TOY_ID
    assert resolve(ema_config(ema=None)).run_id == PINNED_TOY_ID
    explicit_none = toy_config(train={**toy_config().train, "ema": None})
    assert resolve(explicit_none).run_id == PINNED_TOY_ID
    ids = {resolve(ema_config(ema=d)).run_id for d in (0.9, 0.99, 0.999)}
    assert len(ids) == 3 and PINNED_TOY_ID not in ids
    assert resolve(ema_config(ema=0.99)).train["ema"] == 0.99


# ---- resume and staged budgets: bitwise exact ------------------------------------------------


def test_resuming_from_a_checkpoint_gives_the_uninterrupted_ema_bitwise(tmp_path):
    whole = small_trainer(0.9)
    whole.run()
    first = small_trainer(0.9)
    first.schedule.iterations = 3
    first.run()
    torch.save(first.state_dict(), tmp_path / "c.pt")
    second = small_trainer(0.9)  # a fresh process: its EMA starts as a copy of a fresh G
    second.load_state_dict(torch.load(tmp_path / "c.pt", weights_only=True))
    second.run()
    for a, b in ((whole.G, second.G), (whole.ema.module, second.ema.module)):
        a, b = a.state_dict(), b.state_dict()
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
    assert not torch.equal(second.ema.module.net[0].weight, second.G.net[0].weight)


def test_a_checkpoint_without_an_ema_generator_is_refused_for_an_ema_run():
    raw = small_trainer(None)
    raw.run()
    with pytest.raises(ValueError, match="generator_ema"):
        small_trainer(0.9).load_state_dict(raw.state_dict())


def test_a_staged_budget_continues_the_ema_exactly(tmp_path):
    whole_store, staged = Store(tmp_path / "whole"), Store(tmp_path / "staged")
    score = {"score": {"parzen": True, "n_samples": 200, "n_valid": 64}}
    whole = train_run(ema_config(steps=40, **score), store=whole_store, device="cpu")
    train_run(ema_config(steps=20, **score), store=staged, device="cpu")
    raw_shorter = train_run(ema_config(ema=None, steps=20, **score), store=staged, device="cpu")
    extended = train_run(ema_config(steps=40, **score), store=staged, device="cpu")
    assert extended["extended_from"] is not None
    assert extended["parzen_mean"] == whole["parzen_mean"]  # scored from the EMA in memory
    assert extended["extended_from"] != raw_shorter["run_id"]  # a raw run has no EMA to go on
    a = load_checkpoint(whole_store.run_dir(whole["run_id"]) / CHECKPOINT)
    b = load_checkpoint(staged.run_dir(extended["run_id"]) / CHECKPOINT)
    for part in ("generator", "generator_ema", "discriminator"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)


# ---- what is scored, selected, exported and loaded is the EMA generator -----------------------


def _generator_with(exp, weights):
    generator = _make_trainer(exp, torch.device("cpu")).G
    generator.load_state_dict(weights)
    return generator


def test_the_scored_generator_is_the_ema_one(tmp_path):
    store = Store(tmp_path)
    config = ema_config(score={"parzen": True, "n_samples": 200, "n_valid": 64})
    record = train_run(config, store=store, device="cpu")
    assert record["status"] == "done"
    assert record["generator_weights"] == "ema" and record["ema_decay"] == 0.9
    folder = store.run_dir(record["run_id"])
    state = load_checkpoint(folder / CHECKPOINT)
    exp = prepare(config)
    cpu = torch.device("cpu")
    on_ema = evaluate.evaluate(_generator_with(exp, state["generator_ema"]), exp.config,
                               exp.dataset, cpu)
    on_raw = evaluate.evaluate(_generator_with(exp, state["generator"]), exp.config,
                               exp.dataset, cpu)
    assert record["parzen_mean"] == on_ema["parzen_mean"]
    assert record["parzen_mean"] != on_raw["parzen_mean"]
    loaded, _ = load_generator(folder, cpu)  # ganbench sample / score / reproduce
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state["generator_ema"][key]), key
    exported = load_checkpoint(export_generator(folder, tmp_path / "g.pt"))
    for key, value in exported["generator"].items():
        assert torch.equal(value, state["generator_ema"][key]), key


def test_selection_scores_and_keeps_the_ema_generator(tmp_path):
    store = Store(tmp_path)
    config = ema_config(steps=20, score={"parzen": True, "n_samples": 200, "n_valid": 64,
                                         "select": "valid", "select_every": 10})
    record = train_run(config, store=store, device="cpu")
    folder = store.run_dir(record["run_id"])
    state, best = load_checkpoint(folder / CHECKPOINT), load_checkpoint(folder / BEST)
    exp = prepare(config)
    cpu = torch.device("cpu")
    history = read_json(folder / "selection.json")["history"]
    assert [h["step"] for h in history] == [10, 20]
    final = evaluate.validation_score(_generator_with(exp, state["generator_ema"]), exp.config,
                                      exp.dataset, cpu)
    assert history[-1]["parzen_valid"] == final["parzen_valid"]
    raw = evaluate.validation_score(_generator_with(exp, state["generator"]), exp.config,
                                    exp.dataset, cpu)
    assert raw["parzen_valid"] != final["parzen_valid"]
    rescored = evaluate.validation_score(_generator_with(exp, best["generator"]), exp.config,
                                         exp.dataset, cpu)
    assert rescored["parzen_valid"] == record["parzen_valid"]
    if record["selected_step"] == 20:
        for key, value in best["generator"].items():
            assert torch.equal(value, state["generator_ema"][key]), key


def test_a_raw_run_says_raw(tmp_path):
    record = train_run(ema_config(ema=None), store=Store(tmp_path), device="cpu")
    assert record["generator_weights"] == "raw" and "ema_decay" not in record
    assert record["run_id"] == PINNED_TOY_ID


# ---- end to end, and on the leaderboard -------------------------------------------------------


def test_a_ring_2d_run_end_to_end_and_a_variant_of_its_own(runner, tmp_path):
    from ganbench import results
    from ganbench.leaderboard import leaderboard, variant_columns

    base = ["train", "-G", "mlp", "-D", "mlp", "-L", "non-saturating", "-X", "ring-2d",
            "--steps", "20", "--batch-size", "32", "--set", "noise.dim=4",
            "--set", "dataset.n_train=512", "--set", "score.n_samples=200",
            "--set", "score.n_valid=64", "--store", str(tmp_path), "--quiet", "--json"]
    records = []
    for extra in (["--set", "train.ema=0.99"], []):
        out = runner.invoke(cli, [*base, *extra])
        assert out.exit_code == 0, out.output
        records.append(json.loads(out.output))
    averaged, raw = records
    assert averaged["status"] == "done" and raw["status"] == "done"
    assert averaged["generator_weights"] == "ema" and averaged["ema_decay"] == 0.99
    assert raw["generator_weights"] == "raw"
    assert averaged["run_id"] != raw["run_id"]
    assert averaged["parzen_mean"] != raw["parzen_mean"]
    assert (tmp_path / averaged["run_id"] / "samples.png").is_file()
    assert read_json(tmp_path / averaged["run_id"] / "config.json")["train"]["ema"] == 0.99
    frame = results.load(Store(tmp_path))
    assert "train.ema" in variant_columns(frame, ["generator", "discriminator", "loss",
                                                  "dataset"])
    table = leaderboard(frame)  # unset (shown as "-") and 0.99: two variants, never pooled
    assert sorted(map(str, table["train.ema"])) == ["-", "0.99"]
    assert list(table["n"]) == [1, 1]
