"""The ``ganbench sweep`` and ``ganbench leaderboard`` commands.

Thin: the work is in ``ganbench.sweep``, ``ganbench.executors`` and ``ganbench.leaderboard``.
Both are ``Command``s, which report bad input by themselves, so they behave the same inside
the ``ganbench`` group and on their own.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ganbench.cli.common import (
    METRICS_OPTION,
    STORE_OPTION,
    TENSORBOARD_OPTION,
    Command,
    _metrics,
    _store,
    _tensorboard,
)


def _where(executor: str, slots: list[str], n_todo: int, ray_address: str | None,
           workers: int | None, threads: int | None) -> str:
    from ganbench.executors import cpu_cores, threads_per_worker

    if executor == "ray":
        return (f"executor ray: the cluster at {ray_address}" if ray_address else
                f"executor ray: a local Ray instance with {workers or cpu_cores()} CPUs")
    used = slots[: max(1, n_todo)]
    most = threads_per_worker(len(used), threads)
    each = (f"{most} thread{'s' if most > 1 else ''} each" if threads is not None else
            f"threads automatic, at most {most} each")
    devices = sorted(set(used), key=used.index)
    from ganbench.executors.local import inline

    if inline(used):
        return f"executor local: in this process on cpu ({each})"
    return (f"executor local: {len(used)} worker process{'es' if len(used) > 1 else ''} on "
            f"{', '.join(devices)} ({each})")


@click.command("sweep", cls=Command)
@click.argument("sweep_file", type=click.Path())
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="local: this machine's GPUs or CPU cores; ray: a Ray cluster.")
@click.option("--devices", default=None, metavar="cpu|cuda:0,cuda:1",
              help="Devices for the local executor (default: every visible GPU, else cpu); "
                   "for ray: cpu or cuda (default: GPUs if the cluster has any).")
@click.option("--workers", type=int, default=None,
              help="Worker processes (local; default: one per GPU, or one single-threaded process per CPU core); "
                   "for ray: the CPUs of the local instance started when no address is given.")
@click.option("--workers-per-device", type=int, default=1, show_default=True,
              help="Runs at once on each GPU (small models).")
@click.option("--threads", type=int, default=None,
              help="Torch threads per run (train.threads; default: automatic, one unless the "
                   "model is large and the cores divided among the workers are free).")
@click.option("--ray-address", default=None, metavar="HOST:PORT",
              help="An existing Ray cluster's head (e.g. 10.0.0.1:6379); default: a local one.")
@METRICS_OPTION
@TENSORBOARD_OPTION
@STORE_OPTION
@click.option("--dry-run", is_flag=True, help="Check every run and print the plan; run nothing.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
def sweep_command(sweep_file, executor, devices, workers, workers_per_device, threads,
                  ray_address, metrics, tensorboard, store, dry_run, quiet) -> None:
    """Train every combination in a sweep file (TOML) that is not already in the store.

    Every run is checked before any starts; rerunning the same command trains only what is
    missing and resumes interrupted runs from their checkpoints."""
    from ganbench import compute, executors, sweep, tensorboard_log

    compute.threads_from_env()  # a bad GANBENCH_THREADS: one line before any plan is printed
    configs = sweep.load_sweep(sweep_file)
    if metrics is not None:  # over the sweep file's metrics: they are not part of run ids
        for config in configs:
            config.score["metrics"] = _metrics(metrics)
    tensorboard = _tensorboard(tensorboard)
    for config in configs:  # the flag over the sweep file's train.tensorboard (not in run ids)
        if tensorboard is not None:
            config.train["tensorboard"] = tensorboard
        if threads is not None:  # the flag over the sweep file's train.threads (not in run ids)
            config.train["threads"] = threads
        tensorboard_log.check(config)
    device_list = executors.parse_devices(devices)
    slots = executors.check_executor(executor, devices=device_list, workers=workers,
                                     workers_per_device=workers_per_device,
                                     ray_address=ray_address, threads=threads)
    configs = sweep.resolve_all(configs, check=True)
    st = _store(store)
    the_plan = executors.plan(configs, st)
    click.echo(f"sweep {sweep_file}: {sweep.describe(configs)} = {len(configs)} runs")
    click.echo(f"  {the_plan.summary()}")
    click.echo(f"  {_where(executor, slots, len(the_plan.todo), ray_address, workers, threads)}; "
               f"store {st.root}")
    if dry_run:
        for config, status in zip(the_plan.configs, the_plan.statuses):
            click.echo(f"  {config.run_id}  {executors.label(config)}  {status or 'to run'}")
        return
    started = time.perf_counter()
    elsewhere: set[str] = set()  # runs another sweep on this store trained meanwhile
    try:
        records = executors.run_many(
            configs, store=st, executor=executor, devices=device_list, workers=workers,
            workers_per_device=workers_per_device, ray_address=ray_address, quiet=quiet,
            validate=False, threads=threads, trained_elsewhere=elsewhere)
    except executors.Interrupted as exc:
        finished = [r for r in exc.records if r is not None and r.get("status") != "interrupted"]
        before = len(the_plan.done)
        click.echo(f"interrupted: {len(finished)} of {len(configs)} runs finished "
                   f"({len(finished) - before} in this sweep, {before} before it)")
        for config, record in zip(configs, exc.records):
            if (record is not None and record.get("status") != "interrupted"
                    and config.run_id not in {c.run_id for c in the_plan.done}):
                click.echo(f"  {record['run_id']}  {executors.label(config)}  {record['status']}")
        click.echo("the others resume from their last checkpoints when you run the same "
                   "command again")
        sys.exit(130)
    _summary(configs, records, time.perf_counter() - started, st, len(elsewhere))
    if any(r.get("status") in ("failed", "interrupted") for r in records):
        sys.exit(1)


def _summary(configs, records, seconds: float, store, elsewhere: int = 0) -> None:
    from ganbench.executors import label

    counts = {s: sum(r.get("status") == s for r in records)
              for s in ("done", "diverged", "failed", "interrupted")}
    text = (f"finished {len(records)} runs in {seconds:.0f} s: {counts['done']} done, "
            f"{counts['diverged']} diverged, {counts['failed']} failed")
    if elsewhere:
        text += f" ({elsewhere} trained by another process on this store, read here)"
    if counts["interrupted"]:
        text += (f", {counts['interrupted']} interrupted (their worker was stopped by a "
                 f"signal; the same command resumes them)")
    click.echo(text)
    for config, record in zip(configs, records):
        if record.get("status") in ("failed", "diverged", "interrupted"):
            reason = " ".join(str(record.get("reason")).split())[:300]
            click.echo(f"  {record['status']}: {record['run_id']}  {label(config)}: {reason}")
    click.echo(f"leaderboard: ganbench leaderboard --store {store.root}")


@click.command("leaderboard", cls=Command)
@STORE_OPTION
@click.option("--metric", default="parzen_mean", show_default=True,
              help="A numeric column of `ganbench results` (HTML: a selector also offers every "
                   "other score the runs' metrics declare).")
@click.option("--by", default="generator,discriminator,loss,dataset", show_default=True,
              help="Columns that name a variant (seeds are pooled; an option that varies "
                   "is added as a column of its own).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "html", "csv"]),
              default="markdown", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (default: print).")
@click.option("--lower-is-better", is_flag=True,
              help="Rank the lowest --metric first (the default: as its metric declares, else "
                   "guessed from the name, e.g. fid).")
@click.option("--references", is_flag=True,
              help="Add reference rows per dataset, not ranked: the metric for held-out real "
                   "data and for a memoriser (copies of training examples), under the runs' "
                   "protocol; computed once and kept in <store>/.references/.")
@click.option("--dataset", "datasets", default=None, metavar="NAME,NAME",
              help="Only the runs on these datasets (default: every dataset, each ranked apart).")
def leaderboard_command(store, metric, by, fmt, out, lower_is_better, references,
                        datasets) -> None:
    """Rank the variants in the store: mean, std and 95% t-interval over seeds, Welch tests
    against the best with Holm's correction, unfinished seeds and runs left out shown."""
    from ganbench import results
    from ganbench.leaderboard import boards, leaderboard, render

    st = _store(store, must_exist=True)
    columns = [c.strip() for c in by.split(",") if c.strip()]
    frame = results.load(st)
    if datasets:
        from ganbench.errors import ConfigError

        names = [d.strip() for d in datasets.split(",") if d.strip()]
        known = sorted(frame["dataset"].dropna().unique()) if "dataset" in frame else []
        if not set(names) & set(known):
            raise ConfigError(f"--dataset {datasets}: no runs of it in the store; datasets: "
                              f"{', '.join(map(str, known)) or 'none'}")
        frame = frame[frame["dataset"].isin(names)]
    direction = False if lower_is_better else None
    if fmt == "html":
        tables = boards(frame, metric=metric, by=columns, higher_is_better=direction)
    else:
        tables = [leaderboard(frame, metric=metric, by=columns, higher_is_better=direction)]
    if references:
        from ganbench.references import add_to

        tables = [add_to(t, st, echo=lambda line: click.echo(line, err=True)) for t in tables]
    text = render(tables, fmt, store=st)
    if out:
        from ganbench.store import atomic_write_bytes

        atomic_write_bytes(Path(out), text.encode())
        click.echo(f"leaderboard of {len(tables[0])} variants written to {out}")
    else:
        click.echo(text, nl=False)
