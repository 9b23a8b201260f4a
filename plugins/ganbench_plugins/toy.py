"""Toy datasets with known densities: the 1-D setting of the paper's Figure 1, a ring of
Gaussians (the usual mode-collapse test) and a grid of 25 Gaussians.

The mixtures (``ring-2d``, ``ring-2d-pacgan``, ``grid-25``) carry ``modes``, a ``(K, 2)``
float32 tensor of the centres, and ``mode_std`` (a float) for mode-counting metrics; their
feature space is the coordinates themselves (no ``features``: the metrics use the coordinates
of low-dimensional data as they are).
``ring-2d-pacgan`` and ``grid-25`` default to the setting of PacGAN (Lin et al., 2018): 8
modes on a circle of radius 1 with std 0.01, and 25 modes on {-4, -2, 0, 2, 4}^2 with std
0.05, each with 100,000 training points. ``ring-2d``'s own options and defaults are unchanged:
its data (and so every stored run id and result) stays bitwise the same.
"""

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


MIXTURE_METRICS = ("parzen", "modes", "fid", "kid", "prdc")


@dataclass
class MixtureDataset(TensorDataset):
    """A mixture of isotropic Gaussians: ``modes`` (K, d) float32 centres, ``mode_std``."""

    modes: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 2))
    mode_std: float = 0.0
    default_metrics: list[str] = field(default_factory=lambda: list(MIXTURE_METRICS))


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
) -> MixtureDataset:
    """A mixture of ``modes`` Gaussians evenly spaced on a circle, shape ``(2,)``; ``modes``
    (the option) is their number, ``.modes`` (the attribute) their (modes, 2) centres."""
    if modes < 1:
        raise ValueError(f"modes must be at least 1, got {modes}")
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    centres = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return _mixture(centres, std, _sizes(n_train, n_valid, n_test), seed)


def ring_2d_pacgan(
    modes: int = 8,
    radius: float = 1.0,
    std: float = 0.01,
    n_train: int = 100000,
    n_valid: int = 1000,
    n_test: int = 1000,
    seed: int = 0,
) -> MixtureDataset:
    """``ring-2d`` with PacGAN's defaults: 8 modes on the unit circle, std 0.01, 100,000
    training points. (A dataset of its own rather than new ``ring-2d`` options: a run id
    hashes every resolved option, so a new option would change every ring-2d run's id.)"""
    return ring_2d(modes=modes, radius=radius, std=std, n_train=n_train, n_valid=n_valid,
                   n_test=n_test, seed=seed)


def grid_25(
    side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    n_train: int = 100000,
    n_valid: int = 1000,
    n_test: int = 1000,
    seed: int = 0,
) -> MixtureDataset:
    """A ``side`` x ``side`` grid of Gaussians ``spacing`` apart, centred on the origin, shape
    ``(2,)``; by default PacGAN's 25 modes on {-4, -2, 0, 2, 4}^2 with std 0.05. Modes are
    numbered row by row (x slowest); each point's mode is drawn uniformly."""
    if side < 1:
        raise ValueError(f"side must be at least 1, got {side}")
    if spacing <= 0:
        raise ValueError(f"spacing must be positive, got {spacing}")
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    ticks = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    centres = torch.cartesian_prod(ticks, ticks)
    return _mixture(centres, std, _sizes(n_train, n_valid, n_test), seed)


def _mixture(centres: torch.Tensor, std: float, sizes: dict[str, int],
             seed: int) -> MixtureDataset:
    """Each split in turn from one generator: mode indices, then float64 noise (ring-2d's
    draw order, which its stored data depends on; so no new checks here either)."""
    gen = torch.Generator().manual_seed(seed)
    splits = {}
    for name, n in sizes.items():
        which = torch.randint(len(centres), (n,), generator=gen)
        noise = std * torch.randn(n, 2, generator=gen, dtype=torch.float64)
        splits[name] = (centres[which] + noise).float()
    return MixtureDataset(
        shape=(2,), splits=splits, info={"centres": centres.float(), "std": std},
        modes=centres.float(), mode_std=float(std),
    )
