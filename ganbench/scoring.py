"""Scoring outside training: re-score a stored run, score samples made anywhere, and load
a generator from a run folder, a checkpoint, or exported weights."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench import config as cfg
from ganbench.errors import ConfigError, DataError, GanbenchError
from ganbench.store import BEST, CHECKPOINT, CONFIG, RECORD, Store, read_json


def _build_generator(config: cfg.RunConfig) -> nn.Module:
    from ganbench.runner import _build, prepare_dataset_shape

    shape = prepare_dataset_shape(config)
    return _build("generator", config.generator, noise_dim=config.noise["dim"], data_shape=shape,
                  **config.options["generator"])


def reported_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The reported generator's weights in a checkpoint: the EMA generator of a run with
    ``train.ema`` (a checkpoint's ``generator`` is then the raw one, which training resumes
    from), else ``generator`` (also what a best_generator.pt or an export holds)."""
    return state.get("generator_ema", state["generator"])


def load_generator(path: str | Path, device: torch.device) -> tuple[nn.Module, cfg.RunConfig]:
    """A generator and its run config from: a run folder (its selected generator if any,
    else its last checkpoint; the EMA generator with ``train.ema``), a ``checkpoint.pt`` / ``best_generator.pt`` with ``config.json``
    beside it, or an exported ``.pt`` holding ``config`` (JSON) and ``generator`` weights."""
    from ganbench.store import load_checkpoint

    path = Path(path)
    if path.is_dir():
        path = path / BEST if (path / BEST).exists() else path / CHECKPOINT
    if not path.exists():
        raise GanbenchError(f"no generator weights at {path}")
    state = load_checkpoint(path)
    if not isinstance(state, dict) or "generator" not in state:
        raise GanbenchError(f"{path} holds no generator weights (expected a ganbench checkpoint)")
    if "config" in state:
        config = cfg.RunConfig.from_dict(json.loads(state["config"]))
    elif (path.parent / CONFIG).exists():
        config = cfg.RunConfig.from_dict(read_json(path.parent / CONFIG))
    else:
        raise GanbenchError(f"{path}: no config.json beside it and no config inside it")
    generator = _build_generator(config)
    generator.load_state_dict(reported_weights(state))
    return generator.to(device).eval(), config


def export_generator(run_folder: Path, out: Path) -> Path:
    """The run's reported generator with its config, as one self-contained weights file."""
    from ganbench.store import atomic_torch_save, load_checkpoint

    source = run_folder / BEST if (run_folder / BEST).exists() else run_folder / CHECKPOINT
    state = load_checkpoint(source)
    config = read_json(run_folder / CONFIG)
    exported = {"config": json.dumps(config, sort_keys=True), "generator": reported_weights(state),
                "step": int(state["step"]), "run_id": run_folder.name}
    if not _same_export(out, exported):
        atomic_torch_save(out, exported)
    return out


def _same_export(path: Path, exported: dict[str, Any]) -> bool:
    """Whether ``path`` already holds exactly these weights: torch.save stamps every file
    with a random serialization id, so rewriting an unchanged export would change its bytes
    (and add a copy of it to git each time a table is written again)."""
    from ganbench.store import load_checkpoint

    if not path.exists():
        return False
    try:
        old = load_checkpoint(path)
    except GanbenchError:
        return False
    if not isinstance(old, dict) or old.keys() != exported.keys():
        return False
    if any(old[k] != exported[k] for k in ("config", "step", "run_id")):
        return False
    a, b = old["generator"], exported["generator"]
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and torch.equal(a[k], b[k])
        for k in a)


def rescore(store: Store, run_id: str, *, n_samples: int | None = None,
            device: str | None = None, metrics: list[str] | None = None,
            assignments: list[str] | None = None) -> dict[str, Any]:
    """Score a stored run again through the evaluation stage (the run's own protocol, with
    ``n_samples`` kernel centres if given, or only ``metrics`` if given: the others' values
    stay as they are) and update its record. ``assignments``: ``metric.NAME.OPTION=VALUE``
    strings (``--set``), over the run's own metric options for this scoring only (the record
    keeps each metric's settings, so the leaderboard never pools runs scored otherwise; the
    run's config, hence its id, is unchanged)."""
    folder = store.run_dir(run_id)
    if not (folder / CONFIG).exists():
        raise _no_run(store, run_id)
    with store.lock(run_id):  # RunLocked (one line) while another process trains or scores it
        if not (folder / CONFIG).exists():  # removed (ganbench rm) before the lock was taken
            _unmake(folder)
            raise _no_run(store, run_id)
        return _rescore_locked(store, run_id, n_samples, device, metrics, assignments)


def _no_run(store: Store, run_id: str) -> GanbenchError:
    known = ", ".join(store.run_ids()[:10]) or "none"
    return GanbenchError(f"no run {run_id!r} in {store.root} (runs: {known})")


