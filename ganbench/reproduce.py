"""``ganbench reproduce PRESET``: train a preset's runs, score them, and write its table.

Everything specific to one experiment (the paper's networks and schedule, Table 1's rows and
columns, the published figures, TFD) is in the preset's TOML file (``ganbench.presets``;
the paper's is ``ganbench_plugins/presets/paper.toml``). This module is the generic part: it
trains the runs through the executors, reads unfinished runs without training them
(``--no-train``), and writes the table (``<table>.csv`` / ``.md``), each run's provenance
(``runs.csv``), the validation curves behind the checkpoint selection (``validation.csv``),
the preset's figure and the selected generators.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench import evaluate, identity, plugins, presets
from ganbench.config import RunConfig
from ganbench.preset_table import (  # noqa: F401  (the table, importable from here as before)
    PUBLISHED,
    THIS_RUN,
    between_runs_cell,
    markdown,
    per_run_cell,
    spec_of,
    table,
    write_table,
)
from ganbench.presets import Preset, short
from ganbench.runner import prepare, resolve_device
from ganbench.scoring import export_generator, load_generator
from ganbench.store import BEST, CHECKPOINT, Store, load_checkpoint, read_json


@dataclass
class Reference:
    model: str = "reference: real training images as kernel centres"
    mean: float = math.nan
    stderr: float = math.nan
    sigma: float = math.nan
    seconds: float = 0.0


def real_data_reference(dataset: str, n: int = 10000, device: str | None = None,
                        model: str = Reference.model, **options: Any) -> Reference:
    """The Parzen score of ``n`` real training examples as kernel centres, same protocol:
    roughly what a perfect generator could score."""
    data = plugins.load("dataset", dataset)(**options)
    started = time.perf_counter()
    protocol = evaluate.Protocol(n_samples=n, n_valid=1000, n_test=None, metrics=("parzen",))
    values = evaluate.score_samples(data.splits["train"][:n], data, protocol,
                                    resolve_device(device))
    return Reference(model, values["parzen_mean"], values["parzen_stderr"],
                     values["parzen_sigma"], time.perf_counter() - started)


# --- the command ----------------------------------------------------------------------------

def run_preset(preset: str | Path | Preset, *, quick: bool = False, seeds: int | None = None,
               epochs: float | None = None, steps: int | None = None,
               metrics: list[str] | None = None, update: str = "both", device: str | None = None,
               inputs: dict[str, Any] | None = None, only: dict[str, list[Any]] | None = None,
               workers: int | None = None, executor: str = "local", store=None,
               out: Path | None = None, quiet: bool = True, no_train: bool = False,
               committed: bool | None = None, echo=print) -> pd.DataFrame:
    """Train a preset's runs (through the executors), score them, and write its table.
    ``preset``: a name, the path of a TOML file, or a Preset. ``update``: one value of the
    ``update`` axis, or "both"; ``only``: axis -> values, in general; ``inputs``: the values
    the preset's ``[inputs]`` name (a column that requires a missing one is left empty);
    ``committed``: re-score the preset's committed generators (default: the budget's);
    ``metrics``: every run's metrics, over the preset's (they are not part of run ids)."""
    preset = preset if isinstance(preset, Preset) else presets.find(preset)
    store = store or Store()
    resolve_device(device)
    only = {**({"update": [update]} if update != "both" else {}), **(only or {})}
    inputs = {k: v for k, v in (inputs or {}).items() if v is not None}
    budget = preset.settings(quick=quick, seeds=seeds, epochs=epochs, steps=steps)
    kwargs = dict(quick=quick, seeds=seeds, epochs=epochs, steps=steps, only=only, inputs=inputs)
    runs, spec = preset.runs(**kwargs), spec_of(preset)
    groups = {name: None if column.get("requires") and column["requires"] not in inputs
              else preset.runs(column=name, **kwargs)
              for name, column in spec["columns"].items() if "run" in column or "axes" in column}
    for run in [*runs, *(r for g in groups.values() for r in g or [])] if metrics else []:
        run.config.score["metrics"] = list(metrics)
    per_epoch = _check([*runs, *(r for g in groups.values() for r in g or [])])  # before any trains
    amount = (f"{budget['epochs']:g} epochs" if budget.get("epochs") is not None
              else f"{budget.get('steps') or 'default'} steps")
    axes = [", ".join(map(str, dict.fromkeys(r.values[k] for r in runs)))
            for k in runs[0].values if k != "seed"] + [f"{budget['seeds']} seed(s)"]
    echo(f"reproduce {preset.name} ({budget['label']}): {len(runs)} runs of {amount} "
         f"({' x '.join(axes)}), store {store.root}")
    started = time.perf_counter()
    train = functools.partial(_records, store=store, no_train=no_train, executor=executor,
                              workers=workers, device=device, quiet=quiet)
    records = train(runs)
    columns = {name: None if group is None else train(group) for name, group in groups.items()}
    reference, ref, base = None, spec.get("reference"), runs[0].config
    if ref:
        reference = real_data_reference(base.dataset, ref.get("n", 10000), device, ref["model"],
                                        **base.options["dataset"])
    frame = table(preset, records, reference, quick=quick, columns=columns, budget=budget)
    header = spec.get("header", "# {name} ({label}: {amount}, {seeds} seed(s))").format(
        name=preset.name, amount=amount, **budget)
    notes = spec.get("notes", "")
    out = out or Path(budget.get("out", f"{preset.name}-{'quick' if quick else 'results'}"))
    csv, md = write_table(frame, out, header, notes, spec["name"])
    verdict = write_verdict(preset, records, spec, out)
    names = [short(p) for p in preset.axes]
    _write_runs(records, out, [*names, *(c["value"] for c in spec["columns"].values()
                                         if "value" in c)])
    _write_validation_curves(records, store, out, names, per_epoch)
    echo("")
    echo(markdown(frame, header, notes))
    if verdict:
        echo(verdict)
    if ref:  # the dataset's real-data and memoriser rows, under the runs' protocol
        from ganbench.references import print_under

        print_under(store, [r["run_id"] for r in records if r.get("status") == "done"],
                    device, echo)
    _figure_and_generators(preset, budget, records, store, out, device, echo)
    echo(f"table written to {csv} and {md} ({time.perf_counter() - started:.0f} s)")
    if budget.get("committed", False) if committed is None else committed:
        rescore_committed(preset, device=device, echo=echo)
    return frame


def run_paper(*, tfd_path: str | None = None, **kwargs: Any) -> pd.DataFrame:
    """``ganbench reproduce paper``: the paper preset (``--tfd PATH``: its TFD input)."""
    return run_preset("paper", inputs={"tfd": tfd_path}, **kwargs)


def _check(runs: list[presets.Run]) -> dict[str, int]:
    """Build and cross-check every run (one-line errors); minibatches per epoch by run id."""
    return {r.config.run_id: len(prepare(r.config).dataset.splits["train"])
            // r.config.train["batch_size"] for r in runs}


def _records(runs: list[presets.Run], *, store, no_train: bool, executor: str,
             workers: int | None, device: str | None, quiet: bool) -> list[dict[str, Any]]:
    """Each run's record, tagged with its axis values: trained (or resumed, or as stored),
    or with ``no_train`` as it stands in the store."""
    from ganbench.executors import run_many

    configs = [r.config for r in runs]
    if no_train:
        records = [partial_record(store, c, device) for c in configs]
    else:
        records = run_many(configs, store=store, executor=executor, workers=workers,
                           devices=[device] if device else None, quiet=quiet)
    for run, record in zip(runs, records):
        record.update(run.values)
    return records


def _figure_and_generators(preset: Preset, budget: dict[str, Any], records, store, out: Path,
                           device: str | None, echo) -> None:

    outputs = preset.data.get("outputs", {})
    done = [r for r in records
            if r.get("status") in ("done", "partial") and r.get("parzen_mean") is not None]
    if not done:
        return
    if outputs.get("figure"):
        from ganbench.report import nearest_neighbour_figure

        best = max(done, key=lambda r: r.get("parzen_valid", r["parzen_mean"]))
        generator, config = load_generator(store.run_dir(best["run_id"]), resolve_device(device))
        figure = nearest_neighbour_figure(generator, config, out / outputs["figure"])
        echo(f"{outputs.get('figure_caption', 'Samples beside their nearest training example')}"
             f": {figure}")
    if budget.get("export_generators") and outputs.get("generators"):
        for r in done:
            export_generator(store.run_dir(r["run_id"]), out / outputs["generators"].format(**r))


def partial_record(store, config: RunConfig, device: str | None = None) -> dict[str, Any]:
    """A run's record without training it: the record of a finished run, or, for a run that
    has not finished, the test score of its best generator so far (chosen on validation),
    marked ``partial``. Nothing in the store is changed."""
    run_id = config.run_id
    folder = store.run_dir(run_id)
    record = dict(store.read_record(run_id) or {"run_id": run_id, "status": "not started"})
    reasons = identity.stale_reasons(record) if "plugins" in record else []
    if reasons:  # made by other plugin code: never reported as this code's numbers
        return {"run_id": run_id, "status": "stale", "reason": "; ".join(reasons)}
    if record.get("status") in ("done", "diverged") or not (folder / BEST).exists():
        return record
    dev = resolve_device(device)
    experiment = prepare(config)
    generator, resolved = load_generator(folder, dev)
    record.update(evaluate.evaluate(generator, resolved, experiment.dataset, dev))
    trained = load_checkpoint(folder / CHECKPOINT)
    best = load_checkpoint(folder / BEST)
    epochs_done = trained["batches"] / (len(experiment.dataset.splits["train"])
                                        // resolved.train["batch_size"])
    record.update(status="partial", steps=int(trained["step"]), epochs=round(epochs_done, 2),
                  selected_step=int(best["step"]), wall_time=round(float(trained["seconds"]), 1),
                  reason=f"unfinished: {epochs_done:.3g} of {config.train['epochs']:g} epochs "
                         f"trained; best generator so far (chosen on validation)")
    return record


RUN_COLUMNS = ["run_id", "status", "reason", "parzen_mean", "parzen_stderr", "parzen_sigma",
               "parzen_valid", "selected_step", "steps", "epochs", "wall_time", "device",
               "device_name", "host", "stopped_early"]


def write_verdict(preset: Preset, records: list[dict[str, Any]], spec: dict[str, Any],
                  out: Path) -> str:
    """verdict.md and verdict.csv beside the table (``ganbench.preset_verdict``), when the
    preset has published figures placed by axis values or claims; the markdown, or ""."""
    from ganbench import preset_verdict

    if not spec.get("claims") and not any("values" in p for p in spec.get("published", [])):
        return ""
    axes = list(preset_verdict.row_axes(spec, preset.axes))
    cells, claims = preset_verdict.cells(axes, records, spec), preset_verdict.claims(axes, records, spec)
    pd.concat([cells.assign(kind="cell"), claims.assign(kind="claim")]).to_csv(
        out / "verdict.csv", index=False)
    text = preset_verdict.markdown(cells, claims, spec)
    (out / "verdict.md").write_text(text)
    return text


def _write_runs(records: list[dict[str, Any]], out: Path, axes: list[str]) -> None:
    """Each run's provenance beside the table: wall time, hardware, steps, scores (``axes``:
    the axes' and the table's value columns)."""
    keys = list(dict.fromkeys([*axes, *RUN_COLUMNS]))
    pd.DataFrame([{k: r.get(k) for k in keys} for r in records]).to_csv(out / "runs.csv",
                                                                         index=False)


def _write_validation_curves(records: list[dict[str, Any]], store, out: Path, axes: list[str],
                             per_epoch: dict[str, int]) -> None:
    """Every validation score behind each run's checkpoint selection (``validation.csv``):
    the learning curve on the paper's estimator, and the evidence for the selected epoch."""
    from ganbench.stages import SELECTION

    rows = []
    for r in records:
        path = store.run_dir(r["run_id"]) / SELECTION
        if not path.exists():
            continue
        for h in read_json(path)["history"]:
            rows.append({**{k: r[k] for k in axes}, "run_id": r["run_id"], "step": h["step"],
                         "epoch": round(h["step"] / per_epoch[r["run_id"]], 4),
                         "parzen_valid": h["parzen_valid"], "sigma": h["sigma"]})
    columns = [*axes, "run_id", "step", "epoch", "parzen_valid", "sigma"]
    pd.DataFrame(rows, columns=columns).to_csv(out / "validation.csv", index=False)


