"""Scoring outside training: re-score a stored run, score samples made anywhere, and load
a generator from a run folder, a checkpoint, or exported weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench import config as cfg
from ganbench.errors import DataError, GanbenchError
from ganbench.store import BEST, CHECKPOINT, CONFIG, RECORD, Store, atomic_write_json, read_json


def _build_generator(config: cfg.RunConfig) -> nn.Module:
    from ganbench.runner import _build, prepare_dataset_shape

    shape = prepare_dataset_shape(config)
    return _build("generator", config.generator, noise_dim=config.noise["dim"], data_shape=shape,
                  **config.options["generator"])


def load_generator(path: str | Path, device: torch.device) -> tuple[nn.Module, cfg.RunConfig]:
    """A generator and its run config from: a run folder (its selected generator if any,
    else its last checkpoint), a ``checkpoint.pt`` / ``best_generator.pt`` with ``config.json``
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
    generator.load_state_dict(state["generator"])
    return generator.to(device).eval(), config


def export_generator(run_folder: Path, out: Path) -> Path:
    """The run's reported generator with its config, as one self-contained weights file."""
    from ganbench.store import atomic_torch_save, load_checkpoint

    source = run_folder / BEST if (run_folder / BEST).exists() else run_folder / CHECKPOINT
    state = load_checkpoint(source)
    config = read_json(run_folder / CONFIG)
    exported = {"config": json.dumps(config, sort_keys=True), "generator": state["generator"],
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
            device: str | None = None) -> dict[str, Any]:
    """Score a stored run again (the paper's protocol) and update its record."""
    from ganbench.parzen import parzen_log_likelihood
    from ganbench.runner import generate, prepare, resolve_device

    folder = store.run_dir(run_id)
    if not (folder / CONFIG).exists():
        known = ", ".join(store.run_ids()[:10]) or "none"
        raise GanbenchError(f"no run {run_id!r} in {store.root} (runs: {known})")
    record = read_json(folder / RECORD) if (folder / RECORD).exists() else {"run_id": run_id}
    dev = resolve_device(device)
    config = cfg.RunConfig.from_dict(read_json(folder / CONFIG))
    experiment = prepare(config)
    generator, _ = load_generator(folder, dev)
    score = config.score
    n = n_samples or score["n_samples"]
    samples = generate(generator, config.noise, n, seed=config.seed + 3, device=dev)
    splits = experiment.dataset.splits
    test = splits["test"] if score["n_test"] is None else splits["test"][: score["n_test"]]
    result = parzen_log_likelihood(samples, splits["valid"][: score["n_valid"]], test, device=dev)
    record.update(result.to_record())
    atomic_write_json(folder / RECORD, record)
    return record


def score_samples_file(path: str, dataset: str, assignments: list[str], *, n_valid: int = 1000,
                       device: str | None = None):
    """The paper's protocol for samples made anywhere, against a dataset plugin's splits."""
    from ganbench.parzen import load_samples, parzen_log_likelihood
    from ganbench.runner import _build, _check_dataset, resolve_device

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
    if samples.dim() < 2 or samples[0].numel() != torch.Size(shape).numel():
        raise DataError(
            f"--samples {path}: samples of shape {tuple(samples.shape[1:])} do not match dataset "
            f"{dataset!r}, whose examples have shape {shape}"
        )
    return parzen_log_likelihood(samples.float(), data.splits["valid"][:n_valid],
                                 data.splits["test"], device=resolve_device(device))
