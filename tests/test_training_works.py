"""Training works: on the 1-D Gaussian of the paper's Figure 1, both losses bring the
generator's sample mean and standard deviation within 10% of the data's."""

from __future__ import annotations

import pytest
import torch

from ganbench.config import RunConfig
from ganbench.evaluate import generate
from ganbench.run import _make_trainer
from ganbench.runner import prepare


@pytest.mark.parametrize("loss", ["minimax", "non-saturating"])
def test_gaussian_1d_is_learned(loss):
    config = RunConfig(
        generator="mlp", discriminator="mlp", loss=loss, dataset="gaussian-1d", seed=0,
        options={"generator": {"hidden": [32, 32]}, "discriminator": {"hidden": [64, 64]},
                 "dataset": {"mean": 4.0, "std": 0.5, "n_train": 4096}},
        train={"steps": 3000, "batch_size": 256, "discriminator_steps": 2, "log_every": 100},
        noise={"prior": "normal", "dim": 4},
        optimizer={"name": "adam", "lr": 1e-3, "betas": [0.0, 0.9]},
        score={"parzen": False},
    )
    experiment = prepare(config)
    trainer = _make_trainer(experiment, torch.device("cpu"))
    trainer.run()
    samples = generate(trainer.G, experiment.config.noise, 5000, seed=99, device=torch.device("cpu"))
    data = experiment.dataset.splits["test"]
    assert samples.mean().item() == pytest.approx(data.mean().item(), rel=0.10)
    assert samples.std().item() == pytest.approx(data.std().item(), rel=0.10)
