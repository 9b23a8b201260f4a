"""PacGAN (Lin, Khetan, Fanti and Oh, NeurIPS 2018) as plugins: the authors' generator and
maxout discriminator for the 2-D mixtures, and packing as a discriminator that wraps another.

Packing: the discriminator judges m samples jointly. ``Packed`` takes a batch ``(B, *shape)``,
groups each m consecutive examples into one pack (concatenated along the first data axis:
``(B / m, m * shape[0], *shape[1:])``, which for vectors is PacGAN's concatenation of the
members' coordinates and for images its stacking of channels), runs the inner discriminator
on the packs and returns each pack's logit once for each of its members, shape ``(B,)``. So
it keeps the discriminator contract, and every loss (means over ``(N,)`` logits) is, unchanged,
the same mean over packs as the authors' loss: each pack counts m times, equally. A batch
whose size is not a multiple of m has its last pack completed with the batch's first
examples again (every example still gets a logit; the contract's checks run batches of 2 and
5): a run with packs sets ``train.batch_size`` to a multiple of m (the pacgan preset: 100 m,
100 packs per minibatch, as the authors' code).

Three entry points (``ganbench.generators`` / ``ganbench.discriminators``):

- ``pacgan``: the authors' generator (fjxmlzn/PacGAN, synthetic_data_experiments/
  2DRing_GAN&PacGAN/pacgan_task.py:43-59, sizes from config.py:16-22): 4 hidden layers of
  400, each linear without bias -> batch normalisation -> ReLU, then a linear output with
  bias; weights N(0, 0.02^2), biases 0. Batch normalisation as Blocks computes it
  (blocks/bricks/bn.py): the minibatch's mean and sqrt(biased variance + 1e-4); at evaluation
  the population mean and standard deviation, each moved 5% of the way to the minibatch's
  after every training forward pass (pacgan_task.py:149). ``bn_groups = m``: the statistics
  of each of m groups of the batch (example i in group i mod m) taken apart and the
  population update averaged over them (pacgan_task.py:129-149), as the authors' code
  applies the generator once per pack member to its own 100 noise vectors
  (bricks.py:63-67); with ``Packed``'s consecutive packs, member j of every pack comes from
  group j, exactly as theirs.
- ``pacgan-maxout``: the authors' discriminator (pacgan_task.py:61-90): 3 maxout layers of
  200 units of 5 pieces, then a linear logit; N(0, 0.02^2) weights, zero biases; ``pack = m``
  packs it (the input is m samples' coordinates, pacgan_task.py:64).
- ``packed``: any registered discriminator (``inner``, with ``inner_options``) packed.

Like every built-in, this module imports nothing from ganbench: ``packed`` finds its inner
discriminator through the ``ganbench.discriminators`` entry points itself.
"""

from __future__ import annotations

import math
from importlib import metadata
from typing import Any

import torch
from torch import Tensor, nn

GROUP = "ganbench.discriminators"


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


# ---- packing -------------------------------------------------------------------------------

