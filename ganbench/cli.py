"""The ``ganbench`` command: thin click wrappers over the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ganbench import config as cfg
from ganbench.errors import GanbenchError


class UserError(click.ClickException):
    """Bad input: one line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"ganbench: error: {self.format_message()}", err=True)


class Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GanbenchError as exc:
            raise UserError(" ".join(str(exc).split())) from None


STORE_OPTION = click.option(
    "--store", type=click.Path(file_okay=False), default=None,
    help="Folder of runs (default: $GANBENCH_STORE or ./ganbench-store).",
)


def _store(path: str | None):
    from ganbench.store import Store

    return Store(path)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ganbench")
def cli() -> None:
    """ganbench: train and compare GAN variants with the protocol of Goodfellow et al. (2014)."""


@cli.command("plugins")
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


@cli.command("train")
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
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the run's record as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train_command(generator, discriminator, loss, dataset, seed, steps, epochs, batch_size,
                  discriminator_steps, assignments, device, store, as_json, quiet) -> None:
    """Train one run with Algorithm 1, score it, and keep it in the store."""
    from ganbench.runner import prepare, resolve_device, train_run

    config = _config_from_flags(generator, discriminator, loss, dataset, seed, steps, epochs,
                                batch_size, discriminator_steps, assignments)
    resolve_device(device)  # a bad device is bad input: fail before building anything
    experiment = prepare(config)
    st = _store(store)
    record = train_run(experiment.config, store=st, device=device, quiet=quiet,
                       experiment=experiment)
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True, default=str))
    else:
        _print_record(record, st.run_dir(record["run_id"]))
    if record["status"] == "failed":
        sys.exit(1)


def _print_record(record: dict, folder: Path) -> None:
    line = f"run {record['run_id']}: {record['status']}"
    if record.get("reason"):
        line += f" ({record['reason']}"
        line += f", step {record['failed_step']})" if record.get("failed_step") is not None else ")"
    click.echo(line)
    if record.get("steps") is not None:
        click.echo(f"  steps {record['steps']}, epochs {record.get('epochs')}, "
                   f"{record.get('wall_time')} s on {record.get('device')}")
    if record.get("parzen_mean") is not None:
        click.echo(f"  Parzen log-likelihood {record['parzen_mean']:.2f} +- "
                   f"{record['parzen_stderr']:.2f} (sigma {record['parzen_sigma']:.3g}, "
                   f"{record['parzen_n_samples']} samples)")
    click.echo(f"  {folder}")


def _print_frame(frame, fmt: str, columns: list[str] | None = None) -> None:
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2))
    elif fmt == "markdown":
        click.echo(frame.to_markdown(index=False) if hasattr(frame, "to_markdown") else frame.to_string(index=False))
    else:
        shown = frame[columns] if columns else frame
        click.echo(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}") if len(frame)
                   else "no runs in the store")


@cli.command("results")
@STORE_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--all-columns", is_flag=True, help="Table: show every column.")
def results_command(store, fmt, all_columns) -> None:
    """One row per run in the store (ganbench.results.load)."""
    from ganbench import results

    frame = results.load(_store(store))
    columns = None if all_columns or frame.empty else results.summary_columns(frame)
    _print_frame(frame, fmt, columns)


@cli.command("score")
@click.argument("run_id")
@click.option("--n-samples", type=int, default=None, help="Kernel centres (default: the run's).")
@click.option("--device", default=None)
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True)
def score_command(run_id, n_samples, device, store, as_json) -> None:
    """Re-score a stored run with the paper's Parzen protocol (updates its record)."""
    from ganbench.scoring import rescore

    record = rescore(_store(store), run_id, n_samples=n_samples, device=device)
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True, default=str))
    else:
        _print_record(record, _store(store).run_dir(run_id))


@cli.command("parzen")
@click.option("--samples", "samples_path", required=True, type=click.Path(dir_okay=False),
              help="Samples of a generator: .npy, .npz or .pt, shape (N, ...).")
