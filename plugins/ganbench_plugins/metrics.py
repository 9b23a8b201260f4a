"""The built-in metrics: each entry point of ``ganbench.metrics`` names a factory here.

A metric is ``factory(**options)`` returning an object with ``compute(samples, dataset) ->
dict[str, float]`` (samples: float32 ``(N, *dataset.shape)`` on the evaluation device, all of
them used), ``higher_is_better`` (the keys that rank), ``applies_to(dataset)`` (None, or why
not) and ``settings()`` (what the record keeps; the dataset-dependent entries are filled in by
``compute``) and ``compares_with()`` (which real examples it reads: ``ganbench.references``
holds them out of its real-data reference). Metrics that want a particular number of samples say so in ``n_samples``.

- ``fid``, ``kid``, ``prdc``: feature-space metrics, in :mod:`ganbench_plugins.metrics_features`.
- ``modes``: mode counting on mixtures of Gaussians (VEEGAN / PacGAN); needs ``modes`` and
  ``mode_std``.
- ``classifier-score``: the Inception-score analogue; needs ``classify(x) -> (N, C)``
  class probabilities.
- ``stacked-modes``: modes of stacked MNIST (PacGAN); needs ``classify_channels(x) -> (N, 3)``
  integer digit labels.
- ``memorisation``: near copies of training examples, in pixel space; any dataset. Its index
  of the training split (:mod:`ganbench_plugins.nearest`) is kept per process, by content
  (:mod:`ganbench_plugins.kept`).

``parzen``, the paper's estimator, is ``ganbench.evaluate.ParzenMetric``, registered by the core.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ganbench_plugins.kept import FLOAT, fingerprint, kept
from ganbench_plugins.metrics_features import (
    FID,
    KID,
    PRDC,
    batched,
    dataset_name,
    dims,
    fid,
    kid_metric,
    prdc_metric,
)
from ganbench_plugins.nearest import NearestIndex, nearest_distances

__all__ = ["FID", "KID", "PRDC", "fid", "kid_metric", "prdc_metric", "modes", "classifier_score",
           "stacked_modes", "memorisation", "NearestIndex", "nearest_distances"]


def kl_to_uniform(counts: Tensor) -> float:
    """KL(p || uniform over len(counts)) for p = counts / counts.sum(); empty bins give 0."""
    p = counts.double() / counts.sum()
    return float(torch.special.xlogy(p, p * len(counts)).sum())


# ---- modes of a mixture of Gaussians -----------------------------------------------------

class Modes:
    """The VEEGAN / PacGAN protocol, as PacGAN's code computes it (fjxmlzn/PacGAN,
    synthetic_data_experiments/PacGAN/pacgan/extensions.py:154-175): a sample is high quality
    when its distance to the nearest mode centre, in standard deviations, is below ``n_std``
    (3), strictly (distance < n_std * mode_std); a mode is captured when it is the nearest
    centre of at least one high-quality sample.

    Keys: ``modes`` (captured, higher is better), ``hq`` (fraction of high-quality samples),
    ``reverse_kl`` (KL from the high-quality samples' distribution over the modes to uniform,
    empty modes contributing 0; lower is better; log K, its largest value, when no sample is
    of high quality). Scored on ``n_samples`` = 2,500 samples in the protocol."""

    name = "modes"
    n_samples = 2500
    higher_is_better = {"modes": True, "hq": True, "reverse_kl": False}

    def __init__(self, n_std: float = 3.0):
        self.n_std = n_std
        self._used: dict[str, Any] = {}

    def applies_to(self, dataset: Any) -> str | None:
        centres, std = getattr(dataset, "modes", None), getattr(dataset, "mode_std", None)
        if centres is None or std is None:
            return (f"needs `modes` and `mode_std`: dataset {dataset_name(dataset)} is not a "
                    "mixture of Gaussians")
        centres = torch.as_tensor(centres)
        if centres.dim() != 2 or len(centres) == 0 or centres.shape[1] != dims(dataset):
            return (f"dataset {dataset_name(dataset)}: `modes` must be a (K, d) tensor with K >= 1"
                    f" and d = {dims(dataset)}, got shape {tuple(centres.shape)}")
        if not float(std) > 0:
            return f"dataset {dataset_name(dataset)}: `mode_std` must be positive, got {std}"
        return None

    def settings(self) -> dict[str, Any]:
        return {"n_std": self.n_std, **self._used}

    def compares_with(self) -> dict[str, int | None]:  # no examples: the mixture's centres
        return {}

    def compute(self, samples: Tensor, dataset: Any) -> dict[str, float]:
        if (reason := self.applies_to(dataset)) is not None:
            raise ValueError(reason)
        x = samples.reshape(len(samples), -1).double()
        centres = torch.as_tensor(dataset.modes).to(x.device, torch.float64)
        std = float(dataset.mode_std)
        # exact differences (no |x|^2 + |c|^2 - 2 x.c), distances in standard deviations
        nearest = (torch.cdist(x, centres, compute_mode="donot_use_mm_for_euclid_dist")
                   / std).min(dim=1)
        hq = nearest.values < self.n_std  # strictly, as extensions.py:167
        counts = torch.bincount(nearest.indices[hq], minlength=len(centres))
        self._used = {"n_modes": len(centres), "mode_std": std, "n": len(x)}
        return {"modes": float((counts > 0).sum()),
                "hq": float(hq.double().mean()),
                "reverse_kl": kl_to_uniform(counts) if hq.any() else math.log(len(centres))}


def modes(n_std: float = 3.0) -> Modes:
    """Modes captured, high-quality fraction and reverse KL on a mixture of Gaussians."""
    if n_std <= 0:
        raise ValueError(f"modes: n_std must be positive, got {n_std}")
    return Modes(n_std=n_std)


# ---- the classifier score -----------------------------------------------------------------

def classifier_score_splits(p: Tensor, splits: int = 10) -> tuple[float, float]:
    """exp E_x KL(p(y|x) || p(y)) on each of ``splits`` consecutive parts (p(y) the part's
    mean prediction), and the mean and std (ddof 0) over parts, as the Inception score."""
    p = p.double()
    splits = min(splits, len(p))
    scores = []
    for i in range(splits):
        part = p[i * len(p) // splits:(i + 1) * len(p) // splits]
        q = part.mean(0, keepdim=True)
        kl = (torch.special.xlogy(part, part) - torch.special.xlogy(part, q)).sum(1)
        scores.append(kl.mean().exp())
    t = torch.stack(scores)
    return float(t.mean()), float(t.std(correction=0))


class ClassifierScore:
    """The Inception-score analogue with the dataset's classifier: keys ``classifier-score``
    (column ``classifier_score``; higher is better) and ``std``, over ``splits`` parts.
    ``dataset.classify(x)`` must return ``(N, C)`` class probabilities (rows summing to 1),
    not logits."""

    name = "classifier-score"
    higher_is_better = {"classifier-score": True}

    def __init__(self, splits: int = 10, batch_size: int = 1000):
        self.splits, self.batch_size = splits, batch_size
        self._used: dict[str, Any] = {}

    def applies_to(self, dataset: Any) -> str | None:
        if callable(getattr(dataset, "classify", None)):
            return None
        return (f"needs `classify(x)` returning class probabilities: dataset "
                f"{dataset_name(dataset)} has no classifier")

    def settings(self) -> dict[str, Any]:
        return {"splits": self.splits, **self._used}

    def compares_with(self) -> dict[str, int | None]:  # no examples: the samples alone
        return {}

    def compute(self, samples: Tensor, dataset: Any) -> dict[str, float]:
        if (reason := self.applies_to(dataset)) is not None:
            raise ValueError(reason)
        p = batched(dataset.classify, samples, self.batch_size).double()
        if p.dim() != 2 or len(p) != len(samples):
            raise ValueError(f"classify(x) must return (N, C) probabilities for N = "
                             f"{len(samples)}, got shape {tuple(p.shape)}")
        if (p < -1e-6).any() or not torch.allclose(p.sum(1), torch.ones_like(p[:, 0]), atol=1e-3):
            raise ValueError("classify(x) must return probabilities (non-negative, rows summing "
                             "to 1), not logits")
        mean, std = classifier_score_splits(p.clamp_min(0), self.splits)
        classifier = getattr(dataset, "classifier_id", None) or getattr(
            dataset, "feature_extractor_id", None)
        self._used = {"n": len(p), "classes": p.shape[1],
                      **({"classifier_id": classifier} if classifier is not None else {})}
        return {"classifier-score": mean, "std": std}


def classifier_score(splits: int = 10, batch_size: int = 1000) -> ClassifierScore:
    """exp E KL(p(y|x) || p(y)) with the dataset's ``classify``, mean and std over splits."""
    if splits < 1:
        raise ValueError(f"classifier-score: splits must be at least 1, got {splits}")
    return ClassifierScore(splits=splits, batch_size=batch_size)


