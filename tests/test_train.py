"""Algorithm 1: the order of updates, what each update touches, fresh minibatches, the
simultaneous mode, the schedules, determinism and exact resume."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ganbench.run import _make_trainer, train_run
from ganbench.runner import prepare
from ganbench.store import CHECKPOINT, Store, load_checkpoint
from ganbench.train import (
    MinibatchSampler,
    NoisePrior,
    Schedule,
    Trainer,
    iterations_for,
    learning_rate,
    momentum,
)
from tests.conftest import toy_config

SGD = {"name": "sgd", "lr": 0.05, "discriminator_lr": None, "betas": [0.5, 0.999],
       "momentum": 0.0, "momentum_final": None, "momentum_start_epoch": 1,
       "momentum_saturate_epoch": 250, "lr_decay": 1.0, "lr_min": 0.0, "weight_decay": 0.0}


class SpyLoss:
    """Non-saturating arithmetic, recording the order of calls."""

    def __init__(self, events):
        self.events = events

    def discriminator_loss(self, real_logits, fake_logits):
        self.events.append("d_loss")
        return nn.functional.softplus(-real_logits).mean() + nn.functional.softplus(fake_logits).mean()

    def generator_loss(self, fake_logits):
        self.events.append("g_loss")
        return nn.functional.softplus(-fake_logits).mean()


def _trainer(events, k=1, update="alternating", iterations=4, n=64, m=8, seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    D = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1), nn.Flatten(0))
    data = torch.arange(n * 2, dtype=torch.float32).reshape(n, 2) / n
    sampler = MinibatchSampler(data, m, seed=seed)
    noise = NoisePrior("uniform", 3, 1.0, torch.device("cpu"), seed=seed + 1)
    schedule = Schedule(iterations=iterations, discriminator_steps=k, batch_size=m,
                        update=update, log_every=2, checkpoint_every=100)
    return Trainer(G, D, SpyLoss(events), sampler, noise, dict(SGD), schedule)


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(module, before):
    return any(not torch.equal(p, b) for p, b in zip(module.parameters(), before))


def _spy_optimizers(t, events):
    for label, opt in (("D", t.opt_d), ("G", t.opt_g)):
        original = opt.step

        def step(*args, _label=label, _original=original, **kwargs):
            g0, d0 = _snapshot(t.G), _snapshot(t.D)
            out = _original(*args, **kwargs)
            events.append((f"{_label} step", _changed(t.G, g0), _changed(t.D, d0)))
            return out

        opt.step = step


def _spy_data(t, batches, noises):
    next_batch, sample = t.sampler.next, t.noise.sample

    def spy_next():
        batch = next_batch()
        batches.append(batch.clone())
        return batch

    def spy_sample(m):
        z = sample(m)
        noises.append(z.clone())
        return z

    t.sampler.next, t.noise.sample = spy_next, spy_sample


@pytest.mark.parametrize("k", [1, 3])
def test_k_discriminator_steps_then_one_generator_step(k):
    events = []
    t = _trainer(events, k=k, iterations=4)
    _spy_optimizers(t, events)
    t.run()
    steps = [e for e in events if isinstance(e, tuple)]
    assert [s[0] for s in steps] == (["D step"] * k + ["G step"]) * 4
    for name, g_changed, d_changed in steps:
        if name == "D step":
            assert d_changed and not g_changed  # only D's parameters
        else:
            assert g_changed and not d_changed  # only G's parameters
    losses = [e for e in events if isinstance(e, str)]
    assert losses == (["d_loss"] * k + ["g_loss"]) * 4


def test_every_step_has_a_fresh_minibatch_and_fresh_noise():
    events, batches, noises = [], [], []
    t = _trainer(events, k=2, iterations=3, n=64, m=8)
    _spy_data(t, batches, noises)
    t.run()
    assert len(batches) == 6  # k per iteration
    assert len(noises) == 9  # k discriminator steps + 1 generator step per iteration
    rows = [tuple(map(tuple, b.tolist())) for b in batches]
    flat = [r for batch in rows for r in batch]
    assert len(set(flat)) == len(flat)  # within an epoch no example is reused
    assert len({tuple(z.flatten().tolist()) for z in noises}) == len(noises)


def test_epochs_reshuffle_and_cover_the_data():
    sampler = MinibatchSampler(torch.arange(10.0).unsqueeze(1), 5, seed=0)
    first = torch.cat([sampler.next(), sampler.next()]).flatten().sort().values
    assert torch.equal(first, torch.arange(10.0))
    third = sampler.next()  # a new epoch, a new permutation
    assert len(third) == 5


def test_simultaneous_mode_uses_one_fake_batch_for_both_players():
    events, batches, noises = [], [], []
    t = _trainer(events, update="simultaneous", iterations=1)
    G0, D0 = copy.deepcopy(t.G), copy.deepcopy(t.D)
    _spy_data(t, batches, noises)
    _spy_optimizers(t, events)
    t.run()
    assert len(batches) == 1 and len(noises) == 1
    assert [e[0] for e in events if isinstance(e, tuple)] == ["D step", "G step"]
    # Reference: both gradients at the old parameters, from the same fake batch.
    real, z = batches[0], noises[0]
    fake = G0(z)
    d_loss = nn.functional.softplus(-D0(real)).mean() + nn.functional.softplus(D0(fake)).mean()
    g_loss = nn.functional.softplus(-D0(fake)).mean()
    d_grads = torch.autograd.grad(d_loss, list(D0.parameters()), retain_graph=True)
    g_grads = torch.autograd.grad(g_loss, list(G0.parameters()))
    for p, p0, g in zip(t.D.parameters(), D0.parameters(), d_grads):
        torch.testing.assert_close(p, p0 - SGD["lr"] * g)
    for p, p0, g in zip(t.G.parameters(), G0.parameters(), g_grads):
        torch.testing.assert_close(p, p0 - SGD["lr"] * g)


def test_alternating_generator_step_sees_the_updated_discriminator():
    events, batches, noises = [], [], []
    t = _trainer(events, k=1, iterations=1)
    G0 = copy.deepcopy(t.G)
    _spy_data(t, batches, noises)
    t.run()
    D1 = t.D  # after the D step; unchanged by the G step (checked above)
    z = noises[1]
    g_loss = nn.functional.softplus(-D1(G0(z))).mean()
    grads = torch.autograd.grad(g_loss, list(G0.parameters()))
    for p, p0, g in zip(t.G.parameters(), G0.parameters(), grads):
        torch.testing.assert_close(p, p0 - SGD["lr"] * g)


def test_learning_rate_and_momentum_schedules():
    opt = dict(SGD, lr=0.1, lr_decay=1.000004, lr_min=1e-6, momentum=0.5, momentum_final=0.7)
    assert learning_rate(opt, 0.1, 0) == pytest.approx(0.1)
    assert learning_rate(opt, 0.1, 1000) == pytest.approx(0.1 / 1.000004**1000, rel=1e-12)
    assert learning_rate(opt, 0.1, 10**8) == 1e-6  # the floor
    assert momentum(opt, 0) == pytest.approx(0.5)
    assert momentum(opt, 1) == pytest.approx(0.5)
    assert momentum(opt, 125) == pytest.approx(0.5 + 0.2 * 124 / 249)
    assert momentum(opt, 250) == pytest.approx(0.7)
    assert momentum(opt, 400) == pytest.approx(0.7)
    assert momentum(dict(opt, momentum_final=None), 100) == 0.5


def test_schedules_reach_the_optimizers():
    events = []
    t = _trainer(events, iterations=3)
    t.opt.update(lr_decay=2.0, momentum=0.5, momentum_final=0.9, momentum_start_epoch=0,
                 momentum_saturate_epoch=1)
    t.run()
    # 3 minibatches seen before the last update's schedule was set at 2 batches: lr / 2**2
    assert t.opt_d.param_groups[0]["lr"] == pytest.approx(SGD["lr"] / 4)
    assert t.opt_g.param_groups[0]["lr"] == pytest.approx(SGD["lr"] / 4)
    assert t.opt_d.param_groups[0]["momentum"] == pytest.approx(0.5)  # still in epoch 0


def test_iterations_for_epochs():
    train = {"steps": None, "epochs": 2, "batch_size": 100, "discriminator_steps": 1,
             "update": "alternating"}
    assert iterations_for(train, 50000) == 1000
    assert iterations_for(dict(train, discriminator_steps=2), 50000) == 500
    assert iterations_for(dict(train, update="simultaneous", discriminator_steps=2), 50000) == 1000
    assert iterations_for(dict(train, steps=7), 50000) == 7


def _params(path):
    state = load_checkpoint(path)
    return state["generator"], state["discriminator"]


def _assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_same_seed_gives_bitwise_the_same_parameters(tmp_path):
    config = toy_config(options={"generator": {"hidden": [16]},
                                 "discriminator": {"hidden": [16], "dropout": 0.3},
                                 "dataset": {"n_train": 512, "n_valid": 128, "n_test": 128}})
    a = train_run(config, store=Store(tmp_path / "a"), device="cpu")
    b = train_run(config, store=Store(tmp_path / "b"), device="cpu")
    assert a["run_id"] == b["run_id"] and a["status"] == b["status"] == "done"
    ga, da = _params(tmp_path / "a" / a["run_id"] / CHECKPOINT)
    gb, db = _params(tmp_path / "b" / b["run_id"] / CHECKPOINT)
    _assert_bitwise_equal(ga, gb)
    _assert_bitwise_equal(da, db)
    c = train_run(toy_config(seed=1), store=Store(tmp_path / "c"), device="cpu")
    gc, _ = _params(tmp_path / "c" / c["run_id"] / CHECKPOINT)
    assert not all(torch.equal(ga[k], gc[k]) for k in ga)


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path, monkeypatch, update):
    config = toy_config(
        options={"generator": {"hidden": [16]}, "discriminator": {"hidden": [16], "dropout": 0.3},
                 "dataset": {"n_train": 512, "n_valid": 128, "n_test": 128}},
        train={"steps": 30, "batch_size": 32, "log_every": 5, "checkpoint_every": 10,
               "update": update},
        optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.5, "lr_decay": 1.01},
    )
    whole = train_run(config, store=Store(tmp_path / "whole"), device="cpu")

    import ganbench.run as runner

    saves = []
    original = runner.atomic_torch_save

    def save_then_interrupt(path, obj):
        original(path, obj)
        saves.append(obj["step"])
        if len(saves) == 2:
            raise KeyboardInterrupt  # Ctrl-C right after the checkpoint at step 20

    monkeypatch.setattr(runner, "atomic_torch_save", save_then_interrupt)
    store = Store(tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        train_run(config, store=store, device="cpu")
    assert store.read_record(whole["run_id"])["status"] == "interrupted"
    monkeypatch.setattr(runner, "atomic_torch_save", original)
    resumed = train_run(config, store=store, device="cpu")
    assert resumed["status"] == "done" and resumed["resumed_from_step"] == 20
    assert resumed["steps"] == 30
    g1, d1 = _params(tmp_path / "whole" / whole["run_id"] / CHECKPOINT)
    g2, d2 = _params(tmp_path / "cut" / whole["run_id"] / CHECKPOINT)
    _assert_bitwise_equal(g1, g2)
    _assert_bitwise_equal(d1, d2)
    curve1 = (tmp_path / "whole" / whole["run_id"] / "losses.csv").read_text().splitlines()
    curve2 = (tmp_path / "cut" / whole["run_id"] / "losses.csv").read_text().splitlines()
    assert [r.split(",")[:3] for r in curve1] == [r.split(",")[:3] for r in curve2]


def test_a_done_run_is_not_trained_again(tmp_path, monkeypatch):
    store = Store(tmp_path)
    first = train_run(toy_config(), store=store, device="cpu")
    import ganbench.run as runner

    monkeypatch.setattr(runner, "_train_locked", lambda *a, **k: pytest.fail("trained again"))
    again = train_run(toy_config(), store=store, device="cpu")
    assert again == first


def test_nan_during_training_is_recorded_as_diverged_with_the_step(tmp_path):
    class Exploding:
        def discriminator_loss(self, r, f):
            return nn.functional.softplus(-r).mean() + nn.functional.softplus(f).mean()

        def generator_loss(self, f):
            return nn.functional.softplus(-f).mean()

    config = toy_config(train={"steps": 40, "batch_size": 32, "log_every": 5,
                               "checkpoint_every": 10})
    experiment = prepare(config)
    calls = {"n": 0}
    real_loss = experiment.loss

    def d_loss(r, f):
        calls["n"] += 1
        value = real_loss.discriminator_loss(r, f)
        return value * float("nan") if calls["n"] == 23 else value

    experiment.loss = Exploding()
    experiment.loss.discriminator_loss = d_loss
    store = Store(tmp_path)
    record = train_run(config, store=store, device="cpu", experiment=experiment)
    assert record["status"] == "diverged"
    assert record["failed_step"] == 23
    assert "discriminator loss" in record["reason"]
    # the last good checkpoint (step 20) and the record stay
    state = load_checkpoint(tmp_path / record["run_id"] / CHECKPOINT)
    assert state["step"] == 20
    assert all(torch.isfinite(v).all() for v in state["generator"].values())
    assert store.read_record(record["run_id"])["status"] == "diverged"


def test_trainer_state_round_trips_through_weights_only_load(tmp_path):
    experiment = prepare(toy_config())
    t = _make_trainer(experiment, torch.device("cpu"))
    t.run()
    path = tmp_path / "c.pt"
    torch.save(t.state_dict(), path)
    state = torch.load(path, weights_only=True)
    assert state["step"] == 20


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_a_gpu_resumes_exactly(tmp_path, monkeypatch):
    config = toy_config()
    whole = train_run(config, store=Store(tmp_path / "whole"), device="cuda")
    assert whole["status"] == "done" and whole["device"].startswith("cuda")
    import ganbench.run as runner

    original = runner.atomic_torch_save

    def save_then_interrupt(path, obj):
        original(path, obj)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "atomic_torch_save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, store=Store(tmp_path / "cut"), device="cuda")
    monkeypatch.setattr(runner, "atomic_torch_save", original)
    train_run(config, store=Store(tmp_path / "cut"), device="cuda")
    g1, _ = _params(tmp_path / "whole" / whole["run_id"] / CHECKPOINT)
    g2, _ = _params(tmp_path / "cut" / whole["run_id"] / CHECKPOINT)
    _assert_bitwise_equal(g1, g2)


def test_nan_samples_at_scoring_are_recorded_not_raised(tmp_path, monkeypatch):
    import ganbench.evaluate as runner

    real_generate = runner.generate

    def nan_generate(*args, **kwargs):
        samples = real_generate(*args, **kwargs)
        samples[3] = float("nan")
        return samples

    monkeypatch.setattr(runner, "generate", nan_generate)
    record = train_run(toy_config(score={"parzen": True, "n_samples": 200}), store=Store(tmp_path),
                       device="cpu")
    assert record["status"] == "diverged"
    assert "generator samples contain NaN or inf (1 of 200)" in record["reason"]
    assert Store(tmp_path).read_record(record["run_id"])["status"] == "diverged"


def test_ctrl_c_while_scoring_records_interrupted_and_the_rerun_scores(tmp_path, monkeypatch):
    import ganbench.run as runner

    config = toy_config(score={"parzen": True, "n_samples": 200})
    store = Store(tmp_path)
    real_score = runner._score

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, store=store, device="cpu")
    from ganbench.config import resolve

    record = store.read_record(resolve(config).run_id)
    assert record["status"] == "interrupted" and "while scoring" in record["reason"]
    monkeypatch.setattr(runner, "_score", real_score)
    again = train_run(config, store=store, device="cpu")
    assert again["status"] == "done" and again["parzen_mean"] is not None
    assert again["resumed_from_step"] == record["steps"]


def test_ctrl_c_before_training_begins_records_interrupted(tmp_path, monkeypatch):
    import ganbench.run as runner
    from ganbench.config import resolve

    config = toy_config()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "versions", interrupted)  # after the lock, before the record
    with pytest.raises(KeyboardInterrupt):
        train_run(config, store=Store(tmp_path), device="cpu")
    assert Store(tmp_path).read_record(resolve(config).run_id) is None
    monkeypatch.undo()

    import ganbench.record as runner

    real_write = runner.atomic_write_json

    def write_then_interrupted(path, obj):  # Ctrl-C as the "running" record lands
        real_write(path, obj)
        if isinstance(obj, dict) and obj.get("status") == "running":
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "atomic_write_json", write_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, store=Store(tmp_path), device="cpu")
    record = Store(tmp_path).read_record(resolve(config).run_id)
    assert record["status"] == "interrupted" and "before training began" in record["reason"]
