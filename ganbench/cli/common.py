"""What the ``ganbench`` commands share: the error that means bad input (one line on stderr,
exit status 2), the group and command classes that turn a GanbenchError into it, the
``--store`` option, and the printing of a run's record and of a results table.

The command modules import this, never ``ganbench.cli`` itself (which imports them)."""

from __future__ import annotations

from pathlib import Path

import click

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


class Command(click.Command):
    """A command that turns GanbenchError into one line and exit status 2 by itself too, so it
    behaves the same inside the ``ganbench`` group and on its own."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GanbenchError as exc:
            raise UserError(" ".join(str(exc).split())) from None


STORE_OPTION = click.option(
    "--store", type=click.Path(file_okay=False), default=None,
    help="Folder of runs (default: $GANBENCH_STORE or ./ganbench-store).",
)


METRICS_OPTION = click.option(
    "--metrics", "metrics", default=None, metavar="NAME,NAME",
    help="Metrics to report, comma-separated, e.g. parzen,fid,kid (default: the dataset's "
         "default_metrics, else parzen; `ganbench plugins` lists them).",
)


TENSORBOARD_OPTION = click.option(
    "--tensorboard", "tensorboard", default=None, metavar="DIR",
    help="Write TensorBoard event files (losses, learning rates, steps per second, metrics, "
         "samples) under DIR, one subfolder per run (pip install ganbench[tensorboard]).",
)


THREADS_OPTION = click.option(
    "--threads", "threads", type=int, default=None, metavar="N",
    help="Torch CPU threads per run (train.threads; default: automatic, one unless the model "
         "is large and cores are free).",
)


def _threads(n: int | None) -> int | None:
    """``--threads N`` checked (at least 1), or None (automatic)."""
    if n is not None and n < 1:
        raise GanbenchError(f"--threads must be at least 1, got {n}")
    return n


def _tensorboard(path: str | None) -> str | None:
    """``--tensorboard DIR`` checked (installed, writable) and made absolute, or None."""
    if path is None:
        return None
    from ganbench import tensorboard_log

    return tensorboard_log.root(path)


def _metrics(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise GanbenchError(f"--metrics {text!r} names no metric; e.g. --metrics parzen,fid")
    return names


def _store(path: str | None, *, must_exist: bool = False):
    """The store at ``path`` (default: $GANBENCH_STORE or ./ganbench-store). A command that
    only reads runs (``must_exist``) refuses a store folder that does not exist."""
    from ganbench.store import Store

    store = Store(path)
    if must_exist and not store.root.is_dir():
        where = f"--store {path}" if path is not None else f"the default store {store.root}"
        raise GanbenchError(f"{where}: no such folder; give the folder your runs are in "
                            f"(--store DIR or GANBENCH_STORE)")
    return store


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
    for name in sorted(set(record.get("metrics") or {}) - {"parzen"}):
        stem = name.replace("-", "_")
        values = {k: v for k, v in record.items() if (k == stem or k.startswith(stem + "_"))
                  and not k.endswith("_seconds") and isinstance(v, (int, float))}
        click.echo(f"  {name}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
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
