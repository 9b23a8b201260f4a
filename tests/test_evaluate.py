"""The evaluation stage: one protocol, one table of seeds, metrics as columns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from ganbench import evaluate, seeds
from ganbench.config import resolve
from ganbench.runner import prepare
from tests.conftest import toy_config


def _parzen_float64(samples, valid, test, sigmas):
    """Brute-force Parzen in float64 numpy: an independent reference."""
    def log_density(x, mu, sigma):
        d2 = ((x[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
        return (logsumexp(-d2 / (2 * sigma**2), axis=1) - math.log(len(mu))
                - x.shape[1] * math.log(sigma * math.sqrt(2 * math.pi)))

    s, v, t = (np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in (samples, valid, test))
    best = max(sigmas, key=lambda sg: log_density(v, s, sg).mean())
    ll = log_density(t, s, best)
    return best, ll.mean(), ll.std() / math.sqrt(len(ll))  # ddof=0, as parzen_ll.py


def test_every_stream_has_its_own_offset_and_unknown_streams_are_named():
    assert seeds.seed_for(10, "score") == 13 and seeds.seed_for(10, "data") == 10
    assert len({v for k, v in seeds.SEEDS.items() if k != "init"}) == len(seeds.SEEDS) - 1
    with pytest.raises(KeyError, match="unknown random stream 'nope'"):
        seeds.seed_for(0, "nope")


def test_protocol_comes_from_the_score_settings():
    config = resolve(toy_config(score={"parzen": True, "n_samples": 300, "n_valid": 64,
                                       "n_test": 50}))
    assert evaluate.Protocol.from_config(config) == evaluate.Protocol(300, 64, 50, ("parzen",))
    assert evaluate.Protocol.from_config(config, n_samples=99).n_samples == 99
    assert evaluate.Protocol.from_config(resolve(toy_config())).metrics == ()


def test_columns_follow_the_metric_naming_rule():
    assert evaluate.columns("parzen", {"mean": 1.0, "sigma": 0.1}) == {
        "parzen_mean": 1.0, "parzen_sigma": 0.1}
    assert evaluate.columns("fid", {"fid": 3.0}) == {"fid": 3.0}
    assert evaluate.columns("classifier-score", {"classifier-score": 9.9, "std": 0.1}) == {
        "classifier_score": 9.9, "classifier_score_std": 0.1}


def test_evaluate_matches_a_float64_reference_on_the_scored_draw():
    config = resolve(toy_config(score={"parzen": True, "n_samples": 200, "n_test": 100}))
    exp = prepare(config)
    dev = torch.device("cpu")
    values = evaluate.evaluate(exp.generator, config, exp.dataset, dev)
    # the draw is the run's "score" stream: the same samples again, by seed
    samples = evaluate.generate(exp.generator, config.noise, 200,
                                seed=config.seed + seeds.SEEDS["score"], device=dev)
    splits = exp.dataset.splits
    from ganbench.parzen import DEFAULT_SIGMAS

    sigma, mean, stderr = _parzen_float64(samples, splits["valid"][:1000], splits["test"][:100],
                                          DEFAULT_SIGMAS)
    assert values["parzen_sigma"] == pytest.approx(sigma)
    assert values["parzen_mean"] == pytest.approx(mean, abs=1e-4)
    assert values["parzen_stderr"] == pytest.approx(stderr, rel=1e-4)
    assert (values["parzen_n_samples"], values["parzen_n_test"]) == (200, 100)
    assert values["parzen_seconds"] >= 0


def test_validation_score_uses_the_same_draw_and_never_the_test_split():
    config = resolve(toy_config(score={"parzen": True, "n_samples": 200, "n_valid": 64}))
    exp = prepare(config)
    dev = torch.device("cpu")
    before = exp.dataset.splits["test"].clone()
    exp.dataset.splits["test"] = torch.full_like(before, float("nan"))  # would poison a test score
    entry = evaluate.validation_score(exp.generator, config, exp.dataset, dev)
    samples = evaluate.draw(exp.generator, config, "score", 200, dev)
    from ganbench.parzen import DEFAULT_SIGMAS

    sigma, mean, _ = _parzen_float64(samples, exp.dataset.splits["valid"][:64],
                                     exp.dataset.splits["valid"][:64], DEFAULT_SIGMAS)
    assert entry["sigma"] == pytest.approx(sigma)
    assert entry["parzen_valid"] == pytest.approx(mean, abs=1e-4)


def test_non_finite_samples_raise_nonfinite_with_the_count():
    with pytest.raises(evaluate.NonFinite, match=r"\(2 of 5\)"):
        evaluate.check_finite(torch.tensor([[0.0], [float("nan")], [1.0], [float("inf")], [2.0]]))


def test_generate_restores_training_mode_and_uses_eval_mode():
    g = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    g.train()
    noise = {"prior": "uniform", "dim": 2, "scale": 1.0}
    a = evaluate.generate(g, noise, 50, seed=1, device=torch.device("cpu"))
    b = evaluate.generate(g, noise, 50, seed=1, device=torch.device("cpu"))
    assert g.training and torch.equal(a, b)  # no dropout noise: eval mode


def test_score_samples_runs_the_classifier_once_per_tensor():
    """fid, kid and prdc share the features of the samples and of the real examples, and
    classify is called once: the metrics see a memoising view of the dataset."""
    from types import SimpleNamespace

    calls = {"features": [], "classify": []}

    def features(x):
        calls["features"].append(len(x))
        return x[:, :3] * 2

    def classify(x):
        calls["classify"].append(len(x))
        return torch.softmax(x[:, :4], dim=1)

    test = torch.rand(40, 20, generator=torch.Generator().manual_seed(1))
    data = SimpleNamespace(shape=(20,), splits={"train": test, "valid": test, "test": test},
                           features=features, classify=classify)
    samples = torch.rand(30, 20, generator=torch.Generator().manual_seed(2))
    protocol = evaluate.Protocol(n_samples=30, n_valid=10,
                                 metrics=("fid", "kid", "prdc", "classifier-score"))
    once = evaluate.score_samples(samples, data, protocol, torch.device("cpu"))
    assert sum(calls["features"]) == 30 + 40 and sum(calls["classify"]) == 30
    for name in protocol.metrics:  # each metric alone gives the same numbers
        alone = evaluate.score_samples(samples, data, evaluate.Protocol(
            n_samples=30, n_valid=10, metrics=(name,)), torch.device("cpu"))
        assert {k: v for k, v in alone.items() if k in once and not k.endswith("seconds")
                and k != "metrics"} == {k: once[k] for k in alone
                                        if not k.endswith("seconds") and k != "metrics"}
    assert once["metrics"]["fid"]["settings"]["n_real"] == 40


def test_the_memoised_dataset_is_the_dataset_but_for_the_cache():
    class Digits:
        name = "digits"
        shape = (3,)

        def __init__(self):
            self.n = 0

        def features(self, x):
            self.n += 1
            return x * 2

    real = Digits()
    data = evaluate.MemoisedDataset(real)
    x = torch.rand(5, 3)
    assert isinstance(data, Digits) and data.name == "digits" and data.shape == (3,)
    assert not callable(getattr(data, "classify", None))  # only what the dataset has
    a = data.features(x)
    a += 1  # an answer is a copy
    assert torch.equal(data.features(x[:]), x * 2) and real.n == 1  # a view of the same data
    assert torch.equal(data.features(x[:4]), x[:4] * 2) and real.n == 2  # another shape
    x.mul_(0)  # changed in place: computed again
    assert torch.equal(data.features(x), torch.zeros(5, 3)) and real.n == 3
    with torch.inference_mode():  # inference tensors have no version counter: not cached
        y = torch.rand(2, 3)
        assert torch.equal(data.features(y), y * 2) and torch.equal(data.features(y), y * 2)
    assert real.n == 5


def test_protocol_with_options_replaces_only_the_metrics_named():
    p = evaluate.Protocol(metrics=("fid", "kid"), options=(("fid", (("n_real", 10),)),
                                                           ("kid", (("subsets", 3),))))
    q = p.with_options({"fid": {"n_real": 50, "batch_size": 7}, "prdc": {}})
    assert q.options_of("fid") == {"n_real": 50, "batch_size": 7}
    assert q.options_of("kid") == {"subsets": 3} and "prdc" not in dict(q.options)
    assert p.options_of("fid") == {"n_real": 10}  # a new protocol; this one unchanged
    assert p.with_options({"kid": {}}).options == (("fid", (("n_real", 10),)),)
