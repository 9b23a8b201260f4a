"""The ``ganbench reproduce`` command: a preset's runs trained and its table written
(``ganbench.reproduce``); ``paper`` is Table 1 of Goodfellow et al. (2014)."""

from __future__ import annotations

from pathlib import Path

import click

from ganbench.cli.common import (
    METRICS_OPTION,
    STORE_OPTION,
    TENSORBOARD_OPTION,
    THREADS_OPTION,
    _metrics,
    _store,
    _tensorboard,
    _threads,
)
from ganbench.errors import GanbenchError


@click.command("reproduce")
@click.argument("preset", metavar="PRESET")
@click.option("--quick", is_flag=True, help="A few minutes on a CPU: NOT the paper's budget.")
@click.option("--seeds", type=int, default=None,
              help="Seeds (trials) per row (default: the preset's: paper 3, pacgan 10; quick 1).")
@click.option("--epochs", type=float, default=None,
              help="Epochs per run (default: the preset's; paper 300, quick 2).")
@click.option("--steps", type=int, default=None,
              help="Or: generator updates per run (pacgan: 400000; quick 200).")
@METRICS_OPTION
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
@THREADS_OPTION
@TENSORBOARD_OPTION
@STORE_OPTION
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Where the table goes (default ./paper-results, quick: ./paper-quick).")
@click.option("--no-train", is_flag=True,
              help="Train nothing: report the store as it is (unfinished runs: their best "
                   "generator so far, marked partial).")
@click.option("--quiet", "-q", is_flag=True)
def reproduce_command(preset, quick, seeds, epochs, steps, metrics, update, device, tfd_path,
                      input_values, workers, executor, threads, tensorboard, store, out,
                      no_train, quiet) -> None:
    """Reproduce a published table: PRESET is a shipped preset's name (paper: Table 1 of
    Goodfellow et al. 2014 on MNIST, and TFD with --tfd) or the path of a preset TOML file."""
    from ganbench.reproduce import run_preset

    if epochs is not None and steps is not None:
        raise GanbenchError("give --epochs or --steps, not both")
    inputs = {}
    for text in input_values:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise GanbenchError(f"--input {text!r} is not NAME=VALUE (e.g. --input tfd=PATH)")
        inputs[name.strip()] = value
    if tfd_path is not None:
        inputs["tfd"] = tfd_path
    tensorboard, threads = _tensorboard(tensorboard), _threads(threads)
    if tensorboard is not None or threads is not None:  # settings not in run ids
        from ganbench import presets

        preset = presets.find(preset)
        train = preset.data["run"].setdefault("train", {})
        if tensorboard is not None:
            train["tensorboard"] = tensorboard
        if threads is not None:
            train["threads"] = threads
    run_preset(preset, quick=quick, seeds=seeds, epochs=epochs, steps=steps,
               metrics=_metrics(metrics), update=update, device=device,
               inputs=inputs, workers=workers, executor=executor, store=_store(store),
               out=Path(out) if out else None, quiet=quiet, no_train=no_train, echo=click.echo)
