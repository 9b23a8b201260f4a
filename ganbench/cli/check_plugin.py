"""The ``ganbench check-plugin`` command: one plugin against the contract
(``ganbench.testing``)."""

from __future__ import annotations

import sys

import click

from ganbench import config as cfg


@click.command("check-plugin")
@click.argument("group")
@click.argument("name")
@click.option("--set", "assignments", multiple=True, metavar="OPTION=VALUE",
              help="Build the plugin with this option instead of its default.")
def check_plugin_command(group, name, assignments) -> None:
    """Check a plugin against the contract (shapes, finiteness, gradients, determinism...).

    GROUP is generator, discriminator, loss or dataset (or ganbench.losses, ...)."""
    from ganbench.testing import check_plugin, format_results

    options = {}
    for text in assignments:  # the one --set parser (ganbench.settings), as train's
        key, value = cfg.parse_plugin_assignment(text, group)
        options[key] = value
    results = check_plugin(group, name, options=options or None)
    click.echo(format_results(results))
    failed = [r for r in results if not r.passed]
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)