def _unmake(folder: Path) -> None:
    """Remove the folder ``Store.lock`` made again for a run removed meanwhile (only its lock
    file in it)."""
    import contextlib

    with contextlib.suppress(OSError):
        if [p.name for p in folder.iterdir()] == [".lock"]:
            (folder / ".lock").unlink()
            folder.rmdir()


def _rescore_locked(store: Store, run_id: str, n_samples: int | None, device: str | None,
                    metrics: list[str] | None, assignments: list[str] | None) -> dict[str, Any]:
    from ganbench import evaluate
    from ganbench.identity import stale_reasons
    from ganbench.record import RunRecord
    from ganbench.record import write as write_record
    from ganbench.runner import prepare, resolve_device

    folder = store.run_dir(run_id)
    record = RunRecord.from_dict(read_json(folder / RECORD) if (folder / RECORD).exists()
                                 else {"run_id": run_id})
    stale = stale_reasons(record.to_dict())  # its numbers came from other plugin code
    if stale:
        raise GanbenchError(f"run {run_id} is stale ({'; '.join(stale)}): nothing re-scored; "
                            f"train it again (ganbench train / sweep) or remove it (ganbench rm)")
    dev = resolve_device(device)
    config = cfg.RunConfig.from_dict(read_json(folder / CONFIG))
    experiment = prepare(config)
    protocol = evaluate.Protocol.from_config(config, dataset=experiment.dataset,
                                             n_samples=n_samples, metrics=metrics)
    protocol = _with_metric_options(protocol, assignments or [])
    evaluate.check_metrics(protocol, experiment.dataset, config.dataset)
    generator, _ = load_generator(folder, dev)
    try:
        values = evaluate.evaluate(generator, config, experiment.dataset, dev, protocol)
    except evaluate.NonFinite as exc:
        raise DataError(f"run {run_id}: {exc}; nothing re-scored") from exc
    except ValueError as exc:  # a metric refusing its input or options (say k > n_real)
        raise DataError(f"run {run_id}: {' '.join(str(exc).split())[:300]}; nothing "
                        f"re-scored") from exc
    record.add_scores(values)
    write_record(folder, record)
    return record.to_dict()


def _with_metric_options(protocol: Any, assignments: list[str]) -> Any:
    """``protocol`` with ``metric.NAME.OPTION=VALUE`` strings applied to its metric options;
    a ConfigError for any other part or a metric the protocol does not compute."""
    options: dict[str, dict[str, Any]] = {}
    for text in assignments:
        part, option, value = cfg.parse_assignment(text)
        if part != "metric":
            raise ConfigError(f"--set {text!r}: only metric options apply when re-scoring "
                              f"(metric.NAME.OPTION=VALUE); the run's other settings are "
                              f"its identity: train a new run to change them")
        name, _, key = option.partition(".")
        if name not in protocol.metrics:
            raise ConfigError(f"--set {text!r}: metric {name!r} is not among the metrics "
                              f"scored ({', '.join(protocol.metrics) or 'none'}); add "
                              f"--metrics {name}")
        options.setdefault(name, protocol.options_of(name))[key] = value
    return protocol.with_options(options)


@dataclass(frozen=True)
class ParzenScore:
    """The Parzen figures of ``ganbench parzen``, as the evaluation stage computed them."""

    mean: float
    stderr: float
    sigma: float
    n_samples: int
    n_valid: int
    n_test: int

    def to_record(self) -> dict[str, float | int]:
        return {f"parzen_{f.name}": getattr(self, f.name) for f in fields(self)}


def score_samples_file(path: str, dataset: str, assignments: list[str], *, n_valid: int = 1000,
                       device: str | None = None) -> ParzenScore:
    """The paper's protocol for samples made anywhere, against a dataset plugin's splits."""
    from ganbench import evaluate
    from ganbench.runner import _build, _check_dataset, resolve_device
    from ganbench.samples_file import load_samples

    options: dict[str, Any] = {}
    for text in assignments:
        part, option, value = cfg.parse_assignment(text)
        if part != "dataset":
            raise GanbenchError(f"--set {text!r}: only dataset options apply here")
        options[option] = value
    resolved = cfg._resolve_options("dataset", dataset, options)
    data = _build("dataset", dataset, **resolved)
    shape = _check_dataset(dataset, data)
    samples = torch.as_tensor(load_samples(path))
    if samples.dim() >= 1 and len(samples) == 0:
        raise DataError(f"--samples {path}: the file holds no samples (shape "
                        f"{tuple(samples.shape)}); save at least one sample of G")
    if samples.dim() < 2 or samples[0].numel() != torch.Size(shape).numel():
        raise DataError(
            f"--samples {path}: samples of shape {tuple(samples.shape[1:])} do not match dataset "
            f"{dataset!r}, whose examples have shape {shape}"
        )
    protocol = evaluate.Protocol(n_samples=len(samples), n_valid=n_valid, n_test=None)
    values = evaluate.score_samples(samples.float(), data, protocol, resolve_device(device))
    return ParzenScore(**{f.name: values[f"parzen_{f.name}"] for f in fields(ParzenScore)})
