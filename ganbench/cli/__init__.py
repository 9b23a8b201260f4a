"""The ``ganbench`` command: thin click wrappers over the library.

One module per command (or small family of commands) under ``ganbench.cli``; this package
defines the group and ``main()`` and registers every command, here and nowhere else. The
command modules share ``ganbench.cli.common`` and never import this package.
"""

from __future__ import annotations

import click

from ganbench.cli.check_plugin import check_plugin_command
from ganbench.cli.classifier import train_classifier_command
from ganbench.cli.common import Group
from ganbench.cli.plugins import plugins_command
from ganbench.cli.prune import prune_command, rm_command
from ganbench.cli.reproduce import reproduce_command
from ganbench.cli.results import parzen_command, results_command, sample_command, score_command
from ganbench.cli.sweep import leaderboard_command, sweep_command
from ganbench.cli.train import train_command


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ganbench")
def cli() -> None:
    """ganbench: train and compare GAN variants with the protocol of Goodfellow et al. (2014)."""


# Every command, registered in one place.
cli.add_command(plugins_command)
cli.add_command(train_command)
cli.add_command(results_command)
cli.add_command(score_command)
cli.add_command(parzen_command)
cli.add_command(sample_command)
cli.add_command(reproduce_command)
cli.add_command(check_plugin_command)
cli.add_command(sweep_command)
cli.add_command(leaderboard_command)
cli.add_command(train_classifier_command)
cli.add_command(prune_command)
cli.add_command(rm_command)


def main() -> None:
    from ganbench.compute import passive_openmp

    passive_openmp()  # before torch loads OpenMP (no command module imports torch at import)
    cli(prog_name="ganbench")