# ---- stacked MNIST ------------------------------------------------------------------------

class StackedModes:
    """Modes of stacked MNIST (PacGAN, after Metz et al. 2017): each channel's digit by the
    dataset's ``classify_channels(x) -> (N, 3)`` integer labels in 0..9; a sample's mode is
    its triple. Keys ``stacked-modes`` (distinct triples, column ``stacked_modes``; higher is
    better) and ``kl`` (KL(p_model || uniform over 1,000); lower is better). Scored on
    ``n_samples`` = 26,000 samples in the protocol."""

    name = "stacked-modes"
    n_samples = 26000
    higher_is_better = {"stacked-modes": True, "kl": False}

    def __init__(self, batch_size: int = 1000):
        self.batch_size = batch_size
        self._used: dict[str, Any] = {}

    def applies_to(self, dataset: Any) -> str | None:
        if callable(getattr(dataset, "classify_channels", None)):
            return None
        return (f"needs `classify_channels(x)` (a digit per channel): dataset "
                f"{dataset_name(dataset)} is not stacked MNIST")

    def settings(self) -> dict[str, Any]:
        return dict(self._used)

    def compares_with(self) -> dict[str, int | None]:  # no examples: the samples alone
        return {}

    def compute(self, samples: Tensor, dataset: Any) -> dict[str, float]:
        if (reason := self.applies_to(dataset)) is not None:
            raise ValueError(reason)
        labels = batched(dataset.classify_channels, samples, self.batch_size)
        if (labels.shape != (len(samples), 3) or labels.is_floating_point()
                or labels.min() < 0 or labels.max() > 9):
            raise ValueError(f"classify_channels(x) must return (N, 3) integer digit labels in "
                             f"0..9, got {tuple(labels.shape)} {labels.dtype}")
        labels = labels.long()
        codes = labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]
        counts = torch.bincount(codes, minlength=1000)
        self._used = {"n": len(samples)}
        return {"stacked-modes": float((counts > 0).sum()), "kl": kl_to_uniform(counts)}


