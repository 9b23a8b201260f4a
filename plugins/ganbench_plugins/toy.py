"""Toy datasets with known densities: the 1-D setting of the paper's Figure 1, and a ring of
Gaussians (the usual mode-collapse test)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass
class TensorDataset:
    """The dataset contract: ``shape`` of one sample and float32 ``splits``."""

    shape: tuple[int, ...]
    splits: dict[str, torch.Tensor]
    info: dict = field(default_factory=dict)


def _sizes(n_train: int, n_valid: int, n_test: int) -> dict[str, int]:
    return {"train": n_train, "valid": n_valid, "test": n_test}


def gaussian_1d(
    mean: float = 4.0,
    std: float = 0.5,
    n_train: int = 10000,
    n_valid: int = 1000,
    n_test: int = 1000,
    seed: int = 0,
) -> TensorDataset:
    """Samples of N(mean, std^2) in one dimension, shape ``(1,)``."""
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    gen = torch.Generator().manual_seed(seed)
    splits = {
        name: (mean + std * torch.randn(n, 1, generator=gen)).float()
        for name, n in _sizes(n_train, n_valid, n_test).items()
    }
    return TensorDataset(shape=(1,), splits=splits, info={"mean": mean, "std": std})


def ring_2d(
    modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    n_train: int = 10000,
    n_valid: int = 1000,
    n_test: int = 1000,
    seed: int = 0,
) -> TensorDataset:
    """A mixture of ``modes`` Gaussians evenly spaced on a circle, shape ``(2,)``."""
    if modes < 1:
        raise ValueError(f"modes must be at least 1, got {modes}")
    gen = torch.Generator().manual_seed(seed)
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    centres = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    splits = {}
    for name, n in _sizes(n_train, n_valid, n_test).items():
        which = torch.randint(modes, (n,), generator=gen)
        noise = std * torch.randn(n, 2, generator=gen, dtype=torch.float64)
        splits[name] = (centres[which] + noise).float()
    return TensorDataset(
        shape=(2,), splits=splits, info={"centres": centres.float(), "std": std}
    )
