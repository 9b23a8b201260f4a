"""The training loops the benchmarks compare: ganbench's, and a bare PyTorch loop written the
way a researcher would, kept honest: the same plugin modules (so the same initialisation),
the same optimizers and schedules (SGD's lr decay and momentum ramp set every minibatch, as
the paper's preset does), the same updates (k = 1 alternating: D on a real and a fake
minibatch, then G), the same data sampling (a fresh permutation each epoch, minibatches
taken in order). It does what any hand-written loop does and ganbench does not: it lets G's
step compute D's weight gradients, then throws them away.

PacGAN's step (issue 21) has a bare loop of its own, of simultaneous updates
(``bare_simultaneous_loop``). Two sizes: the README's toy (ring-2d, 64-64 MLPs, noise 4, Adam 1e-3, batch 100) and the
paper preset's MNIST networks (100-1200-1200-784 ReLU/sigmoid generator, 784-240x5-240x5-1
maxout discriminator with dropout, SGD lr 0.1 decaying by 1.000004 per minibatch, momentum
0.5 -> 0.7, batch 100) on MNIST (50,000 training images).
"""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

from ganbench import compute, presets
from ganbench.config import RunConfig
from ganbench.runner import Experiment, prepare
from ganbench.store import Store
from ganbench.train import MinibatchSampler, NoisePrior, Schedule, Trainer

TOY_STEPS = 2000


def toy_config(steps: int = TOY_STEPS, **train: Any) -> RunConfig:
    """The README's worked example (`ganbench train -G mlp -D mlp -L non-saturating -X ring-2d
    --steps 2000 --set noise.dim=4 --set generator.hidden=[64,64] ...`)."""
    return RunConfig(generator="mlp", discriminator="mlp", loss="non-saturating",
                     dataset="ring-2d", seed=0,
                     options={"generator": {"hidden": [64, 64]},
                              "discriminator": {"hidden": [64, 64]}},
                     noise={"dim": 4}, optimizer={"lr": 1e-3}, train={"steps": steps, **train},
                     score={"parzen": False, "metrics": []})


@functools.cache
def _paper_config(update: str) -> RunConfig:
    return presets.find("paper").config(update=update, seed=0, steps=100)  # reads MNIST


def paper_config(update: str = "alternating", **train: Any) -> RunConfig:
    """The paper preset's run (its networks, loss, noise, optimizer, MNIST), selection off."""
    config = copy.deepcopy(_paper_config(update))
    config.train.update(train)
    config.score.update(select="last", parzen=False, metrics=[])
    return config


def paper_experiment(update: str = "alternating", **train: Any) -> Experiment:
    """The paper's run built; pytest.skip where MNIST cannot be loaded."""
    try:
        return prepare(paper_config(update, **train))
    except Exception as exc:  # no MNIST here: nothing to measure
        import pytest

        pytest.skip(f"MNIST not available: {exc}")


# ---- ganbench's loops ------------------------------------------------------------------------


def ganbench_stage(exp: Experiment, device: str = "cpu") -> float:
    """``ganbench train``'s training stage, as ``run.Lifecycle.run`` does it: config.json and
    the first record, the thread policy (or train.threads), Algorithm 1 with its
    checkpoints, loss curve and divergence checks. Returns the record's training seconds."""
    from ganbench.run import Lifecycle

    dev = torch.device(device)
    with tempfile.TemporaryDirectory(prefix="ganbench-bench-") as root:
        store = Store(root)
        with store.lock(exp.run_id) as folder:
            life = Lifecycle(exp, folder, dev, store=store)
            life.begin()
            with compute.torch_threads(compute.threads_for_run(exp, dev.type)):
                life.train()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            assert life.record.status == "done", life.record
            return life.trainer.seconds