def rescore_committed(preset: Preset, device: str | None = None, echo=print) -> pd.DataFrame | None:
    """Re-score the generators the preset's ``[committed]`` lists (files of a source
    checkout, relative to the preset's file) as ``ganbench sample GEN --n N --seed SEED+3``
    then ``ganbench parzen`` would, each beside the figure its folder's runs.csv records.
    Skipped, with a line saying why, where the files are not there."""
    spec = preset.data.get("committed")
    if not spec:
        return None
    title = spec.get("title", "committed generators, re-scored now")
    root = (preset.path.parent / spec["root"]).resolve() if preset.path else None
    files = [root / g for g in spec["generators"]] if root else []
    missing = [f for f in files if not f.exists()] if root else spec["generators"]
    if missing:
        echo(f"\n{title}: skipped, {len(missing)} of {len(spec['generators'])} files not found "
             f"under {root or spec['root']} (they are in the source checkout, not installed)")
        return None
    echo(f"\n{title}: {len(files)} generators, 10,000 samples each, the Parzen protocol")
    dev, rows, started = resolve_device(device), [], time.perf_counter()
    for path in files:
        generator, config = load_generator(path, dev)
        dataset = plugins.load("dataset", config.dataset)(**config.options["dataset"])
        protocol = evaluate.Protocol.from_config(config, dataset=dataset, metrics=["parzen"])
        now = evaluate.evaluate(generator, config, dataset, dev, protocol)
        state = load_checkpoint(path)
        csv = next((p / "runs.csv" for p in path.parents if (p / "runs.csv").exists()), None)
        runs = pd.read_csv(csv, dtype={"run_id": str, "parzen_mean": str}) if csv else None
        rec = [{}] if runs is None else runs[runs["run_id"] == state.get("run_id")].to_dict(
            "records") or [{}]
        was = rec[0].get("parzen_mean")
        same = ("" if was is None else " (same to the last digit)"
                if was == repr(now["parzen_mean"]) else f" ({now['parzen_mean'] - float(was):+.2g})")
        per_epoch = len(dataset.splits["train"]) // config.train["batch_size"]
        values = [str(presets.value_at(config, p)) for p in preset.axes if p != "seed"]
        rows.append({"generator": f"{path.relative_to(root)}",
                     "run": ", ".join([*values, f"seed {config.seed}"]),
                     "budget (epochs)": f"{config.train['epochs'] or math.nan:g}",
                     "selected epoch": f"{state['step'] / per_epoch:g}",
                     "recorded in runs.csv": "not in runs.csv" if was is None else
                     f"{float(was):.1f} +- {float(rec[0]['parzen_stderr']):.1f}",
                     "re-scored now": f"{now['parzen_mean']:.1f} +- {now['parzen_stderr']:.1f}{same}"})
        echo(f"  {rows[-1]['generator']}: {rows[-1]['re-scored now']}")
    frame = pd.DataFrame(rows)
    echo(markdown(frame, f"## {title} ({time.perf_counter() - started:.0f} s)").rstrip("\n"))
    return frame

