"""DCGAN-style convolutional generator and discriminator (Radford et al., 2016), sized for
28 x 28 images with 1 or 3 channels (MNIST, Stacked MNIST), and working for any data shape.

A data shape is laid out as an image ``(C, H, W)``: ``(C, H, W)`` as it is; ``(H, W)`` as
``(1, H, W)``; a flat ``(D,)`` as ``(c, s, s)`` when ``D = c * s * s`` for c = 1 or 3 (so
``(784,)``, MNIST's flat shape, is ``(1, 28, 28)`` and ``(2352,)`` is ``(3, 28, 28)``), else
as ``(D, 1, 1)``. Outputs and inputs are reshaped to and from the data shape.

Generator: noise -> linear to ``2 * width`` maps of ``ceil(H/4) x ceil(W/4)`` -> batchnorm,
ReLU -> 4x4 stride-2 transposed conv to ``width`` maps -> batchnorm, ReLU -> 4x4 stride-2
transposed conv to C maps -> (cropped to H x W) -> sigmoid, since the data lie in [0, 1].
For 28 x 28: 7 x 7 -> 14 x 14 -> 28 x 28.

Discriminator: (zero-padded to a multiple of 4 in H and W) -> 4x4 stride-2 conv to ``width``
maps -> LeakyReLU(0.2) -> 4x4 stride-2 conv to ``2 * width`` maps (-> batchnorm if
``batchnorm``; off by default, as gradient penalties need a per-example D) -> LeakyReLU(0.2)
-> linear -> one logit, shape ``(N,)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def image_layout(data_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The ``(C, H, W)`` the networks work in for ``data_shape`` (see the module docstring)."""
    shape = tuple(int(d) for d in data_shape)
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"data_shape must be positive ints, got {tuple(data_shape)!r}")
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 1:
        (d,) = shape
        for c in (1, 3):
            s = math.isqrt(d // c)
            if d % c == 0 and s * s * c == d:
                return (c, s, s)
        return (d, 1, 1)
    raise ValueError(f"dcgan takes data shapes (D,), (H, W) or (C, H, W), got {shape}; "
                     "reshape the data to one of those")


def _check_width(width: int) -> None:
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")


class DCGANGenerator(nn.Module):
    def __init__(self, noise_dim: int, data_shape: tuple[int, ...], width: int,
                 batchnorm: bool):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.c, self.h, self.w = image_layout(data_shape)
        self.h0, self.w0 = -(-self.h // 4), -(-self.w // 4)

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batchnorm else nn.Identity()

        self.project = nn.Linear(noise_dim, 2 * width * self.h0 * self.w0)
        self.net = nn.Sequential(
            norm(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            norm(width), nn.ReLU(),
            nn.ConvTranspose2d(width, self.c, 4, stride=2, padding=1),
        )
        self.maps = 2 * width

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(len(z), self.maps, self.h0, self.w0)
        x = self.net(h)[:, :, : self.h, : self.w]
        return torch.sigmoid(x).reshape(len(z), *self.data_shape)


class DCGANDiscriminator(nn.Module):
    def __init__(self, data_shape: tuple[int, ...], width: int, batchnorm: bool,
                 leak: float):
        super().__init__()
        self.c, self.h, self.w = image_layout(data_shape)
        self.h0, self.w0 = -(-self.h // 4), -(-self.w // 4)
        self.net = nn.Sequential(
            nn.Conv2d(self.c, width, 4, stride=2, padding=1),
            nn.LeakyReLU(leak),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.BatchNorm2d(2 * width) if batchnorm else nn.Identity(),
            nn.LeakyReLU(leak),
            nn.Flatten(),
            nn.Linear(2 * width * self.h0 * self.w0, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = x.reshape(len(x), self.c, self.h, self.w)
        pad_h, pad_w = 4 * self.h0 - self.h, 4 * self.w0 - self.w
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h))
        return self.net(image).squeeze(1)


def dcgan_generator(
    noise_dim: int,
    data_shape: tuple,
    width: int = 64,
    batchnorm: bool = True,
) -> nn.Module:
    """DCGAN generator: noise -> linear -> two 4x4 stride-2 transposed convs (``2 * width``,
    ``width`` maps; batchnorm and ReLU before each) -> sigmoid, samples in [0, 1]."""
    _check_width(width)
    if not isinstance(noise_dim, int) or noise_dim < 1:
        raise ValueError(f"noise_dim must be a positive integer, got {noise_dim!r}")
    return DCGANGenerator(noise_dim, tuple(data_shape), width, batchnorm)


def dcgan_discriminator(
    data_shape: tuple,
    width: int = 64,
    batchnorm: bool = False,
    leak: float = 0.2,
) -> nn.Module:
    """DCGAN discriminator: two 4x4 stride-2 convs (``width``, ``2 * width`` maps, LeakyReLU
    with slope ``leak``; batchnorm on the second if ``batchnorm``) -> linear -> (N,) logits."""
    _check_width(width)
    if not 0 <= leak < 1:
        raise ValueError(f"leak must be in [0, 1), got {leak}")
    return DCGANDiscriminator(tuple(data_shape), width, batchnorm, leak)
