"""The ``ganbench plugins`` command: every installed plugin and its status."""

from __future__ import annotations

import json

import click


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def plugins_command(as_json: bool) -> None:
    """List every plugin: group, name, distribution and version, status."""
    from ganbench import plugins

    rows = [
        {"group": p.group, "name": p.name, "distribution": p.distribution,
         "version": p.version, "status": plugins.status(p)}
        for p in plugins.discover()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    widths = {k: max([len(k)] + [len(str(r[k])) for r in rows]) for k in ("group", "name", "distribution", "version")}
    header = "  ".join(k.ljust(widths[k]) for k in widths) + "  status"
    click.echo(header)
    for r in rows:
        click.echo("  ".join(str(r[k]).ljust(widths[k]) for k in widths) + "  " + r["status"])