def ganbench_loop(exp: Experiment, steps: int, device: str = "cpu") -> float:
    """ganbench's Trainer alone (Algorithm 1, no checkpoints), on the experiment's modules and
    settings; returns seconds."""
    config, dev = exp.config, torch.device(device)
    settings = config.settings.train
    schedule = Schedule(iterations=steps, discriminator_steps=settings.discriminator_steps,
                        batch_size=settings.batch_size, update=settings.update,
                        log_every=settings.log_every, checkpoint_every=10**9)
    noise = config.settings.noise
    data = exp.dataset.splits["train"].to(dev)
    trainer = Trainer(exp.generator.to(dev), exp.discriminator.to(dev), exp.loss,
                      MinibatchSampler(data, schedule.batch_size, seed=1),
                      NoisePrior(noise.prior, noise.dim, noise.scale, dev, seed=2),
                      config.optimizer, schedule)
    started = time.perf_counter()
    with compute.matmul_precision(settings.matmul_precision):
        trainer.run()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


# ---- the bare loop ---------------------------------------------------------------------------


def bare_loop(exp: Experiment, steps: int, device: str = "cpu") -> float:
    """A hand-written loop over the experiment's modules: the same updates; returns seconds."""
    config, dev = exp.config, torch.device(device)
    opt, noise = config.optimizer, config.settings.noise
    G, D = exp.generator.to(dev), exp.discriminator.to(dev)
    scale = getattr(exp.loss, "discriminator_scale", 1.0)
    data = exp.dataset.splits["train"].to(dev)
    m = config.settings.train.batch_size
    if opt["name"] == "sgd":
        opt_d = torch.optim.SGD(D.parameters(), lr=opt["lr"], momentum=opt["momentum"])
        opt_g = torch.optim.SGD(G.parameters(), lr=opt["lr"], momentum=opt["momentum"])
    else:
        opt_d = torch.optim.Adam(D.parameters(), lr=opt["lr"], betas=tuple(opt["betas"]))
        opt_g = torch.optim.Adam(G.parameters(), lr=opt["lr"], betas=tuple(opt["betas"]))
    per_epoch = len(data) // m
    gen = torch.Generator().manual_seed(1)
    perm, position, batches = torch.randperm(len(data), generator=gen), 0, 0

    def z() -> torch.Tensor:
        if noise.prior == "uniform":
            return (torch.rand(m, noise.dim, device=dev) * 2 - 1) * noise.scale
        return torch.randn(m, noise.dim, device=dev) * noise.scale

    started = time.perf_counter()
    with compute.matmul_precision(config.settings.train.matmul_precision):
        for _ in range(steps):
            if opt["name"] == "sgd":  # the preset's schedules, set every minibatch
                lr = max(opt["lr"] * opt["lr_decay"] ** (-batches), opt["lr_min"])
                epochs = batches // per_epoch
                a = min(max((epochs - opt["momentum_start_epoch"]) / max(
                    opt["momentum_saturate_epoch"] - opt["momentum_start_epoch"], 1), 0), 1)
                mom = opt["momentum"] * (1 - a) + (opt["momentum_final"] or opt["momentum"]) * a
                for group in opt_d.param_groups + opt_g.param_groups:
                    group["lr"], group["momentum"] = lr, mom
            if position + m > len(data):
                perm, position = torch.randperm(len(data), generator=gen), 0
            real = data[perm[position:position + m].to(dev)]
            position += m
            batches += 1
            with torch.no_grad():
                fake = G(z())
            d_loss = scale * (F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean())
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = F.softplus(-D(G(z()))).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        g_loss.item()
    return time.perf_counter() - started


def pacgan_config(pack: int, steps: int) -> RunConfig:
    """The pacgan preset's run (issue 21): PacGAN's networks packed ``pack``, batch 100 m,
    Adam, simultaneous updates, ring-2d-pacgan; no scoring."""
    config = presets.find("pacgan").config(pack=pack, dataset="ring-2d-pacgan", seed=0,
                                           steps=steps)
    config.score.update(metrics=[])
    return config


