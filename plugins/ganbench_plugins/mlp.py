"""Multilayer perceptrons for any data shape (flattened inside)."""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "identity": nn.Identity,
    "none": nn.Identity,
}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLPGenerator(nn.Module):
    def __init__(self, noise_dim, data_shape, hidden, activation, output_activation):
        super().__init__()
        self.data_shape = tuple(data_shape)
        sizes = [noise_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), _activation(activation)]
        layers += [nn.Linear(sizes[-1], math.prod(self.data_shape)), _activation(output_activation)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, data_shape, hidden, activation, dropout):
        super().__init__()
        sizes = [math.prod(data_shape), *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), _activation(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def mlp_generator(
    noise_dim: int,
    data_shape: tuple,
    hidden: list = (128, 128),
    activation: str = "relu",
    output_activation: str = "identity",
) -> nn.Module:
    """MLP generator: noise -> hidden layers -> data (``output_activation``, e.g. sigmoid)."""
    return MLPGenerator(noise_dim, data_shape, list(hidden), activation, output_activation)


def mlp_discriminator(
    data_shape: tuple,
    hidden: list = (128, 128),
    activation: str = "leaky_relu",
    dropout: float = 0.0,
) -> nn.Module:
    """MLP discriminator: data -> hidden layers (dropout after each) -> one logit."""
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return MLPDiscriminator(data_shape, list(hidden), activation, dropout)
