"""The ``ganbench train`` command: one run from flags, trained, scored and stored."""

from __future__ import annotations

import json
import sys

import click

from ganbench import config as cfg
from ganbench.cli.common import (
    METRICS_OPTION,
    STORE_OPTION,
    TENSORBOARD_OPTION,
    THREADS_OPTION,
    _metrics,
    _print_record,
    _store,
    _tensorboard,
    _threads,
)
from ganbench.errors import GanbenchError


def _config_from_flags(generator, discriminator, loss, dataset, seed, steps, epochs, batch_size,
                       discriminator_steps, assignments) -> cfg.RunConfig:
    config = cfg.RunConfig(generator=generator, discriminator=discriminator, loss=loss,
                           dataset=dataset, seed=seed)
    if steps is not None and epochs is not None:
        raise GanbenchError("give --steps or --epochs, not both")
    if steps is not None:
        config.train["steps"] = steps
    if epochs is not None:
        config.train["epochs"] = epochs
    if batch_size is not None:
        config.train["batch_size"] = batch_size
    if discriminator_steps is not None:
        config.train["discriminator_steps"] = discriminator_steps
    return cfg.with_assignments(config, list(assignments))


@click.command("train")
@click.option("--generator", "-G", required=True, help="Generator plugin name.")
@click.option("--discriminator", "-D", required=True, help="Discriminator plugin name.")
@click.option("--loss", "-L", required=True, help="Loss plugin name.")
@click.option("--dataset", "-X", required=True, help="Dataset plugin name.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--steps", type=int, default=None, help="Iterations (generator updates).")
@click.option("--epochs", type=float, default=None, help="Passes over the training split.")
@click.option("--batch-size", type=int, default=None, help="Minibatch size m (default 100).")
@click.option("--discriminator-steps", "-k", type=int, default=None,
              help="Discriminator updates per iteration, k (default 1).")
@click.option("--set", "assignments", multiple=True, metavar="PART.OPTION=VALUE",
              help="A plugin option or setting, e.g. generator.hidden=[256,256], "
                   "optimizer.lr=0.01, train.update=simultaneous. Repeatable.")
@click.option("--device", default=None, help="cpu, cuda or cuda:N (default: a GPU if any).")
@THREADS_OPTION
@METRICS_OPTION
@TENSORBOARD_OPTION
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the run's record as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train_command(generator, discriminator, loss, dataset, seed, steps, epochs, batch_size,
                  discriminator_steps, assignments, device, threads, metrics, tensorboard, store,
                  as_json, quiet) -> None:
    """Train one run with Algorithm 1, score it, and keep it in the store."""
    from ganbench.run import train_run
    from ganbench.runner import prepare, resolve_device

    config = _config_from_flags(generator, discriminator, loss, dataset, seed, steps, epochs,
                                batch_size, discriminator_steps, assignments)
    if metrics is not None:
        config.score["metrics"] = _metrics(metrics)
    if tensorboard is not None:
        config.train["tensorboard"] = _tensorboard(tensorboard)
    if _threads(threads) is not None:
        config.train["threads"] = threads
    resolve_device(device)  # a bad device is bad input: fail before building anything
    experiment = prepare(config)
    st = _store(store)
    try:
        record = train_run(experiment.config, store=st, device=device, quiet=quiet,
                           experiment=experiment)
    except KeyboardInterrupt:
        _interrupted(st, experiment.run_id)
        sys.exit(130)
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True, default=str))
    else:
        _print_record(record, st.run_dir(record["run_id"]))
    if record["status"] == "failed":
        sys.exit(1)


def _interrupted(store, run_id: str) -> None:
    """Ctrl-C: what was saved, and how to go on (the same command resumes exactly)."""
    folder = store.run_dir(run_id)
    record = store.read_record(run_id) if (folder / "record.json").exists() else None
    if record and record.get("steps") is not None:
        saved = (f"run {run_id} interrupted at step {record['steps']}; its last checkpoint is "
                 f"in {folder}")
    else:
        saved = f"run {run_id} interrupted before its first checkpoint; nothing to resume from"
    click.echo(f"\n{saved}. Run the same command again to resume it.", err=True)

