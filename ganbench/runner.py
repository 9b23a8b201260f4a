"""One run, end to end: resolve and validate the config, build the plugins, train with
Algorithm 1 (resuming from the store), score, and write the record.

Everything that can be checked is checked before anything is written to the store.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import time
import traceback
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench import config as cfg
from ganbench import plugins
from ganbench.errors import ConfigError, GanbenchError, PluginError
from ganbench.progress import Progress
from ganbench.store import (
    BEST,
    CHECKPOINT,
    CONFIG,
    RECORD,
    RunLocked,
    Store,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    load_checkpoint,
    read_json,
)
from ganbench.train import Diverged, MinibatchSampler, NoisePrior, Schedule, Trainer, iterations_for

SPLITS = ("train", "valid", "test")


@dataclass
class Experiment:
    """A resolved config with its plugins built and checked against each other."""

    config: cfg.RunConfig
    dataset: Any
    generator: nn.Module
    discriminator: nn.Module
    loss: Any
    plugin_versions: dict[str, dict[str, str]]

    @property
    def run_id(self) -> str:
        return self.config.run_id


def resolve_device(device: str | None) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N``; the first GPU when there is one and none is named."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for, but no CUDA GPU is visible; use --device cpu")
        index = dev.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {device!r} does not exist: {torch.cuda.device_count()} GPU(s) visible"
            )
        return torch.device("cuda", index)
    if dev.type != "cpu":
        raise ConfigError(f"unsupported device {device!r}; use cpu, cuda or cuda:N")
    return dev


def _build(part: str, name: str, **kwargs: Any) -> Any:
    factory = plugins.load(part, name)
    try:
        return factory(**kwargs)
    except GanbenchError:
        raise
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PluginError(f"{part} {name!r} could not be built: {message}") from exc


def _check_dataset(name: str, dataset: Any) -> tuple[int, ...]:
    shape = getattr(dataset, "shape", None)
    splits = getattr(dataset, "splits", None)
    if not isinstance(shape, tuple) or not isinstance(splits, dict) and not hasattr(splits, "keys"):
        raise PluginError(
            f"dataset {name!r} broke the contract: expected an object with `shape` (a tuple) and "
            f"`splits` (a mapping), got {type(dataset).__name__}"
        )
    for split in SPLITS:
        if split not in splits:
            raise PluginError(f"dataset {name!r} has no {split!r} split (it needs train, valid, test)")
        data = splits[split]
        if not isinstance(data, torch.Tensor) or tuple(data.shape[1:]) != shape:
            got = tuple(data.shape) if hasattr(data, "shape") else type(data).__name__
            raise PluginError(
                f"dataset {name!r} split {split!r} must be a tensor of shape (N, *{shape}), got {got}"
            )
    return shape


def prepare_dataset_shape(config: cfg.RunConfig) -> tuple[int, ...]:
    """The data shape of a resolved config's dataset (builds the dataset)."""
    dataset = _build("dataset", config.dataset, **config.options["dataset"])
    return _check_dataset(config.dataset, dataset)


def _versions(config: cfg.RunConfig) -> dict[str, dict[str, str]]:
    out = {}
    for part in cfg.PARTS:
        info = plugins.find(part, getattr(config, part))
        out[part] = {"name": info.name, "distribution": info.distribution, "version": info.version}
    return out


