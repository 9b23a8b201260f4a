"""An experiment, built: resolve and validate a run's config, build its plugins and check
them against each other and the contract, before anything is written to the store.

The rest of a run's life (train, select, score, record) is ``ganbench.run``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganbench import config as cfg
from ganbench import plugins
from ganbench.errors import ConfigError, GanbenchError, PluginError

SPLITS = ("train", "valid", "test")


@dataclass
class Experiment:
    """A resolved config with its plugins built and checked against each other."""

    config: cfg.RunConfig
    dataset: Any
    generator: nn.Module
    discriminator: nn.Module
    loss: Any
    plugin_versions: dict[str, dict[str, str]]

    @property
    def run_id(self) -> str:
        return self.config.run_id


def resolve_device(device: str | None) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N``; the first GPU when there is one and none is named."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for, but no CUDA GPU is visible; use --device cpu")
        index = dev.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {device!r} does not exist: {torch.cuda.device_count()} GPU(s) visible"
            )
        return torch.device("cuda", index)
    if dev.type != "cpu":
        raise ConfigError(f"unsupported device {device!r}; use cpu, cuda or cuda:N")
    return dev


def _build(part: str, name: str, **kwargs: Any) -> Any:
    factory = plugins.load(part, name)
    try:
        return factory(**kwargs)
    except GanbenchError:
        raise
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PluginError(f"{part} {name!r} could not be built: {message}") from exc


def _check_dataset(name: str, dataset: Any) -> tuple[int, ...]:
    """The dataset's shape, or the first breach of its contract as a PluginError (the checks
    are ganbench.contract's, shared with ganbench.testing)."""
    from ganbench import contract

    return contract.check_dataset(name, dataset)


def prepare_dataset_shape(config: cfg.RunConfig) -> tuple[int, ...]:
    """The data shape of a resolved config's dataset (builds the dataset)."""
    dataset = _build("dataset", config.dataset, **config.options["dataset"])
    return _check_dataset(config.dataset, dataset)


def _versions(config: cfg.RunConfig) -> dict[str, dict[str, str]]:
    out = {}
    for part in cfg.PARTS:
        info = plugins.find(part, getattr(config, part))
        out[part] = {"name": info.name, "distribution": info.distribution, "version": info.version}
    return out


def prepare(config: cfg.RunConfig) -> Experiment:
    """Resolve, build and cross-check everything; raise a one-line error on any bad input."""
    resolved = cfg.resolve(config)
    opts = resolved.options
    dataset = _build("dataset", resolved.dataset, **opts["dataset"])
    shape = _check_dataset(resolved.dataset, dataset)
    n_train = len(dataset.splits["train"])
    m = resolved.train["batch_size"]
    if m > n_train:
        raise ConfigError(
            f"batch_size {m} is larger than the training split ({n_train} examples); "
            f"use --batch-size {n_train} or less"
        )
    from ganbench import evaluate, seeds

    protocol = evaluate.Protocol.from_config(resolved, dataset=dataset)
    evaluate.check_metrics(protocol, dataset, resolved.dataset)
    torch.manual_seed(seeds.seed_for(resolved.seed, "init"))  # initialisation is part of the seed
    noise_dim = resolved.noise["dim"]
    generator = _build("generator", resolved.generator, noise_dim=noise_dim, data_shape=shape,
                       **opts["generator"])
    discriminator = _build("discriminator", resolved.discriminator, data_shape=shape,
                           **opts["discriminator"])
    loss = _build("loss", resolved.loss, **opts["loss"])
    from ganbench import contract  # the same checks as ganbench.testing's structural ones

    contract.check_module("generator", resolved.generator, generator)
    contract.check_module("discriminator", resolved.discriminator, discriminator)
    contract.check_loss(resolved.loss, loss)
    _check_shapes(resolved, generator, discriminator, shape)
    return Experiment(resolved, dataset, generator, discriminator, loss, _versions(resolved))


def _check_shapes(config: cfg.RunConfig, G: nn.Module, D: nn.Module, shape: tuple) -> None:
    """One forward pass of two samples, without touching any random stream of the run."""
    from ganbench import contract

    contract.check_models(G, D, shape, noise_dim=config.noise["dim"], generator=config.generator,
                          discriminator=config.discriminator, dataset=config.dataset)


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)
        os.environ["OMP_NUM_THREADS"] = str(n)


def finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


# Names that moved to ganbench.run and ganbench.evaluate in the redesign (issue 17); kept
# importable from here for scripts written against the old layout. Resolved lazily, so that
# this module does not import them (run imports runner, not the other way round).
_MOVED = {"train_run": "ganbench.run", "generate": "ganbench.evaluate",
          "SELECTION": "ganbench.run", "versions": "ganbench.run"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