def stacked_modes(batch_size: int = 1000) -> StackedModes:
    """Distinct digit triples and KL to uniform on stacked MNIST."""
    return StackedModes(batch_size=batch_size)


# ---- memorisation -------------------------------------------------------------------------

class Memorisation:
    """The paper's Figure 2 argument as a number: each sample's pixel-space distance to its
    nearest training example over the median nearest-neighbour distance inside the training
    set (``n_ref`` random training points against the searched ones, self-matches excluded).

    Keys: ``near_copies``, the fraction of samples whose ratio is below ``threshold`` (lower
    is less memorisation) and ``median_ratio`` (reported, not ranked: far from the data is not
    better). The default threshold 0.1 flags a sample ten times closer to a training example
    than training examples are to each other. Fresh data is never that close: on MNIST (train
    split, median NN distance 4.34) no test digit falls below 0.1, the smallest test ratio is
    0.19 and 1% fall below 0.3; a training digit with N(0, 0.01^2) pixel noise scores 0.05."""

    name = "memorisation"
    higher_is_better = {"near_copies": False}

    def __init__(self, threshold: float = 0.1, n_train: int | None = None, n_ref: int = 2000,
                 seed: int = 0):
        self.threshold, self.n_train, self.n_ref, self.seed = threshold, n_train, n_ref, seed
        self._used: dict[str, Any] = {}

    def applies_to(self, dataset: Any) -> str | None:
        if len(dataset.splits["train"]) < 2:
            return f"needs at least 2 training examples in dataset {dataset_name(dataset)}"
        return None

    def settings(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "n_train": self.n_train, "n_ref": self.n_ref,
                "seed": self.seed, **self._used}

    def compares_with(self) -> dict[str, int | None]:  # the training split (its first n_train)
        return {"train": self.n_train}

    def compute(self, samples: Tensor, dataset: Any) -> dict[str, float]:
        if (reason := self.applies_to(dataset)) is not None:
            raise ValueError(reason)
        train = dataset.splits["train"]
        train = (train if self.n_train is None else train[:self.n_train])
        key = (fingerprint(train), str(samples.device))  # the index is kept per process
        train = train.reshape(len(train), -1).to(samples.device, torch.float32)
        gen = torch.Generator().manual_seed(self.seed)
        ref = torch.randperm(len(train), generator=gen)[:self.n_ref].to(samples.device)
        index = kept("train-index", key, lambda: NearestIndex(train),
                     disk=(NearestIndex.state, lambda st: NearestIndex.from_state(train, st)))
        typical = kept("train-typical", (*key, self.n_ref, self.seed), lambda: float(
            index.search(train[ref], exclude=ref).median()), disk=FLOAT)
        if typical <= 0:
            raise ValueError("memorisation: the median nearest-neighbour distance in the training "
                             "set is 0 (duplicated training examples)")
        x = samples.reshape(len(samples), -1).float()
        ratio = index.search(x) / typical
        self._used = {"n_train": len(train), "n_ref": len(ref), "train_nn_median": typical}
        return {"near_copies": float((ratio < self.threshold).double().mean()),
                "median_ratio": float(ratio.median())}


def memorisation(threshold: float = 0.1, n_train: int | None = None, n_ref: int = 2000,
                 seed: int = 0) -> Memorisation:
    """Near copies of training examples among the samples, in pixel space. The typical
    distance is the median over ``n_ref`` training points (2,000: its relative standard
    error is about 1%, and it costs a fifth of 10,000's search)."""
    if threshold <= 0 or n_ref < 1 or (n_train is not None and n_train < 2):
        raise ValueError(f"memorisation: threshold must be > 0, n_ref >= 1 and n_train >= 2, "
                         f"got {threshold}, {n_ref}, {n_train}")
    return Memorisation(threshold=threshold, n_train=n_train, n_ref=n_ref, seed=seed)
