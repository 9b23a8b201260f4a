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
