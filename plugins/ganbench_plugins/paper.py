"""The networks of the paper's MNIST experiment, configured as the original code
(goodfeli/adversarial, ``mnist.yaml``) configured them.

Generator: noise -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid; weights uniform on [-0.05, 0.05],
biases 0, except the output bias: logit of the mean training pixel, clipped to
[1e-7, 1 - 1e-7] (pylearn2's ``init_sigmoid_bias_from_marginals``). A factory never sees the
dataset, so the mean comes in as the option ``output_bias_mean``: a preset fills it in from
``ganbench_plugins.mnist.mnist_mean_pixel()`` (one number) or ``mnist_pixel_means()`` (one per
pixel, which is what the original code computed); None leaves the bias at 0.

Discriminator: 784 -> maxout 240 x 5 pieces -> maxout 240 x 5 -> 1 logit; weights uniform on
[-0.005, 0.005], biases 0; dropout on each layer's input, keeping 0.8 of the first layer's
inputs and 0.5 of the others', with inverted scaling (1/keep during training, so nothing
changes in eval mode).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

BIAS_CLIP = 1e-7


class Maxout(nn.Module):
    """``units`` maxout units of ``pieces`` linear pieces each: unit u is the max of the affine
    outputs ``u * pieces ... u * pieces + pieces - 1`` (pylearn2's grouping)."""

    def __init__(self, in_features: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        return z.view(*z.shape[:-1], self.units, self.pieces).amax(-1)

    def extra_repr(self) -> str:
        return f"units={self.units}, pieces={self.pieces}"


class PaperGenerator(nn.Module):
    def __init__(self, noise_dim: int, data_shape: tuple[int, ...], hidden: list[int]):
        super().__init__()
        self.data_shape = tuple(data_shape)
        sizes = [noise_dim, *hidden]
        layers: list[tuple[str, nn.Module]] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [(f"h{i}", nn.Linear(a, b)), (f"relu{i}", nn.ReLU())]
        layers += [
            ("y", nn.Linear(sizes[-1], math.prod(self.data_shape))),
            ("sigmoid", nn.Sigmoid()),
        ]
        self.net = nn.Sequential(OrderedDict(layers))

    @property
    def output_layer(self) -> nn.Linear:
        return self.net.y

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)


class PaperDiscriminator(nn.Module):
    def __init__(
        self,
        data_shape: tuple[int, ...],
        units: list[int],
        pieces: int,
        input_keep: float,
        hidden_keep: float,
    ):
        super().__init__()
        sizes = [math.prod(data_shape), *units]
        layers: list[tuple[str, nn.Module]] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            keep = input_keep if i == 0 else hidden_keep
            layers += [
                (f"drop{i}", nn.Dropout(round(1.0 - keep, 12))),
                (f"h{i}", Maxout(a, b, pieces)),
            ]
        keep = input_keep if len(units) == 0 else hidden_keep
        layers += [
            (f"drop{len(units)}", nn.Dropout(round(1.0 - keep, 12))),
            ("y", nn.Linear(sizes[-1], 1)),
        ]
        self.net = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def paper_mnist_generator(
    noise_dim: int,
    data_shape: tuple,
    hidden: list = (1200, 1200),
    init_range: float = 0.05,
    output_bias_mean: float | list | None = None,
) -> nn.Module:
    """The paper's MNIST generator: noise -> ReLU layers ``hidden`` -> sigmoid output.

    Weights ~ U[-init_range, init_range], biases 0; with ``output_bias_mean`` (the mean
    training pixel, one number or one per output value) the output bias is
    ``logit(clip(mean, 1e-7, 1 - 1e-7))``, so the untrained generator's output matches it.
    """
    shape = _data_shape(data_shape)
    _check_positive_int("noise_dim", noise_dim)
    sizes = _sizes("hidden", hidden)
    _check_range("init_range", init_range)
    model = PaperGenerator(noise_dim, shape, sizes)
    bias = _output_bias(output_bias_mean, math.prod(shape))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.uniform_(-init_range, init_range)
                module.bias.zero_()
        model.output_layer.bias.copy_(bias)
    return model


def paper_mnist_discriminator(
    data_shape: tuple,
    units: list = (240, 240),
    pieces: int = 5,
    init_range: float = 0.005,
    input_keep: float = 0.8,
    hidden_keep: float = 0.5,
) -> nn.Module:
    """The paper's MNIST discriminator: maxout layers (``units`` of ``pieces`` each) -> one
    logit, with dropout on each layer's input (keep ``input_keep`` of the data, ``hidden_keep``
    of each hidden layer's output). Weights ~ U[-init_range, init_range], biases 0."""
    shape = _data_shape(data_shape)
    sizes = _sizes("units", units)
    _check_positive_int("pieces", pieces)
    _check_range("init_range", init_range)
    for name, keep in (("input_keep", input_keep), ("hidden_keep", hidden_keep)):
        if not (isinstance(keep, (int, float)) and 0 < keep <= 1):
            raise ValueError(f"{name} is a keep probability in (0, 1], got {keep!r}")
    model = PaperDiscriminator(shape, sizes, pieces, float(input_keep), float(hidden_keep))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.uniform_(-init_range, init_range)
                module.bias.zero_()
    return model


# ---- option checks ---------------------------------------------------------------------------


def _data_shape(data_shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in data_shape)
    except (TypeError, ValueError):
        raise ValueError(f"data_shape must be a tuple of sizes, got {data_shape!r}") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"data_shape must be a non-empty tuple of positive sizes, got {shape}")
    return shape


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _sizes(name: str, sizes) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise ValueError(f"{name} must be a list of layer sizes, e.g. [1200, 1200], got {sizes!r}")
    out = list(sizes)
    for size in out:
        _check_positive_int(f"each of {name}", size)
    return out


def _check_range(name: str, value) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _output_bias(mean, n_out: int) -> torch.Tensor:
    """logit(clip(mean)) as a (n_out,) tensor; zeros for None."""
    if mean is None:
        return torch.zeros(n_out)
    try:
        m = torch.as_tensor(mean, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"output_bias_mean must be a number in [0, 1] or {n_out} of them, "
            f"got {type(mean).__name__}"
        ) from None
    if m.numel() not in (1, n_out):
        raise ValueError(
            f"output_bias_mean must be one number or {n_out} (one per output value), "
            f"got {m.numel()}"
        )
    if not (torch.isfinite(m).all() and (m >= 0).all() and (m <= 1).all()):
        bad = m[~((m >= 0) & (m <= 1))][0].item()  # NaN fails both comparisons too
        raise ValueError(f"output_bias_mean must lie in [0, 1] (a mean pixel), got {bad!r}")
    m = m.clamp(BIAS_CLIP, 1 - BIAS_CLIP)
    return torch.logit(m).float().expand(n_out)