class Packed(nn.Module):
    """``inner`` applied to packs of ``pack`` consecutive examples; each pack's logit is
    returned for each of its members (see the module docstring)."""

    def __init__(self, inner: nn.Module, pack: int):
        super().__init__()
        self.inner, self.pack = inner, _positive("pack", pack)

    def forward(self, x: Tensor) -> Tensor:
        n, m = len(x), self.pack
        if m == 1:
            return self.inner(x)
        packs = -(-n // m)
        if packs * m != n:  # complete the last pack with the batch's first examples
            x = x[torch.arange(packs * m, device=x.device) % n]
        grouped = x.reshape(packs, m * x.shape[1], *x.shape[2:])
        return self.inner(grouped).repeat_interleave(m)[:n]


def packed_shape(data_shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The shape of one pack of ``pack`` examples of ``data_shape``."""
    shape = tuple(int(d) for d in data_shape)
    if not shape:
        raise ValueError("packing needs data of at least one dimension")
    return (pack * shape[0], *shape[1:])


def packed(data_shape: tuple, inner: str = "mlp", pack: int = 2,
           inner_options: dict | None = None) -> nn.Module:
    """Any registered discriminator (``inner``, built with ``inner_options``) judging packs of
    ``pack`` consecutive examples, concatenated along the first data axis (PacGAN)."""
    _positive("pack", pack)
    found = [ep for ep in metadata.entry_points(group=GROUP) if ep.name == inner]
    if not found:
        names = sorted({ep.name for ep in metadata.entry_points(group=GROUP)} - {"packed"})
        raise ValueError(f"packed: no discriminator {inner!r}; inner is one of "
                         f"{', '.join(names)}")
    if inner == "packed":
        raise ValueError("packed: inner cannot be packed itself; set pack instead")
    factory = found[0].load()
    return Packed(factory(data_shape=packed_shape(data_shape, pack), **(inner_options or {})),
                  pack)


# ---- the authors' networks -----------------------------------------------------------------

class BlocksBatchNorm(nn.Module):
    """Batch normalisation as Blocks 0.2 computes it, over ``groups`` interleaved groups of
    the batch (example i in group i mod groups); see the module docstring."""

    def __init__(self, features: int, groups: int = 1, epsilon: float = 1e-4,
                 momentum: float = 0.05):
        super().__init__()
        self.groups, self.epsilon, self.momentum = groups, epsilon, momentum
        self.scale = nn.Parameter(torch.ones(features))
        self.shift = nn.Parameter(torch.zeros(features))
        self.register_buffer("population_mean", torch.zeros(features))
        self.register_buffer("population_stdev", torch.ones(features))

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return (x - self.population_mean) / self.population_stdev * self.scale + self.shift
        n, g = len(x), self.groups
        if n % g == 0:  # (n / g, g, F): example i is row i // g of group i % g
            out, mean, stdev = self._normalise(x.view(n // g, g, -1))
            out = out.view_as(x)
        else:  # a batch that is not a multiple of the groups (the contract's checks)
            parts = [self._normalise(x[j::g].unsqueeze(1)) for j in range(min(g, n))]
            order = torch.cat([torch.arange(j, n, g, device=x.device) for j in range(len(parts))])
            out = torch.cat([p[0].squeeze(1) for p in parts])[torch.argsort(order)]
            mean, stdev = (torch.cat([p[i] for p in parts]) for i in (1, 2))
        with torch.no_grad():  # Blocks' population update, averaged over the groups
            for buffer, batch in ((self.population_mean, mean), (self.population_stdev, stdev)):
                buffer.mul_(1 - self.momentum).add_(batch.mean(0), alpha=self.momentum)
        return out * self.scale + self.shift

    def _normalise(self, parts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``parts`` (k, groups, F) normalised over k; each group's mean and stdev (groups, F),
        as Blocks: the biased variance, computed as the mean square about the mean."""
        mean = parts.mean(dim=0)
        centred = parts - mean
        stdev = (centred.square().mean(dim=0) + self.epsilon).sqrt()
        return centred / stdev, mean.detach(), stdev.detach()


def _init(module: nn.Module, std: float) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class PacGANGenerator(nn.Module):
    def __init__(self, noise_dim: int, data_shape: tuple[int, ...], hidden: int, layers: int,
                 bn_groups: int, init_std: float):
        super().__init__()
        self.data_shape = tuple(data_shape)
        sizes = [noise_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            blocks += [nn.Linear(a, b, bias=False), BlocksBatchNorm(b, bn_groups), nn.ReLU()]
        blocks.append(nn.Linear(sizes[-1], math.prod(self.data_shape)))
        self.net = nn.Sequential(*blocks)
        _init(self, init_std)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(len(z), *self.data_shape)


class _PiecesMax(torch.autograd.Function):
    """``amax`` over the last axis of ``(N, units, pieces)`` with torch's own gradient, ties
    included (``AmaxBackward0``: ``grad / count * mask``, ``mask`` the pieces equal to the
    maximum), bit for bit; but computed with the pieces axis outermost, where each step is one
    contiguous pass, rather than over an innermost axis of 5 with bool-to-float copies: 9 of
    them took a quarter of a PacGAN step. Differentiable twice (R1) like amax: the backward
    is made of differentiable ops of ``grad``; the mask is a constant."""

    @staticmethod
    def forward(ctx, pieces: Tensor) -> Tensor:
        out = pieces.amax(dim=2)
        ctx.save_for_backward(pieces, out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        pieces, out = ctx.saved_tensors
        outermost = pieces.permute(2, 0, 1).contiguous()  # (pieces, N, units)
        mask = torch.eq(outermost, out, out=torch.empty_like(outermost))  # 0. / 1.
        return (grad / mask.sum(dim=0) * mask).permute(1, 2, 0).contiguous()


class Maxout(nn.Module):
    """Blocks' LinearMaxout: a linear map to ``units * pieces`` values, then the maximum of
    each unit's ``pieces`` consecutive values."""

    def __init__(self, inputs: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(inputs, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return _PiecesMax.apply(self.linear(x).view(len(x), self.units, self.pieces))


class MaxoutDiscriminator(nn.Module):
    def __init__(self, inputs: int, hidden: int, layers: int, pieces: int, init_std: float):
        super().__init__()
        sizes = [inputs] + [hidden] * layers
        self.net = nn.Sequential(*[Maxout(a, b, pieces) for a, b in zip(sizes[:-1], sizes[1:])],
                                 nn.Linear(sizes[-1], 1))
        _init(self, init_std)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def pacgan_generator(noise_dim: int, data_shape: tuple, hidden: int = 400, layers: int = 4,
                     bn_groups: int = 1, init_std: float = 0.02) -> nn.Module:
    """PacGAN's generator for the 2-D mixtures: ``layers`` x (linear, Blocks batch norm over
    ``bn_groups`` groups, ReLU) of ``hidden`` units, then a linear output."""
    for name, value in (("hidden", hidden), ("layers", layers), ("bn_groups", bn_groups)):
        _positive(name, value)
    if not init_std > 0:
        raise ValueError(f"init_std must be positive, got {init_std!r}")
    return PacGANGenerator(noise_dim, data_shape, hidden, layers, bn_groups, init_std)


def pacgan_maxout(data_shape: tuple, pack: int = 1, hidden: int = 200, layers: int = 3,
                  pieces: int = 5, init_std: float = 0.02) -> nn.Module:
    """PacGAN's maxout discriminator (``layers`` maxout layers of ``hidden`` units of
    ``pieces`` pieces, then a linear logit) judging packs of ``pack`` examples."""
    for name, value in (("pack", pack), ("hidden", hidden), ("layers", layers),
                        ("pieces", pieces)):
        _positive(name, value)
    if not init_std > 0:
        raise ValueError(f"init_std must be positive, got {init_std!r}")
    inner = MaxoutDiscriminator(pack * math.prod(data_shape), hidden, layers, pieces, init_std)
    return Packed(inner, pack) if pack > 1 else inner
