"""The ``ganbench reproduce`` command: a preset's runs trained and its table written
(``ganbench.reproduce``); ``paper`` is Table 1 of Goodfellow et al. (2014)."""

from __future__ import annotations

from pathlib import Path

import click

from ganbench.cli.common import STORE_OPTION, _store
from ganbench.errors import GanbenchError


@click.command("reproduce")
@click.argument("preset", metavar="PRESET")
@click.option("--quick", is_flag=True, help="A few minutes on a CPU: NOT the paper's budget.")
@click.option("--seeds", type=int, default=None, help="Seeds per update mode (default 3; quick 1).")
@click.option("--epochs", type=float, default=None, help="Epochs per run (default 300; quick 2).")
@click.option("--update", type=click.Choice(["both", "simultaneous", "alternating"]),
              default="both", show_default=True)
@click.option("--device", default=None)
@click.option("--tfd", "tfd_path", default=None, type=click.Path(),
              help="TFD_48x48.mat, to fill the TFD column.")
@click.option("--input", "input_values", multiple=True, metavar="NAME=VALUE",
              help="A value the preset's [inputs] name (--tfd PATH is --input tfd=PATH).")
@click.option("--workers", type=int, default=None, help="Runs at once (local executor).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True)
@STORE_OPTION
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Where the table goes (default ./paper-results, quick: ./paper-quick).")
@click.option("--no-train", is_flag=True,
              help="Train nothing: report the store as it is (unfinished runs: their best "
                   "generator so far, marked partial).")
@click.option("--quiet", "-q", is_flag=True)
def reproduce_command(preset, quick, seeds, epochs, update, device, tfd_path, input_values,
                      workers, executor, store, out, no_train, quiet) -> None:
    """Reproduce a published table: PRESET is a shipped preset's name (paper: Table 1 of
    Goodfellow et al. 2014 on MNIST, and TFD with --tfd) or the path of a preset TOML file."""
    from ganbench.reproduce import run_preset

    inputs = {}
    for text in input_values:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise GanbenchError(f"--input {text!r} is not NAME=VALUE (e.g. --input tfd=PATH)")
        inputs[name.strip()] = value
    if tfd_path is not None:
        inputs["tfd"] = tfd_path
    run_preset(preset, quick=quick, seeds=seeds, epochs=epochs, update=update, device=device,
               inputs=inputs, workers=workers, executor=executor, store=_store(store),
               out=Path(out) if out else None, quiet=quiet, no_train=no_train, echo=click.echo)
