"""``ganbench reproduce paper``: the paper's MNIST experiment with the original code's
configuration, scored with the paper's Parzen protocol, printed beside Table 1.

The preset is plain configuration (plugin names and options); it trains through the same
sweep machinery as any run.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganbench import plugins
from ganbench.config import RunConfig

# Table 1 as published: (model, MNIST mean, MNIST stderr, TFD mean, TFD stderr).
PUBLISHED = [
    ("DBN", 138.0, 2.0, 1909.0, 66.0),
    ("Stacked CAE", 121.0, 1.6, 2110.0, 50.0),
    ("Deep GSN", 214.0, 1.1, 1890.0, 29.0),
    ("Adversarial nets", 225.0, 2.0, 2057.0, 26.0),
]
UPDATES = ("simultaneous", "alternating")
PAPER_EPOCHS = 300  # the original recorded no stopping epoch; momentum saturates at 250
QUICK_EPOCHS = 2
BATCHES_PER_EPOCH = 500  # 50,000 training images / 100


def pixel_means(dataset: str = "mnist", **options: Any) -> list[float]:
    """The mean of every pixel of the training split: the generator's output bias is their
    logit (pylearn2's init_sigmoid_bias_from_marginals, as in the original mnist.yaml)."""
    data = plugins.load("dataset", dataset)(**options)
    return [round(float(v), 8) for v in data.splits["train"].double().mean(dim=0).flatten()]


def paper_config(update: str, seed: int, epochs: float, means: list[float],
                 dataset: str = "mnist", dataset_options: dict | None = None,
                 select_every: int = BATCHES_PER_EPOCH, patience: int | None = None) -> RunConfig:
    """The original code's mnist.yaml and its cost, as a run config. No early stopping by
    default: the original had no stopping rule, and the validation score climbs slowly
    under noise of a few nats (measured, simultaneous seed 0: 158 at epoch 100, 164-170
    from epoch 130 to 186), so a patience of 25 epochs stopped that run at epoch 186, while
    the learning rate was still 0.07 of its 0.1."""
    return RunConfig(
        generator="paper-mnist",
        discriminator="paper-mnist",
        loss="non-saturating",
        dataset=dataset,
        seed=seed,
        options={
            "generator": {"output_bias_mean": means},
            "loss": {"discriminator_scale": 0.5},  # D: 0.5 [BCE(D(x),1) + BCE(D(G(z)),0)]
            "dataset": dict(dataset_options or {}),
        },
        train={"epochs": epochs, "batch_size": 100, "discriminator_steps": 1, "update": update,
               "checkpoint_every": select_every, "log_every": 100},
        noise={"prior": "uniform", "dim": 100, "scale": math.sqrt(3)},
        optimizer={"name": "sgd", "lr": 0.1, "lr_decay": 1.000004, "lr_min": 1e-6,
                   "momentum": 0.5, "momentum_final": 0.7, "momentum_start_epoch": 1,
                   "momentum_saturate_epoch": 250},
        score={"n_samples": 10000, "n_valid": 1000, "select": "valid",
               "select_every": select_every, "patience": patience},
    )


def paper_configs(seeds: int, epochs: float, means: list[float], **kwargs: Any) -> list[RunConfig]:
    return [paper_config(u, s, epochs, means, **kwargs) for u in UPDATES for s in range(seeds)]


@dataclass
class Reference:
    mean: float
    stderr: float
    sigma: float
    seconds: float


def real_data_reference(dataset: str = "mnist", n: int = 10000, device: str | None = None,
                        **options: Any) -> Reference:
    """The Parzen score of ``n`` real training images as kernel centres, same protocol:
    roughly what a perfect generator could score."""
    from ganbench.parzen import parzen_log_likelihood

    splits = plugins.load("dataset", dataset)(**options).splits
    started = time.perf_counter()
    result = parzen_log_likelihood(splits["train"][:n], splits["valid"][:1000], splits["test"],
                                   device=device)
    return Reference(result.mean, result.stderr, result.sigma, time.perf_counter() - started)


def _epochs(record: dict[str, Any]) -> str:
    """Epochs trained, as a table shows them: whole epochs, fractions for tiny budgets."""
    epochs = float(record["epochs"])
    return str(round(epochs)) if epochs >= 10 else f"{epochs:.3g}"


def table(records: list[dict[str, Any]], reference: Reference | None, *, quick: bool,
          tfd: list[dict[str, Any]] | None = None, tfd_note: str | None = None) -> pd.DataFrame:
    """Table 1 with ganbench's rows: per update mode, the mean over the finished seeds, the mean
    of their standard errors, and the seed-to-seed spread; unfinished runs (``partial``) are
    listed beside it, and averaged only when no run has finished."""
    rows = [{"model": m, "MNIST": f"{a:g} +- {b:g}", "TFD": f"{c:g} +- {d:g}", "source": "published"}
            for m, a, b, c, d in PUBLISHED]
    suffix = " (quick run, NOT the paper's budget)" if quick else ""
    for update in UPDATES:
        runs = [r for r in records if r.get("update") == update]
        if not runs:
            continue
        scored = [r for r in runs if r.get("parzen_mean") is not None]
        finished = [r for r in scored if r.get("status") == "done"]
        partial = [r for r in scored if r.get("status") == "partial"]
        # The mean is over finished runs; unfinished ones count only when nothing has finished.
        counted = finished or partial
        if counted:
            means = np.array([r["parzen_mean"] for r in counted])
            stderr = float(np.mean([r["parzen_stderr"] for r in counted]))
            if len(counted) > 1:
                spread = float(np.std(means, ddof=1))
                cell = f"{means.mean():.1f} +- {stderr:.1f} (seed sd {spread:.1f}, {len(counted)} seeds)"
            else:
                cell = f"{means.mean():.1f} +- {stderr:.1f} (1 seed)"
            if not finished:
                cell += (f"; unfinished runs only, at "
                         f"{', '.join(_epochs(r) for r in partial)} epochs "
                         f"(best generator so far)")
        else:
            cell = "no finished run"
        others = Counter(r.get("status") or "not started" for r in runs
                         if r not in finished and r not in partial)
        if others:
            # e.g. "1 of 3 runs not started", "2 of 3 runs: 1 diverged, 1 failed"
            if len(others) == 1:
                what = f" {next(iter(others))}"
            else:
                what = ": " + ", ".join(f"{n} {status}" for status, n in sorted(others.items()))
            cell += f"; {sum(others.values())} of {len(runs)} runs{what}"
        if partial and finished:
            cell += "; not in the mean, unfinished: " + ", ".join(
                f"seed {r.get('seed', '?')} at {_epochs(r)} epochs ({r['parzen_mean']:.1f})"
                for r in partial)
        tfd_cell = tfd_note or "data not available"
        if tfd:
            tfd_done = [r for r in tfd if r.get("update") == update and r.get("parzen_mean") is not None]
            if tfd_done:
                folds = np.array([r["parzen_mean"] for r in tfd_done])
                se = folds.std(ddof=1) / math.sqrt(len(folds)) if len(folds) > 1 else float("nan")
                tfd_cell = f"{folds.mean():.1f} +- {se:.1f} ({len(folds)} folds)"
        rows.append({"model": f"Adversarial nets, ganbench, {update}{suffix}", "MNIST": cell,
                     "TFD": tfd_cell, "source": "this run"})
    if reference is not None:
        rows.append({"model": "reference: 10,000 real training images as kernel centres",
                     "MNIST": f"{reference.mean:.1f} +- {reference.stderr:.1f} "
                              f"(sigma {reference.sigma:.3f})",
                     "TFD": "", "source": "this run"})
    return pd.DataFrame(rows)


NOTES = """\
Notes:
- Parzen-window log-likelihood in nats (the paper's protocol: 10,000 samples of G as kernel
  centres, sigma from numpy.logspace(-1, 0, 10) chosen on the first 1,000 validation images,
  mean and standard error over the 10,000 test images).
- ganbench rows: mean over seeds of each seed's test score; "+-" is the mean of the seeds'
  standard errors over test examples (the paper's error bar); "seed sd" is the spread between
  seeds, which the paper does not report.
- The original code recorded no stopping epoch: each run's generator is the checkpoint with
  the best Parzen score on the validation split (scored every epoch), never chosen on test.
- No early stopping: every run trains its whole budget, as the original had no stopping rule.
- "simultaneous" is what the original code did (D and G updated from one minibatch);
  "alternating" is the paper's Algorithm 1 with k = 1.
"""


def markdown(frame: pd.DataFrame, header: str) -> str:
    lines = [header, "", "| model | MNIST | TFD |", "|---|---|---|"]
    lines += [f"| {r.model} | {r.MNIST} | {r.TFD} |" for r in frame.itertuples()]
    return "\n".join(lines) + "\n\n" + NOTES


def write_table(frame: pd.DataFrame, out: Path, header: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv, md = out / "table1.csv", out / "table1.md"
    frame.to_csv(csv, index=False)
    md.write_text(markdown(frame, header))
    return csv, md


def run_paper(*, quick: bool = False, seeds: int | None = None, epochs: float | None = None,
              update: str = "both", device: str | None = None, tfd_path: str | None = None,
              workers: int | None = None, executor: str = "local", store=None,
              out: Path | None = None, quiet: bool = True, no_train: bool = False,
              echo=print) -> pd.DataFrame:
    """Train the preset (through the sweep machinery), score, and write Table 1."""
    from ganbench.executors import run_many
    from ganbench.runner import prepare, resolve_device
    from ganbench.scoring import export_generator
    from ganbench.store import Store

    store = store or Store()
    resolve_device(device)
    seeds = seeds if seeds is not None else (1 if quick else 3)
    epochs = epochs if epochs is not None else (QUICK_EPOCHS if quick else PAPER_EPOCHS)
    out = out or Path("paper-quick" if quick else "paper-results")
    if seeds < 1 or epochs <= 0:
        from ganbench.errors import ConfigError

        raise ConfigError("--seeds must be at least 1 and --epochs positive")
    updates = UPDATES if update == "both" else (update,)
    means = pixel_means()
    configs = [paper_config(u, s, epochs, means) for u in updates for s in range(seeds)]
    configs = [prepare(c).config for c in configs]  # every run checked before any trains
    budget = "QUICK run: not the paper's budget" if quick else "paper preset"
    echo(f"reproduce paper ({budget}): {len(configs)} runs of {epochs:g} epochs "
         f"({', '.join(updates)} x {seeds} seed(s)), store {store.root}")
    started = time.perf_counter()
    if no_train:
        records = [partial_record(store, c, device) for c in configs]
    else:
        records = run_many(configs, store=store, executor=executor, workers=workers,
                           devices=[device] if device else None, quiet=quiet)
    for config, record in zip(configs, records):
        record["update"] = config.train["update"]
        record["seed"] = config.seed
    tfd_records, tfd_note = None, None
    if tfd_path:
        tfd_records = _run_tfd(tfd_path, updates, epochs, store, executor, workers, device, quiet)
    else:
        tfd_note = ("data not available: pass --tfd /path/to/TFD_48x48.mat (or set "
                    "GANBENCH_TFD) to fill this column")
    reference = real_data_reference(device=device)
    frame = table(records, reference, quick=quick, tfd=tfd_records, tfd_note=tfd_note)
    header = (f"# Table 1, reproduced by ganbench ({budget}: {epochs:g} epochs, {seeds} seed(s) "
              f"per update mode)")
    csv, md = write_table(frame, out, header)
    _write_runs(records, out)
    _write_validation_curves(records, store, out)
    echo("")
    echo(markdown(frame, header))
    done = [r for r in records
            if r.get("status") in ("done", "partial") and r.get("parzen_mean") is not None]
    if done:
        best = max(done, key=lambda r: r.get("parzen_valid", r["parzen_mean"]))
        from ganbench.report import nearest_neighbour_figure
        from ganbench.scoring import load_generator

        generator, config = load_generator(store.run_dir(best["run_id"]), resolve_device(device))
        figure = nearest_neighbour_figure(generator, config, out / "figure2.png")
        echo(f"Figure 2 (samples beside their nearest training image): {figure}")
        if not quick:
            for r in done:
                export_generator(store.run_dir(r["run_id"]),
                                 out / "generators" / f"{r['update']}-seed{r['seed']}.pt")
    echo(f"table written to {csv} and {md} ({time.perf_counter() - started:.0f} s)")
    return frame


def partial_record(store, config: RunConfig, device: str | None = None) -> dict[str, Any]:
    """A run's record without training it: the record of a finished run, or, for a run that
    has not finished, the test score of its best generator so far (chosen on validation),
    marked ``partial``. Nothing in the store is changed."""
    from ganbench.parzen import parzen_log_likelihood
    from ganbench.runner import generate, prepare, resolve_device
    from ganbench.scoring import load_generator
    from ganbench.store import BEST, CHECKPOINT, load_checkpoint

    run_id = config.run_id
    folder = store.run_dir(run_id)
    record = dict(store.read_record(run_id) or {"run_id": run_id, "status": "not started"})
    if record.get("status") in ("done", "diverged") or not (folder / BEST).exists():
        return record
    dev = resolve_device(device)
    experiment = prepare(config)
    generator, resolved = load_generator(folder, dev)
    samples = generate(generator, resolved.noise, resolved.score["n_samples"],
                       seed=resolved.seed + 3, device=dev)
    splits = experiment.dataset.splits
    result = parzen_log_likelihood(samples, splits["valid"][: resolved.score["n_valid"]],
                                   splits["test"], device=dev)
    record.update(result.to_record())
    trained = load_checkpoint(folder / CHECKPOINT)
    best = load_checkpoint(folder / BEST)
    epochs_done = trained["batches"] / BATCHES_PER_EPOCH
    record.update(status="partial", steps=int(trained["step"]), epochs=round(epochs_done, 2),
                  selected_step=int(best["step"]), wall_time=round(float(trained["seconds"]), 1),
                  reason=f"unfinished: {epochs_done:.3g} of {config.train['epochs']:g} epochs "
                         f"trained; best generator so far (chosen on validation)")
    return record


def _write_runs(records: list[dict[str, Any]], out: Path) -> None:
    """Each run's provenance beside the table: wall time, hardware, steps, scores."""
    keys = ["update", "seed", "run_id", "status", "reason", "parzen_mean", "parzen_stderr",
            "parzen_sigma", "parzen_valid", "selected_step", "steps", "epochs", "wall_time",
            "device", "device_name", "host", "stopped_early"]
    frame = pd.DataFrame([{k: r.get(k) for k in keys} for r in records])
    frame.to_csv(out / "runs.csv", index=False)


def _write_validation_curves(records: list[dict[str, Any]], store, out: Path) -> None:
    """Every validation score behind each run's checkpoint selection (``validation.csv``):
    the learning curve on the paper's estimator, and the evidence for the selected epoch."""
    from ganbench.runner import SELECTION
    from ganbench.store import read_json

    rows = []
    for r in records:
        path = store.run_dir(r["run_id"]) / SELECTION
        if not path.exists():
            continue
        for h in read_json(path)["history"]:
            rows.append({"update": r["update"], "seed": r["seed"], "run_id": r["run_id"],
                         "step": h["step"], "epoch": round(h["step"] / BATCHES_PER_EPOCH, 4),
                         "parzen_valid": h["parzen_valid"], "sigma": h["sigma"]})
    columns = ["update", "seed", "run_id", "step", "epoch", "parzen_valid", "sigma"]
    pd.DataFrame(rows, columns=columns).to_csv(out / "validation.csv", index=False)


def _run_tfd(path, updates, epochs, store, executor, workers, device, quiet):
    """TFD: the MNIST preset's architecture on 48x48 faces, one run per fold (0-4); the
    standard error is over folds, as in the paper. The original TFD networks are not
    reproduced here."""
    from ganbench.executors import run_many

    records = []
    for fold in range(5):
        options = {"path": str(path), "fold": fold, "train_set": "unlabeled"}
        means = pixel_means("tfd", **options)
        configs = [paper_config(u, 0, epochs, means, dataset="tfd", dataset_options=options)
                   for u in updates]
        for c, r in zip(configs, run_many(configs, store=store, executor=executor,
                                          workers=workers, devices=[device] if device else None,
                                          quiet=quiet)):
            r["update"], r["fold"] = c.train["update"], fold
            records.append(r)
    return records
