"""Stacked MNIST: three MNIST digits stacked as the channels of one image, shape (3, 28, 28),
values in [0, 1]; 10^3 = 1,000 modes (one per triple of digits), the usual mode-collapse test
at image scale (Metz et al., 2017; Srivastava et al., 2017; Lin et al., 2018).

Each split draws its digits from the MNIST split of the same name (ganbench's split: train =
the first 50,000 training images, valid = the other 10,000, test = the 10,000 test images):
every example takes three indices uniformly at random, with replacement, from one
``torch.Generator`` seeded with ``seed`` (train, then valid, then test), so the same options
give the same data bitwise. The training set has 50,000 examples by default (the size of
MNIST's training split here, 470 MB as float32); the literature often uses 128,000
(``n_train=128000``, 1.2 GB).

The feature space is MNIST's classifier (``ganbench_plugins.classifier``), run on each
channel: ``features(x)`` concatenates the three channels' 128 features, ``(N, 384)``;
``classify_channels(x)`` gives the ``(N, 3)`` digits it reads, and ``classify(x)`` the
``(N, 1000)`` probabilities of the triples (mode ``100 * d0 + 10 * d1 + d2``), the product of
the three channels' (independent) class probabilities. The classifier loads on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ganbench_plugins import classifier
from ganbench_plugins.classifier import train_feature_extractor  # noqa: F401  (the CLI's hook)
from ganbench_plugins.mnist import _load
from ganbench_plugins.toy import TensorDataset

N_MODES = 1000
CHANNELS = 3
MNIST_VALID = 10000  # ganbench's MNIST split: the last 10,000 training images are valid


def mode_of(digits: torch.Tensor) -> torch.Tensor:
    """``(N, 3)`` digits -> ``(N,)`` int64 mode ids ``100 * d0 + 10 * d1 + d2`` in [0, 1000)."""
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


@dataclass
class StackedMnistDataset(TensorDataset):
    """Stacked MNIST's splits; ``labels`` maps each split to the ``(N, 3)`` int64 true digits
    of its channels (None when the MNIST source has no labels); ``n_modes`` = 1000."""

    labels: dict[str, torch.Tensor] | None = None
    n_modes: int = N_MODES
    default_metrics: list[str] = field(default_factory=lambda: [
        "stacked-modes", "fid", "kid", "prdc", "classifier-score"])

    @property
    def feature_extractor_id(self) -> str:
        """``"mnist-lenet sha256:<12 hex> per channel"``."""
        return f"{classifier.feature_extractor_id()} per channel"

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, 28, 28)`` -> ``(N, 384)`` float32: each channel's 128 classifier features,
        concatenated (eval mode, no grad, on ``x``'s device)."""
        channels = _channels(x)
        return torch.cat([classifier.features(channels[:, c]) for c in range(CHANNELS)], dim=1)

    def classify_channels(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, 28, 28)`` -> ``(N, 3)`` int64: the digit the classifier reads in each
        channel."""
        channels = _channels(x)
        return torch.stack([classifier.predict(channels[:, c]) for c in range(CHANNELS)], dim=1)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, 28, 28)`` -> ``(N, 1000)`` float32 probabilities of the digit triples,
        column ``100 * d0 + 10 * d1 + d2``: the product of the channels' probabilities."""
        channels = _channels(x)
        p = [classifier.classify(channels[:, c]) for c in range(CHANNELS)]
        return (p[0][:, :, None, None] * p[1][:, None, :, None] * p[2][:, None, None, :]
                ).reshape(len(x), N_MODES)


def _channels(x: torch.Tensor) -> torch.Tensor:
    if x.dim() < 2 or x[0].numel() != CHANNELS * 784:
        raise ValueError(f"stacked MNIST takes (N, 3, 28, 28) images, got a tensor of shape "
                         f"{tuple(x.shape)}")
    return x.reshape(len(x), CHANNELS, 784)


def stacked_mnist(
    n_train: int = 50000,
    n_valid: int = 10000,
    n_test: int = 10000,
    seed: int = 0,
    data_dir: str | None = None,
    verify: bool = True,
    download: bool = True,
    download_timeout: float = 30.0,
) -> StackedMnistDataset:
    """Stacked MNIST, shape ``(3, 28, 28)``: ``n_train``/``n_valid``/``n_test`` examples, each
    three digits drawn (with replacement, under ``seed``) from the MNIST split of the same
    name. ``data_dir``, ``verify``, ``download``, ``download_timeout``: where MNIST comes from,
    as for the ``mnist`` dataset. ``info``: ``indices`` (split -> (N, 3) int64 indices into
    that MNIST split), ``source``."""
    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    for name, n in sizes.items():
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n_{name} must be a positive integer, got {n!r}")
    if download_timeout <= 0:
        raise ValueError(f"download_timeout must be positive, got {download_timeout!r}")
    images, source = _load(data_dir, verify, download, download_timeout)
    full, test = images["train"], images["test"]
    if len(full) <= MNIST_VALID:
        raise ValueError(f"{source} has {len(full)} training images; stacked MNIST needs more "
                         f"than {MNIST_VALID} (the last {MNIST_VALID} are the valid split)")
    parts = {"train": slice(0, len(full) - MNIST_VALID),
             "valid": slice(len(full) - MNIST_VALID, len(full))}
    pools = {"train": full[parts["train"]], "valid": full[parts["valid"]], "test": test}
    known = images.get("train_labels") is not None and images.get("test_labels") is not None
    digit_pools = ({"train": images["train_labels"][parts["train"]],
                    "valid": images["train_labels"][parts["valid"]],
                    "test": images["test_labels"]} if known else None)

    gen = torch.Generator().manual_seed(seed)
    splits, labels, indices = {}, {}, {}
    for name, n in sizes.items():
        idx = torch.randint(len(pools[name]), (n, CHANNELS), generator=gen)
        indices[name] = idx
        stacked = pools[name][idx.numpy()]  # (n, 3, 784) uint8
        splits[name] = torch.from_numpy(stacked).to(torch.float32).div_(255.0).reshape(
            n, CHANNELS, 28, 28)
        if digit_pools is not None:
            labels[name] = torch.from_numpy(np.asarray(digit_pools[name])[idx.numpy()])
    return StackedMnistDataset(
        shape=(CHANNELS, 28, 28),
        splits=splits,
        labels=labels if digit_pools is not None else None,
        info={"indices": indices, "source": source},
    )
