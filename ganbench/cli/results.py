"""The commands that read and score what generators made: ``results`` (the store as a
table), ``score`` (re-score a stored run), ``parzen`` (score samples made anywhere) and
``sample`` (draw samples from a generator)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ganbench.cli.common import (
    METRICS_OPTION,
    STORE_OPTION,
    _metrics,
    _print_frame,
    _print_record,
    _store,
    _threads,
)
from ganbench.errors import GanbenchError


@click.command("results")
@STORE_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--all-columns", is_flag=True, help="Table: show every column.")
@click.option("--stale", "with_stale", is_flag=True,
              help="Also the runs set aside as stale (made by other plugin versions or "
                   "sources), with the folder each was moved to.")
def results_command(store, fmt, all_columns, with_stale) -> None:
    """One row per run in the store (ganbench.results.load); a run made by other plugin
    versions or sources than those installed shows as stale, with why."""
    from ganbench import results
    from ganbench.identity import STALE_DIR, moved_aside

    st = _store(store, must_exist=True)
    frame = results.load(st, stale=with_stale)
    columns = None if all_columns or frame.empty else results.summary_columns(frame)
    _print_frame(frame, fmt, columns)
    aside = len(moved_aside(st))
    here = (0 if frame.empty else int((frame["status"] == "stale").sum())) - with_stale * aside
    if fmt == "table" and (aside or here):
        listed = " (--stale lists them)" if aside and not with_stale else ""
        click.echo(f"stale: {here} run(s) in the store, {aside} set aside in "
                   f"{st.root / STALE_DIR}{listed}: made by other plugin versions or sources, "
                   f"never pooled; ganbench prune --stale --dry-run lists what it would remove",
                   err=True)


@click.command("score")
@click.argument("run_id")
@click.option("--n-samples", type=int, default=None, help="Kernel centres (default: the run's).")
@click.option("--device", default=None)
@click.option("--threads", type=int, default=None, metavar="N",
              help="Torch CPU threads (default: the cores free now).")
@METRICS_OPTION
@click.option("--set", "assignments", multiple=True, metavar="metric.NAME.OPTION=VALUE",
              help="A metric's option for this scoring, e.g. metric.fid.n_real=5000 "
                   "(repeatable; recorded with the metric's settings).")
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True)
def score_command(run_id, n_samples, device, threads, metrics, assignments, store,
                  as_json) -> None:
    """Re-score a stored run (its own protocol, or --metrics to add metrics to a finished run
    without retraining, --set to change a metric's options); updates its record."""
    from ganbench import compute
    from ganbench.scoring import rescore

    threads = compute.threads_for(_threads(threads), work=compute.LARGE_WORK)
    with compute.torch_threads(threads):
        record = rescore(_store(store, must_exist=True), run_id, n_samples=n_samples,
                         device=device, metrics=_metrics(metrics),
                         assignments=list(assignments))
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True, default=str))
    else:
        _print_record(record, _store(store).run_dir(run_id))


@click.command("parzen")
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


@click.command("sample")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("--n", "n", type=int, required=True, help="How many samples.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="FILE.npy")
@click.option("--device", default=None)
def sample_command(checkpoint, n, seed, out, device) -> None:
    """Draw samples from a generator: a run folder, its checkpoint, or exported weights."""
    import io

    import numpy as np

    from ganbench.evaluate import generate
    from ganbench.runner import resolve_device
    from ganbench.scoring import load_generator
    from ganbench.store import atomic_write_bytes

    if n < 1:
        raise GanbenchError(f"--n must be at least 1, got {n}")
    folder = Path(out).parent
    if not folder.is_dir():
        raise GanbenchError(f"--out {out}: folder {str(folder)!r} does not exist; create it "
                            f"first or choose another path")
    dev = resolve_device(device)
    generator, config = load_generator(checkpoint, dev)
    samples = generate(generator, config.noise, n, seed=seed, device=dev)
    buffer = io.BytesIO()
    np.save(buffer, samples.numpy())  # .npy format, to exactly the path given (np.save(path)
    atomic_write_bytes(Path(out), buffer.getvalue())  # would add .npy), never half-written
    click.echo(f"{n} samples of shape {tuple(samples.shape[1:])} written to {out}")