def prepare(config: cfg.RunConfig) -> Experiment:
    """Resolve, build and cross-check everything; raise a one-line error on any bad input."""
    resolved = cfg.resolve(config)
    opts = resolved.options
    dataset = _build("dataset", resolved.dataset, **opts["dataset"])
    shape = _check_dataset(resolved.dataset, dataset)
    n_train = len(dataset.splits["train"])
    m = resolved.train["batch_size"]
    if m > n_train:
        raise ConfigError(
            f"batch_size {m} is larger than the training split ({n_train} examples); "
            f"use --batch-size {n_train} or less"
        )
    torch.manual_seed(resolved.seed)  # the models' initialisation is part of the seed
    noise_dim = resolved.noise["dim"]
    generator = _build("generator", resolved.generator, noise_dim=noise_dim, data_shape=shape,
                       **opts["generator"])
    discriminator = _build("discriminator", resolved.discriminator, data_shape=shape,
                           **opts["discriminator"])
    loss = _build("loss", resolved.loss, **opts["loss"])
    for part, obj in (("generator", generator), ("discriminator", discriminator)):
        if not isinstance(obj, nn.Module):
            raise PluginError(
                f"{part} {getattr(resolved, part)!r} broke the contract: its factory must return "
                f"a torch.nn.Module, got {type(obj).__name__}"
            )
    for method in ("discriminator_loss", "generator_loss"):
        if not callable(getattr(loss, method, None)):
            raise PluginError(
                f"loss {resolved.loss!r} broke the contract: it has no {method}(...) method"
            )
    _check_shapes(resolved, generator, discriminator, shape)
    return Experiment(resolved, dataset, generator, discriminator, loss, _versions(resolved))


