"""The ``ganbench train-classifier`` command: retrain a dataset's feature extractor (the
classifier behind its feature-space metrics).

The core knows no dataset: the command finds the function through the dataset plugin, as
``train_feature_extractor(out=None, seed=0, epochs=...)`` on the dataset factory or in the
module that defines it (MNIST's lives in ``ganbench_plugins``), and calls it; the plugin
trains, prints its progress and accuracy, and writes the weights."""

from __future__ import annotations

import inspect

import click

from ganbench.cli.common import Command
from ganbench.errors import ConfigError, DataError, PluginError

HOOK = "train_feature_extractor"


def find_trainer(dataset: str):
    """The dataset plugin's ``train_feature_extractor``, or a PluginError saying it has none."""
    from ganbench import plugins

    factory = plugins.load("dataset", dataset)
    trainer = getattr(factory, HOOK, None) or getattr(inspect.getmodule(factory), HOOK, None)
    if not callable(trainer):
        raise PluginError(f"dataset {dataset!r} has no feature extractor to train (its plugin "
                          f"defines no {HOOK}(out, seed, epochs))")
    return trainer


@click.command("train-classifier", cls=Command)
@click.option("--dataset", "-X", default="mnist", show_default=True,
              help="The dataset plugin whose feature extractor to train.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the weights (default: the plugin's, e.g. "
                   "./mnist_classifier.pt).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Passes over the training set (default: the plugin's; MNIST's is 5).")
@click.option("--seed", type=int, default=0, show_default=True)
def train_classifier_command(dataset: str, out: str | None, epochs: int | None,
                             seed: int) -> None:
    """Retrain a dataset's feature-space classifier and print its test accuracy.

    The shipped weights are pinned by sha256; to use new ones, replace the plugin's weights
    file and pin its sha256 (the plugin says where)."""
    trainer = find_trainer(dataset)
    options = {"out": out, "seed": seed} | ({} if epochs is None else {"epochs": epochs})
    try:
        trainer(**options)
    except FileNotFoundError as exc:  # no data to train on
        raise DataError(f"cannot train {dataset!r}'s feature extractor: {exc}") from None
    except ValueError as exc:  # a bad option, in the plugin's words
        raise ConfigError(f"cannot train {dataset!r}'s feature extractor: {exc}") from None
