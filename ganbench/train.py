"""Algorithm 1 of Goodfellow et al. (2014): k steps of the discriminator, then one of the
generator, minibatch stochastic gradient descent. And nothing else: building the models,
the store and the scoring live in ``runner.py``.

    for each training iteration:
        for k steps:
            sample m noise samples and m examples;  update D by ascending its objective
        sample m noise samples;                      update G by descending its objective

``update="simultaneous"`` is what the original code did instead: one minibatch, both players'
gradients from the same fake batch (the same dropped-out D), applied together.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import get_ema_multi_avg_fn


class Diverged(Exception):
    """A loss or a parameter became NaN or infinite."""

    def __init__(self, step: int, reason: str):
        super().__init__(f"{reason} at step {step}")
        self.step = step
        self.reason = reason


# ---- the data and the noise, each with its own random stream (so that resume is exact) ----


class MinibatchSampler:
    """Minibatches of m examples without replacement, reshuffled every epoch."""

    def __init__(self, data: Tensor, batch_size: int, seed: int):
        self.data = data
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.batches_per_epoch = len(data) // batch_size
        self.perm = torch.randperm(len(data), generator=self.generator)
        self.position = 0

    def next(self) -> Tensor:
        if self.position + self.batch_size > len(self.perm):
            self.perm = torch.randperm(len(self.data), generator=self.generator)
            self.position = 0
        index = self.perm[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.data[index.to(self.data.device)]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.generator.get_state(), "perm": self.perm, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["rng"])
        self.perm = state["perm"]
        self.position = int(state["position"])


class NoisePrior:
    """p_z: uniform on [-scale, scale]^dim or normal with std ``scale``."""

    def __init__(self, prior: str, dim: int, scale: float, device: torch.device, seed: int):
        self.prior, self.dim, self.scale, self.device = prior, dim, scale, device
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def sample(self, m: int) -> Tensor:
        if self.prior == "uniform":
            z = torch.rand(m, self.dim, generator=self.generator, device=self.device)
            return z.mul_(2 * self.scale).sub_(self.scale)
        return torch.randn(m, self.dim, generator=self.generator, device=self.device).mul_(self.scale)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["rng"])


# ---- the optimiser schedules (pure functions of the data minibatches seen) ----


def learning_rate(opt: dict[str, Any], lr: float, batches: int) -> float:
    """lr divided by ``lr_decay`` after every minibatch, never below ``lr_min``."""
    if opt["lr_decay"] == 1.0:
        return lr
    return max(lr * opt["lr_decay"] ** (-batches), opt["lr_min"])


def momentum(opt: dict[str, Any], epochs_done: int) -> float:
    """Classic momentum rising linearly from ``momentum`` at ``momentum_start_epoch`` to
    ``momentum_final`` at ``momentum_saturate_epoch`` (pylearn2's MomentumAdjustor)."""
    if opt["momentum_final"] is None:
        return opt["momentum"]
    start, saturate = opt["momentum_start_epoch"], opt["momentum_saturate_epoch"]
    alpha = min(max((epochs_done - start) / max(saturate - start, 1), 0.0), 1.0)
    return opt["momentum"] * (1 - alpha) + opt["momentum_final"] * alpha


def make_optimizer(opt: dict[str, Any], params, lr: float) -> torch.optim.Optimizer:
    if opt["name"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=opt["momentum"],
                               weight_decay=opt["weight_decay"])
    return torch.optim.Adam(params, lr=lr, betas=tuple(opt["betas"]),
                            weight_decay=opt["weight_decay"])


# ---- the loop ----


@dataclass
class Schedule:
    iterations: int  # total generator updates
    discriminator_steps: int  # k
    batch_size: int  # m
    update: str  # "alternating" (Algorithm 1) or "simultaneous"
    log_every: int
    checkpoint_every: int


@dataclass
class Curve:
    """Loss curves: one row per logging window (mean losses over the window)."""

    rows: list[list[float]] = field(default_factory=list)  # step, d_loss, g_loss, seconds
    columns: tuple[str, ...] = ("step", "d_loss", "g_loss", "seconds")


def _requires_grad(params: list[nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def _non_finite_parameter(*modules: nn.Module) -> str | None:
    for name, module in zip(("generator", "discriminator"), modules):
        for pname, p in module.named_parameters():
            if not torch.isfinite(p).all():
                return f"non-finite {name} parameter {pname}"
    return None


class GeneratorEMA:
    """``train.ema``: an exponential moving average of G's weights, a copy of G at step 0;
    after every generator update ``ema = decay * ema + (1 - decay) * param`` for each
    parameter (torch's ``swa_utils.get_ema_multi_avg_fn``: one ``_foreach_lerp_`` per dtype
    and device), and G's buffers (batch-norm running statistics) copied, not averaged, as
    StyleGAN2's and BigGAN's EMA do. Training uses the raw G; this one is reported."""

    def __init__(self, generator: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(generator).requires_grad_(False)
        self._average = get_ema_multi_avg_fn(decay)
        groups: dict[tuple, tuple[list[Tensor], list[Tensor]]] = {}
        for mine, theirs in zip(self.module.parameters(), generator.parameters(), strict=True):
            pair = groups.setdefault((mine.device, mine.dtype), ([], []))
            pair[0].append(mine)
            pair[1].append(theirs)
        self._groups = list(groups.values())
        self._buffers = list(zip(self.module.buffers(), generator.buffers(), strict=True))

    @torch.no_grad()
    def update(self) -> None:
        for mine, theirs in self._groups:
            self._average(mine, theirs, None)
        for mine, theirs in self._buffers:
            mine.copy_(theirs)


class Trainer:
    """Algorithm 1 over a generator, a discriminator and a loss, with resumable state."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, loss: Any,
                 sampler: MinibatchSampler, noise: NoisePrior, optimizer: dict[str, Any],
                 schedule: Schedule, ema: float | None = None):
        self.G, self.D, self.loss = generator, discriminator, loss
        self.ema = GeneratorEMA(generator, ema) if ema is not None else None
        self.sampler, self.noise, self.opt, self.schedule = sampler, noise, optimizer, schedule
        self.lr_d0 = optimizer["discriminator_lr"] or optimizer["lr"]
        self.lr_g0 = optimizer["lr"]
        self.opt_d = make_optimizer(optimizer, discriminator.parameters(), self.lr_d0)
        self.opt_g = make_optimizer(optimizer, generator.parameters(), self.lr_g0)
        self.penalty = getattr(loss, "penalty", None)
        self.after_d_step = getattr(loss, "after_discriminator_step", None)
        self.real_for_g = bool(getattr(loss, "needs_real_for_generator", False))
        # D's parameters, listed once: walking the modules at every step cost 2% of a toy step
        self.d_params = list(discriminator.parameters())
        self.step = 0  # completed iterations
        self.batches = 0  # data minibatches consumed
        self.seconds = 0.0  # training time before this process (resume)
        self.curve = Curve()
        self.stop_requested = False  # set by a callback (early stopping)

    @property
    def reported_generator(self) -> nn.Module:
        """The generator that is scored, selected and sampled: the EMA one with train.ema."""
        return self.ema.module if self.ema is not None else self.G

    # The schedules are set before every update (cheap: a few floats).
    def _set_hyperparameters(self) -> None:
        epochs_done = self.batches // max(self.sampler.batches_per_epoch, 1)
        for optim, lr0 in ((self.opt_d, self.lr_d0), (self.opt_g, self.lr_g0)):
            for group in optim.param_groups:
                group["lr"] = learning_rate(self.opt, lr0, self.batches)
                if self.opt["name"] == "sgd":
                    group["momentum"] = momentum(self.opt, epochs_done)

    def discriminator_step(self) -> Tensor:
        """Sample m examples and m noise samples; update D by ascending its objective."""
        self._set_hyperparameters()
        real = self.sampler.next()
        self.batches += 1
        with torch.no_grad():
            fake = self.G(self.noise.sample(self.schedule.batch_size))
        d_loss = self.loss.discriminator_loss(self.D(real), self.D(fake))
        if self.penalty is not None:
            d_loss = d_loss + self.penalty(self.D, real, fake)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        if self.after_d_step is not None:
            self.after_d_step(self.D)
        return d_loss.detach()

    def generator_step(self) -> Tensor:
        """Sample m noise samples; update G by descending its objective (D held fixed)."""
        _requires_grad(self.d_params, False)
        try:
            fake_logits = self.D(self.G(self.noise.sample(self.schedule.batch_size)))
            if self.real_for_g:
                with torch.no_grad():  # epochs and schedules count D's minibatches only
                    real_logits = self.D(self.sampler.next())
                g_loss = self.loss.generator_loss(fake_logits, real_logits=real_logits)
            else:
                g_loss = self.loss.generator_loss(fake_logits)
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
        finally:
            _requires_grad(self.d_params, True)
        if self.ema is not None:
            self.ema.update()
        return g_loss.detach()

    def simultaneous_step(self) -> tuple[Tensor, Tensor]:
        """One minibatch; both players' gradients from the same fake batch, applied together."""
        self._set_hyperparameters()
        real = self.sampler.next()
        self.batches += 1
        fake = self.G(self.noise.sample(self.schedule.batch_size))
        real_logits, fake_logits = self.D(real), self.D(fake)
        d_loss = self.loss.discriminator_loss(real_logits, fake_logits)
        if self.penalty is not None:
            d_loss = d_loss + self.penalty(self.D, real, fake.detach())
        if self.real_for_g:
            g_loss = self.loss.generator_loss(fake_logits, real_logits=real_logits)
        else:
            g_loss = self.loss.generator_loss(fake_logits)
        d_params, g_params = list(self.D.parameters()), list(self.G.parameters())
        d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
        g_grads = torch.autograd.grad(g_loss, g_params)
        for p, g in zip(d_params, d_grads):
            p.grad = g
        for p, g in zip(g_params, g_grads):
            p.grad = g
        self.opt_d.step()
        self.opt_g.step()
        if self.after_d_step is not None:
            self.after_d_step(self.D)
        if self.ema is not None:
            self.ema.update()
        return d_loss.detach(), g_loss.detach()

    def run(self, *, on_log: Callable[[Trainer], None] | None = None,
            on_checkpoint: Callable[[Trainer], None] | None = None) -> None:
        """Train up to ``schedule.iterations``; raise Diverged at the first non-finite loss."""
        s = self.schedule
        self.G.train()
        self.D.train()
        window: list[Tensor] = []  # d, g losses of each step; stacked once per window
        filled, started = 0, time.perf_counter()
        seconds0 = self.seconds
        while self.step < s.iterations and not self.stop_requested:
            if s.update == "simultaneous":
                d_loss, g_loss = self.simultaneous_step()
            else:
                for _ in range(s.discriminator_steps):
                    d_loss = self.discriminator_step()
                g_loss = self.generator_step()
            window += (d_loss, g_loss)
            filled += 1
            self.step += 1
            last = self.step == s.iterations
            checkpoint_due = self.step % s.checkpoint_every == 0 or last
            if filled == s.log_every or checkpoint_due:
                # One synchronisation per window: find the first bad step, if any.
                self.seconds = seconds0 + time.perf_counter() - started
                self._flush(torch.stack(window).view(filled, 2).float())
                window, filled = [], 0
                if on_log is not None:
                    on_log(self)
                if checkpoint_due and on_checkpoint is not None:
                    on_checkpoint(self)

    def _flush(self, window: Tensor) -> None:
        finite = torch.isfinite(window).all(dim=1)
        if not bool(finite.all()):
            first = int((~finite).nonzero()[0, 0])
            bad_step = self.step - len(window) + first + 1
            which = "discriminator" if not torch.isfinite(window[first, 0]) else "generator"
            raise Diverged(bad_step, f"non-finite {which} loss")
        bad = _non_finite_parameter(self.G, self.D)
        if bad:
            raise Diverged(self.step, bad)
        means = window.double().mean(dim=0).tolist()
        self.curve.rows.append([self.step, means[0], means[1], round(self.seconds, 3)])

    # ---- resumable state ----

    def state_dict(self) -> dict[str, Any]:
        state = {
            "step": self.step,
            "batches": self.batches,
            "seconds": self.seconds,
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sampler": self.sampler.state_dict(),
            "noise": self.noise.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "curve": torch.tensor(self.curve.rows, dtype=torch.float64).reshape(-1, 4),
        }
        if self.ema is not None:
            state["generator_ema"] = self.ema.module.state_dict()
        if self.noise.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.noise.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.batches = int(state["step"]), int(state["batches"])
        self.seconds = float(state["seconds"])
        self.G.load_state_dict(state["generator"])
        if self.ema is not None:
            if "generator_ema" not in state:
                raise ValueError("train.ema is set but the checkpoint holds no EMA generator "
                                 "(generator_ema)")
            self.ema.module.load_state_dict(state["generator_ema"])
        self.D.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sampler.load_state_dict(state["sampler"])
        self.noise.load_state_dict(state["noise"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.noise.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.noise.device)
        self.curve.rows = [list(r) for r in state["curve"].tolist()]


def iterations_for(train: dict[str, Any], n_train: int) -> int:
    """Generator updates for ``train.steps``, or for ``train.epochs`` passes over the data."""
    if train["steps"] is not None:
        return int(train["steps"])
    batches_per_epoch = n_train // train["batch_size"]
    per_iteration = 1 if train["update"] == "simultaneous" else train["discriminator_steps"]
    return max(1, math.ceil(train["epochs"] * batches_per_epoch / per_iteration))