def _check_shapes(config: cfg.RunConfig, G: nn.Module, D: nn.Module, shape: tuple) -> None:
    """One forward pass of two samples, without touching any random stream of the run."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        z = torch.zeros(2, config.noise["dim"])
        try:
            x = G(z)
        except Exception as exc:
            raise PluginError(
                f"generator {config.generator!r} failed on noise of shape (2, {config.noise['dim']}): "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != (2, *shape):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ConfigError(
                f"generator {config.generator!r} makes samples of shape {got[1:] if isinstance(got, tuple) else got}, "
                f"but dataset {config.dataset!r} has shape {shape}; choose a generator (or its "
                f"options) that outputs {shape}"
            )
        try:
            logits = D(x)
        except Exception as exc:
            raise PluginError(
                f"discriminator {config.discriminator!r} failed on data of shape (2, *{shape}): "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (2,):
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ConfigError(
                f"discriminator {config.discriminator!r} returned {got} for 2 examples; the contract "
                f"is (N,) logits (squeeze the last dimension, no sigmoid)"
            )


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ganbench": metadata.version("ganbench"),
    }


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def generate(generator: nn.Module, noise: dict[str, Any], n: int, *, seed: int,
             device: torch.device, batch_size: int = 1000) -> torch.Tensor:
    """``n`` samples of G in eval mode (no dropout), from a fixed noise stream."""
    prior = NoisePrior(noise["prior"], noise["dim"], noise["scale"], device, seed)
    was_training = generator.training
    generator.eval()
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            out.append(generator(prior.sample(min(batch_size, n - start))).float().cpu())
    generator.train(was_training)
    return torch.cat(out)


def train_run(config: cfg.RunConfig, *, store: Store | None = None, device: str | None = None,
              quiet: bool = True, experiment: Experiment | None = None) -> dict[str, Any]:
    """Train (or resume, or skip) one run and return its record. Bad input raises before
    anything is written; failures during training are recorded, not raised."""
    store = store or Store()
    dev = resolve_device(device)
    exp = experiment or prepare(config)
    run_id = exp.run_id
    previous = store.read_record(run_id) if (store.run_dir(run_id) / RECORD).exists() else None
    if previous and previous.get("status") in ("done", "diverged"):
        return previous
    with store.lock(run_id) as folder:
        previous = store.read_record(run_id)  # another worker may have finished it meanwhile
        if previous and previous.get("status") in ("done", "diverged"):
            return previous
        try:
            return _train_locked(exp, folder, dev, quiet, store=store)
        except KeyboardInterrupt:  # before its training began, the record still says running
            record = store.read_record(run_id)
            if record and record.get("status") == "running":
                record.update(status="interrupted", reason="interrupted by the user before "
                              "training began", finished=_now())
                atomic_write_json(folder / RECORD, record)
            raise


SELECTION = "selection.json"
_EXTEND_FILES = (SELECTION, BEST, "losses.csv", CHECKPOINT)  # the checkpoint last: with it,
# the others are there (a run stopped mid-copy resumes from a complete set, or starts afresh)


def _budgetless(config: dict[str, Any]) -> dict[str, Any]:
    train = {k: v for k, v in config.get("train", {}).items() if k not in ("epochs", "steps")}
    score = {k: v for k, v in config.get("score", {}).items() if k != "patience"}
    return {**config, "train": train, "score": score}


def _more_patient(mine: int | None, other: int | None) -> bool:
    """Does patience ``mine`` stop no earlier than ``other`` on every history? (None: never
    stops.) Then a run with ``mine`` goes through every checkpoint the other saved."""
    return mine is None or (other is not None and mine >= other)


def extend_from_shorter(exp: Experiment, store: Store, folder: Path) -> dict[str, Any] | None:
    """Start a fresh run from the last checkpoint of a stored run that differs from it only by a
    smaller budget (``train.epochs`` / ``train.steps``) or a smaller early-stopping patience
    (``score.patience``; a run stopped early by it goes on under more patience), so that
    budgets can grow in stages (100 epochs today, 300 next week) without training the first
    100 again.

    This is exact: the learning-rate and momentum schedules, the data order, the noise and the
    checkpoint selection depend on the step, never on the total. To keep it exact, the shorter
    run's checkpoint must sit on the longer run's checkpoint and selection grid, and the shorter
    run must not be held by another process. Copies the files and returns
    ``{"run_id": ..., "step": ...}``, or None when no stored run qualifies."""
    config = exp.config
    mine = _budgetless(config.to_dict())
    train = config.train
    total = iterations_for(train, len(exp.dataset.splits["train"]))
    grid = [train["checkpoint_every"]]
    if config.score["select"] == "valid":
        grid.append(config.score["select_every"] or train["checkpoint_every"])
    best: tuple[int, str] | None = None
    for run_id in store.run_ids():
        other = store.run_dir(run_id)
        if run_id == exp.run_id or not (other / CHECKPOINT).exists():
            continue
        try:
            theirs = read_json(other / CONFIG)
            if _budgetless(theirs) != mine or not _more_patient(
                    config.score.get("patience"), theirs.get("score", {}).get("patience")):
                continue
            step = int(torch.load(other / CHECKPOINT, map_location="cpu", weights_only=True,
                                  mmap=True)["step"])
        except Exception:  # an unreadable neighbour is not this run's problem
            continue
        if 0 < step <= total and all(step % g == 0 for g in grid) and (best is None or step > best[0]):
            best = (step, run_id)
    if best is None:
        return None
    step, run_id = best
    try:
        with store.lock(run_id) as other:  # a consistent set of files, not one mid-write
            for name in _EXTEND_FILES:
                if (other / name).exists():
                    atomic_write_bytes(folder / name, (other / name).read_bytes())
    except RunLocked:
        return None
    return {"run_id": run_id, "step": step}


def _train_locked(exp: Experiment, folder: Path, dev: torch.device, quiet: bool,
                  store: Store | None = None) -> dict[str, Any]:
    config = exp.config
    extended = None
    if store is not None and not (folder / CHECKPOINT).exists():
        extended = extend_from_shorter(exp, store, folder)
    atomic_write_json(folder / CONFIG, config.to_dict())
    record: dict[str, Any] = {
        "run_id": exp.run_id,
        "status": "running",
        "started": _now(),
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
        "host": platform.node(),
        "versions": versions(),
        "plugins": exp.plugin_versions,
    }
    if extended is not None:  # said from the start, not only when the run ends
        record["extended_from"] = extended["run_id"]
    atomic_write_json(folder / RECORD, record)
    trainer = None
    try:
        trainer = _make_trainer(exp, dev)
        if (folder / CHECKPOINT).exists():
            trainer.load_state_dict(load_checkpoint(folder / CHECKPOINT))
            record["resumed_from_step"] = trainer.step
        progress = Progress(trainer.schedule.iterations, label=f"{exp.run_id} ", quiet=quiet)

        def on_log(t: Trainer) -> None:
            _, d, g, _ = t.curve.rows[-1]
            progress.update(t.step, d_loss=d, g_loss=g)

        selector = Selector(exp, folder, dev, trainer.step) if exp.config.score["select"] == "valid" else None
        if selector is not None and selector.patience_spent():
            trainer.stop_requested = True  # it stopped early at this checkpoint; stay stopped

        def on_checkpoint(t: Trainer) -> None:
            if selector is not None:
                selector.maybe_score(t)
            atomic_torch_save(folder / CHECKPOINT, t.state_dict())
            _write_curve(folder, t)

        try:
            trainer.run(on_log=on_log, on_checkpoint=on_checkpoint)
        finally:
            progress.close()
        record.update(status="done", reason=None)
        if selector is not None:
            selector.restore_best(trainer, record)
    except Diverged as exc:
        record.update(status="diverged", reason=exc.reason, failed_step=exc.step)
    except KeyboardInterrupt:
        record.update(status="interrupted", reason="interrupted by the user")
        _finish(record, trainer, folder)
        raise
    except Exception as exc:
        step = trainer.step if trainer is not None else 0
        record.update(status="failed", reason=f"{type(exc).__name__}: {exc}", failed_step=step,
                      traceback=traceback.format_exc(limit=8))
    if record["status"] == "done":
        try:
            try:
                _score(exp, trainer, record, dev)
            except Exception as exc:  # e.g. a split too small to score: recorded, never fatal
                record["score_error"] = f"{type(exc).__name__}: {exc}"
            _artefacts(exp, trainer, folder, dev, record)
        except KeyboardInterrupt:  # trained, not yet scored: the rerun scores it
            record.update(status="interrupted", reason="interrupted by the user while scoring")
            _finish(record, trainer, folder)
            raise
    _finish(record, trainer, folder)
    return record


class Selector:
    """Checkpoint selection on the validation split (never on test): every ``select_every``
    iterations, score G's samples on the validation points and keep the best generator."""

    def __init__(self, exp: Experiment, folder: Path, dev: torch.device, start_step: int):
        self.exp, self.folder, self.dev = exp, folder, dev
        score = exp.config.score
        self.every = score["select_every"] or exp.config.train["checkpoint_every"]
        self.valid = exp.dataset.splits["valid"][: score["n_valid"]]
        path = folder / SELECTION
        history = read_json(path)["history"] if path.exists() else []
        self.history = [h for h in history if h["step"] <= start_step]  # as of the checkpoint

    def maybe_score(self, trainer: Trainer) -> None:
        if trainer.step % self.every and trainer.step != trainer.schedule.iterations:
            return
        if self.history and self.history[-1]["step"] == trainer.step:
            return
        from ganbench.parzen import DEFAULT_SIGMAS, parzen_log_density

        config = self.exp.config
        samples = generate(trainer.G, config.noise, config.score["n_samples"],
                           seed=config.seed + 3, device=self.dev)
        if not torch.isfinite(samples).all():
            return
        density = parzen_log_density(self.valid, samples, DEFAULT_SIGMAS, device=self.dev)
        means = density.mean(dim=1)
        best = int(means.argmax())
        entry = {"step": trainer.step, "parzen_valid": float(means[best]),
                 "sigma": float(DEFAULT_SIGMAS[best])}
        improved = not self.history or entry["parzen_valid"] > max(
            h["parzen_valid"] for h in self.history)
        if improved:
            atomic_torch_save(self.folder / BEST, {"step": trainer.step,
                                                   "generator": trainer.G.state_dict()})
        self.history.append(entry)
        atomic_write_json(self.folder / SELECTION, {"history": self.history})
        if self.patience_spent():
            trainer.stop_requested = True

    def patience_spent(self) -> bool:
        """``score.patience`` scores in a row without a better one than the best so far."""
        patience = self.exp.config.score["patience"]
        if patience is None or not self.history:
            return False
        best_at = max(range(len(self.history)), key=lambda i: self.history[i]["parzen_valid"])
        return len(self.history) - 1 - best_at >= patience

    def restore_best(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if not (self.folder / BEST).exists() or not self.history:
            return
        best = load_checkpoint(self.folder / BEST)
        trainer.G.load_state_dict(best["generator"])
        chosen = max(self.history, key=lambda h: h["parzen_valid"])
        record.update(selected_step=int(best["step"]), parzen_valid=chosen["parzen_valid"])
        if trainer.stop_requested:
            record["stopped_early"] = (
                f"no better validation score in the last {self.exp.config.score['patience']} "
                f"scores (best at step {chosen['step']})"
            )


def _finish(record: dict[str, Any], trainer: Trainer | None, folder: Path) -> None:
    if trainer is not None:
        record["steps"] = trainer.step
        record["batches"] = trainer.batches
        bpe = trainer.sampler.batches_per_epoch
        record["epochs"] = round(trainer.batches / bpe, 4) if bpe else None
        record["wall_time"] = round(trainer.seconds, 3)
        _write_curve(folder, trainer)
    record["finished"] = _now()
    atomic_write_json(folder / RECORD, record)


def _make_trainer(exp: Experiment, dev: torch.device) -> Trainer:
    config = exp.config
    train = config.train
    data = exp.dataset.splits["train"].float().to(dev)
    schedule = Schedule(
        iterations=iterations_for(train, len(data)),
        discriminator_steps=train["discriminator_steps"],
        batch_size=train["batch_size"],
        update=train["update"],
        log_every=train["log_every"],
        checkpoint_every=train["checkpoint_every"],
    )
    # Separate, seeded streams for data order, noise and dropout: resume is bitwise exact.
    torch.manual_seed(config.seed + 2)
    if dev.type == "cuda":
        torch.cuda.manual_seed(config.seed + 2)
    sampler = MinibatchSampler(data, schedule.batch_size, seed=config.seed)
    noise = NoisePrior(config.noise["prior"], config.noise["dim"], config.noise["scale"], dev,
                       seed=config.seed + 1)
    return Trainer(exp.generator.to(dev), exp.discriminator.to(dev), exp.loss, sampler, noise,
                   config.optimizer, schedule)


def _write_curve(folder: Path, trainer: Trainer) -> None:
    lines = [",".join(trainer.curve.columns)]
    lines += [f"{int(r[0])},{r[1]:.6g},{r[2]:.6g},{r[3]}" for r in trainer.curve.rows]
    atomic_write_bytes(folder / "losses.csv", ("\n".join(lines) + "\n").encode())


def _score(exp: Experiment, trainer: Trainer, record: dict[str, Any], dev: torch.device) -> None:
    """The paper's Parzen-window log-likelihood of the test split, sigma chosen on validation."""
    score = exp.config.score
    if not score["parzen"]:
        return
    from ganbench.parzen import parzen_log_likelihood

    splits = exp.dataset.splits
    valid = splits["valid"][: score["n_valid"]]
    test = splits["test"] if score["n_test"] is None else splits["test"][: score["n_test"]]
    samples = generate(trainer.G, exp.config.noise, score["n_samples"], seed=exp.config.seed + 3,
                       device=dev)
    if not torch.isfinite(samples).all():
        bad = int((~torch.isfinite(samples)).any(dim=tuple(range(1, samples.dim()))).sum())
        record.update(status="diverged", reason=f"generator samples contain NaN or inf ({bad} of "
                      f"{len(samples)})", failed_step=trainer.step)
        return
    started = time.perf_counter()
    result = parzen_log_likelihood(samples, valid, test, device=dev)
    record.update(result.to_record())
    record["parzen_seconds"] = round(time.perf_counter() - started, 3)


def _artefacts(exp: Experiment, trainer: Trainer, folder: Path, dev: torch.device,
               record: dict[str, Any]) -> None:
    """Loss curves and a picture of samples; a failure here is noted, never fatal."""
    try:
        from ganbench import report

        report.loss_curve_png(folder / "losses.csv", folder / "losses.png")
        samples = generate(trainer.G, exp.config.noise, 1000, seed=exp.config.seed + 4, device=dev)
        report.samples_png(samples, exp.dataset.splits["test"], folder / "samples.png")
    except Exception as exc:  # plots are a convenience
        record["artefact_error"] = f"{type(exc).__name__}: {exc}"


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)
        os.environ["OMP_NUM_THREADS"] = str(n)


def finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
