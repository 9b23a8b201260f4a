"""ganbench's Algorithm 1 loop against a bare PyTorch loop doing the same updates on the same
modules (MLPs of the paper's MNIST size, batch 100). Target: within 5% per step.

    make bench    # or: pytest benchmarks/test_bench_train.py --benchmark-only -o addopts=""
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganbench.train import MinibatchSampler, NoisePrior, Schedule, Trainer

STEPS = 30
M = 100
OPT = {"name": "sgd", "lr": 0.1, "discriminator_lr": None, "betas": [0.5, 0.999],
       "momentum": 0.5, "momentum_final": None, "momentum_start_epoch": 1,
       "momentum_saturate_epoch": 250, "lr_decay": 1.0, "lr_min": 0.0, "weight_decay": 0.0}


def _modules(device):
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(100, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(),
                      nn.Linear(1200, 784), nn.Sigmoid()).to(device)
    D = nn.Sequential(nn.Linear(784, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(),
                      nn.Linear(1200, 1), nn.Flatten(0)).to(device)
    data = torch.rand(10000, 784, device=device)
    return G, D, data


class NonSaturating:
    def discriminator_loss(self, r, f):
        return F.softplus(-r).mean() + F.softplus(f).mean()

    def generator_loss(self, f):
        return F.softplus(-f).mean()


def bare_loop(G, D, data, steps, device):
    """What a researcher would write by hand: the same updates, nothing else."""
    opt_d = torch.optim.SGD(D.parameters(), lr=0.1, momentum=0.5)
    opt_g = torch.optim.SGD(G.parameters(), lr=0.1, momentum=0.5)
    for _ in range(steps):
        real = data[torch.randint(len(data), (M,), device=device)]
        z = torch.rand(M, 100, device=device) * 2 - 1
        with torch.no_grad():
            fake = G(z)
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        z = torch.rand(M, 100, device=device) * 2 - 1
        g_loss = F.softplus(-D(G(z))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return g_loss.item()


def ganbench_loop(G, D, data, steps, device):
    schedule = Schedule(iterations=steps, discriminator_steps=1, batch_size=M,
                        update="alternating", log_every=50, checkpoint_every=10**9)
    trainer = Trainer(G, D, NonSaturating(), MinibatchSampler(data, M, seed=0),
                      NoisePrior("uniform", 100, 1.0, device, seed=1), dict(OPT), schedule)
    trainer.run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return trainer.curve.rows[-1]


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("loop", [bare_loop, ganbench_loop], ids=["bare", "ganbench"])
def test_training_loop(benchmark, loop, device):
    dev = torch.device(device)
    G, D, data = _modules(dev)
    steps = STEPS if device == "cpu" else 500
    loop(G, D, data, 3, dev)  # warm-up
    benchmark.extra_info["steps"] = steps
    benchmark.pedantic(loop, args=(G, D, data, steps, dev), rounds=5, iterations=1)