def bare_simultaneous_loop(exp: Experiment, steps: int, device: str = "cpu") -> float:
    """A hand-written loop of simultaneous updates (the PacGAN preset's): one minibatch, both
    players' gradients from the same fake batch, applied together; Adam; returns seconds."""
    config, dev = exp.config, torch.device(device)
    opt, noise = config.optimizer, config.settings.noise
    G, D = exp.generator.to(dev).train(), exp.discriminator.to(dev).train()
    d_params, g_params = list(D.parameters()), list(G.parameters())
    opt_d = torch.optim.Adam(d_params, lr=opt["lr"], betas=tuple(opt["betas"]))
    opt_g = torch.optim.Adam(g_params, lr=opt["lr"], betas=tuple(opt["betas"]))
    data, m = exp.dataset.splits["train"].to(dev), config.settings.train.batch_size
    gen = torch.Generator().manual_seed(1)
    perm, position = torch.randperm(len(data), generator=gen), 0
    started = time.perf_counter()
    for _ in range(steps):
        if position + m > len(data):
            perm, position = torch.randperm(len(data), generator=gen), 0
        real = data[perm[position:position + m].to(dev)]
        position += m
        fake = G(torch.randn(m, noise.dim, device=dev) * noise.scale)
        real_logits, fake_logits = D(real), D(fake)
        d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        g_loss = F.softplus(-fake_logits).mean()
        d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
        for p, g in zip(d_params + g_params, d_grads + torch.autograd.grad(g_loss, g_params)):
            p.grad = g
        opt_d.step()
        opt_g.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    g_loss.item()
    return time.perf_counter() - started


# ---- conditions ------------------------------------------------------------------------------


@contextmanager
def busy_core(busy: bool = True):
    """A busy loop in another process for the duration (one core taken), when ``busy``."""
    if not busy:
        yield None
        return
    # a session of its own: with the kernel's autogroup scheduling, a child in our session
    # would share our CPU share, not take a core of the machine as another user's job does
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                               start_new_session=True)
    try:
        time.sleep(0.5)  # let it take its core
        yield process
    finally:
        process.kill()
        process.wait()


def machine() -> dict[str, Any]:
    """What the measurement ran on, for extra_info."""
    import os
    import platform

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": platform.processor() or platform.machine(), "cores": compute.cpu_cores(),
            "load_average_1min": round(load[0], 2) if load else None,
            "torch": torch.__version__}


class Interleaved:
    """Cases run in turn, a round at a time (the order rotating from round to round), so that
    a load that comes and goes on a shared machine falls on each of them alike. Each call of
    the object is one round; ``results[name]`` holds (wall seconds, CPU seconds of this
    thread) per round, wall being what the case returns (its loop's own clock)."""

    def __init__(self, cases: dict[str, Any]):
        self.cases, self.rounds = cases, 0
        self.results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}

    def __call__(self) -> None:
        names = list(self.cases)
        shift = self.rounds % len(names)
        for name in names[shift:] + names[:shift]:
            cpu = time.thread_time()
            wall = self.cases[name]()
            self.results[name].append((wall, time.thread_time() - cpu))
        self.rounds += 1

    def best(self, name: str, per: int = 1) -> tuple[float, float]:
        """(min, median) wall seconds of a case, divided by ``per``."""
        walls = sorted(w for w, _ in self.results[name])
        return walls[0] / per, walls[len(walls) // 2] / per

    def ratio(self, name: str, base: str) -> dict[str, float]:
        """``name`` over ``base``: of the minima (wall and CPU), and the median of the
        rounds' own ratios (wall)."""
        mine, theirs = self.results[name], self.results[base]
        paired = sorted(a[0] / b[0] for a, b in zip(mine, theirs))
        return {"min_wall": min(w for w, _ in mine) / min(w for w, _ in theirs),
                "min_cpu": min(c for _, c in mine) / min(c for _, c in theirs),
                "median_paired_wall": paired[len(paired) // 2]}