@click.option("--dataset", required=True, help="Dataset plugin whose valid/test splits score them.")
@click.option("--set", "assignments", multiple=True, metavar="dataset.OPTION=VALUE")
@click.option("--n-valid", type=int, default=1000, show_default=True)
@click.option("--device", default=None)
@click.option("--json", "as_json", is_flag=True)
def parzen_command(samples_path, dataset, assignments, n_valid, device, as_json) -> None:
    """Score samples made anywhere with the paper's Parzen-window protocol."""
    from ganbench.scoring import score_samples_file

    result = score_samples_file(samples_path, dataset, list(assignments), n_valid=n_valid,
                                device=device)
    if as_json:
        click.echo(json.dumps(result.to_record(), indent=2))
    else:
        click.echo(f"Parzen log-likelihood {result.mean:.2f} +- {result.stderr:.2f} nats "
                   f"(sigma {result.sigma:.3g} chosen on {result.n_valid} validation points, "
                   f"{result.n_samples} samples, {result.n_test} test points)")


@cli.command("sample")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("--n", "n", type=int, required=True, help="How many samples.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="FILE.npy")
@click.option("--device", default=None)
def sample_command(checkpoint, n, seed, out, device) -> None:
    """Draw samples from a generator: a run folder, its checkpoint, or exported weights."""
    import numpy as np

    from ganbench.runner import generate, resolve_device
    from ganbench.scoring import load_generator

    if n < 1:
        raise GanbenchError(f"--n must be at least 1, got {n}")
    dev = resolve_device(device)
    generator, config = load_generator(checkpoint, dev)
    samples = generate(generator, config.noise, n, seed=seed, device=dev)
    np.save(out, samples.numpy())
    click.echo(f"{n} samples of shape {tuple(samples.shape[1:])} written to {out}")


@cli.command("reproduce")
@click.argument("what", type=click.Choice(["paper"]))
@click.option("--quick", is_flag=True, help="A few minutes on a CPU: NOT the paper's budget.")
@click.option("--seeds", type=int, default=None, help="Seeds per update mode (default 3; quick 1).")
@click.option("--epochs", type=float, default=None, help="Epochs per run (default 300; quick 2).")
@click.option("--update", type=click.Choice(["both", "simultaneous", "alternating"]),
              default="both", show_default=True)
@click.option("--device", default=None)
@click.option("--tfd", "tfd_path", default=None, type=click.Path(),
              help="TFD_48x48.mat, to fill the TFD column.")
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
def reproduce_command(what, quick, seeds, epochs, update, device, tfd_path, workers, executor,
                      store, out, no_train, quiet) -> None:
    """Reproduce Table 1 of Goodfellow et al. (2014) on MNIST (and TFD with --tfd)."""
    from ganbench.reproduce import run_paper

    run_paper(quick=quick, seeds=seeds, epochs=epochs, update=update, device=device,
              tfd_path=tfd_path, workers=workers, executor=executor, store=_store(store),
              out=Path(out) if out else None, quiet=quiet, no_train=no_train, echo=click.echo)


@cli.command("check-plugin")
@click.argument("group")
@click.argument("name")
@click.option("--set", "assignments", multiple=True, metavar="OPTION=VALUE",
              help="Build the plugin with this option instead of its default.")
def check_plugin_command(group, name, assignments) -> None:
    """Check a plugin against the contract (shapes, finiteness, gradients, determinism...).

    GROUP is generator, discriminator, loss or dataset (or ganbench.losses, ...)."""
    from ganbench.testing import check_plugin, format_results

    options = {}
    for text in assignments:
        if "=" not in text:
            raise GanbenchError(f"--set {text!r} is not OPTION=VALUE")
        key, value = text.split("=", 1)
        options[key] = cfg.parse_value(value)
    results = check_plugin(group, name, options=options or None)
    click.echo(format_results(results))
    failed = [r for r in results if not r.passed]
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


from ganbench.cli_sweep import leaderboard_command, sweep_command  # noqa: E402

cli.add_command(sweep_command)
cli.add_command(leaderboard_command)


def main() -> None:
    cli(prog_name="ganbench")


if __name__ == "__main__":
    main()
