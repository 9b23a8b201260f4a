"""One run's lifecycle: build -> train -> select -> score -> record.

``train_run`` is the whole of it for one resolved config: it returns at once with the stored
record of a finished run, and otherwise holds the run's lock and goes through the stages of
``Lifecycle``:

1. begin: continue a stored shorter-budget run if there is one (``extend_from_shorter``),
   write ``config.json`` and a ``running`` record;
2. train: Algorithm 1 (``ganbench.train``), resuming from the run's checkpoint, saving a
   checkpoint every ``train.checkpoint_every`` iterations;
3. select: with ``score.select = "valid"``, the ``Selector`` scores each checkpoint on the
   validation split and the best generator is restored at the end;
4. score: the evaluation stage (``ganbench.evaluate``) on the test split;
5. record: ``ganbench.record.write``, the one way a record reaches the store.

Bad input raises before anything is written (``runner.prepare``). A failure during training
is recorded, never raised. Ctrl-C is handled in one place (``Lifecycle.run``): the record
says where the run was stopped, and a rerun resumes it exactly.
"""

from __future__ import annotations

import platform
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ganbench import compute, evaluate, identity, seeds, tensorboard_log
from ganbench.progress import Progress
from ganbench.record import DIVERGED, DONE, FAILED, FINAL, INTERRUPTED, RUNNING, RunRecord, now
from ganbench.record import write as write_record
from ganbench.runner import Experiment, prepare, resolve_device
from ganbench.stages import SELECTION, extend_from_shorter
from ganbench.store import (
    BEST,
    CHECKPOINT,
    CONFIG,
    RECORD,
    Store,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    load_checkpoint,
    read_json,
)
from ganbench.train import Diverged, MinibatchSampler, NoisePrior, Schedule, Trainer, iterations_for

__all__ = ["Lifecycle", "Selector", "extend_from_shorter", "train_run", "versions"]


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ganbench": metadata.version("ganbench"),
    }


def _final(store: Store, run_id: str) -> dict[str, Any] | None:
    """The stored record of a run that is never trained again (done or diverged)."""
    if not (store.run_dir(run_id) / RECORD).exists():
        return None
    previous = store.read_record(run_id)
    return previous if previous and previous.get("status") in FINAL else None


def train_run(config, *, store: Store | None = None, device: str | None = None,
              quiet: bool = True, experiment: Experiment | None = None) -> dict[str, Any]:
    """Train (or resume, or skip) one run and return its record. Bad input raises before
    anything is written; failures during training are recorded, not raised."""
    store = store or Store()
    dev = resolve_device(device)
    exp = experiment or prepare(config)
    tensorboard_log.check(exp.config)  # --tensorboard: installed, writable; before any write
    compute.threads_from_env()  # a bad GANBENCH_THREADS is bad input too
    identity.set_aside_if_stale(store, exp.run_id)  # made by other plugin code: never resumed
    previous = _final(store, exp.run_id)
    if previous and not missing_metrics(exp, previous):
        return previous
    with store.lock(exp.run_id) as folder:
        previous = _final(store, exp.run_id)  # another worker may have finished it meanwhile
        if previous:
            return _score_missing(exp, folder, dev, previous) if missing_metrics(exp, previous) \
                else previous
        return _train_locked(exp, folder, dev, quiet, store=store)


def recorded_metrics(record: dict[str, Any]) -> set[str]:
    """The metrics a record holds values of (records from before metric plugins: parzen)."""
    names = set(record.get("metrics") or {})
    if record.get("parzen_mean") is not None:
        names.add("parzen")
    return names


def missing_metrics(exp: Experiment, record: dict[str, Any]) -> list[str]:
    """Metrics the run asks for by name (``score.metrics``) that its finished record lacks."""
    if record.get("status") != DONE or exp.config.settings.score.metrics is None:
        return []
    have = recorded_metrics(record)
    return [m for m in exp.config.settings.score.metrics if m not in have]


def _score_missing(exp: Experiment, folder: Path, dev: torch.device,
                   previous: dict[str, Any]) -> dict[str, Any]:
    """A finished run scored for the metrics it lacks, from its reported generator, without
    training: the same draw of samples as its other scores."""
    from ganbench.scoring import load_generator

    record = RunRecord.from_dict(previous)
    generator, _ = load_generator(folder, dev)
    protocol = evaluate.Protocol.from_config(exp.config, dataset=exp.dataset,
                                             metrics=missing_metrics(exp, previous))
    try:
        values = evaluate.evaluate(generator, exp.config, exp.dataset, dev, protocol)
    except evaluate.NonFinite as exc:
        record.update(score_error=str(exc))
        values = {}
    record.add_scores(values)
    tensorboard_log.scores_only(exp.config, exp.run_id, values, record.selected_step
                                if record.selected_step is not None else record.steps or 0)
    write_record(folder, record)
    return record.to_dict()



def _train_locked(exp: Experiment, folder: Path, dev: torch.device, quiet: bool,
                  store: Store | None = None) -> dict[str, Any]:
    return Lifecycle(exp, folder, dev, store=store, quiet=quiet).run().to_dict()


_INTERRUPTED = {
    "starting": "interrupted by the user before training began",
    "training": "interrupted by the user",
    "scoring": "interrupted by the user while scoring",
}


class Lifecycle:
    """The stages of one run, for a run whose lock this process holds."""

    def __init__(self, exp: Experiment, folder: Path, dev: torch.device, *,
                 store: Store | None = None, quiet: bool = True):
        self.exp, self.folder, self.dev, self.store, self.quiet = exp, folder, dev, store, quiet
        self.phase = "starting"
        self.record: RunRecord | None = None  # None until the first record is written
        self.trainer: Trainer | None = None
        self.board: tensorboard_log.Board | None = None  # train.tensorboard's event files

    def run(self) -> RunRecord:
        try:
            self.begin()
            self.phase = "training"
            threads = compute.threads_for_run(  # ganbench.compute; a resumed run: as before
                self.exp, self.dev.type, previous=self.previous_threads)
            self.record.update(threads=threads)  # this session's training threads
            with compute.torch_threads(threads):  # restored after
                self.train()
            if self.record.status == DONE:
                self.phase = "scoring"
                with compute.torch_threads(compute.threads_for(  # scoring: large products
                        self.exp.config.settings.train.threads, work=compute.LARGE_WORK,
                        device_type=self.dev.type)):
                    self.score()
        except KeyboardInterrupt:  # the one place a Ctrl-C is handled
            if self.record is not None:
                self.record.update(status=INTERRUPTED, reason=_INTERRUPTED[self.phase])
                self.finish()
            raise
        self.finish()
        return self.record

    previous_threads: int | None = None  # the threads an earlier session trained with

    def begin(self) -> None:
        exp, folder, dev = self.exp, self.folder, self.dev
        extended = None
        if self.store is not None and not (folder / CHECKPOINT).exists():
            extended = extend_from_shorter(exp, self.store, folder)
        self.previous_threads = _recorded_threads(
            folder if extended is None else self.store.run_dir(extended["run_id"]))
        atomic_write_json(folder / CONFIG, exp.config.to_dict())
        record = RunRecord(
            run_id=exp.run_id, status=RUNNING, started=now(), device=str(dev),
            device_name=(torch.cuda.get_device_name(dev) if dev.type == "cuda"
                         else platform.processor() or "cpu"),
            host=platform.node(), versions=versions(), plugins=identity.of_config(exp.config),
            extended_from=extended["run_id"] if extended else None)  # said from the start
        ema = exp.config.settings.train.ema  # which weights are scored, sampled and exported
        record.update(generator_weights="ema" if ema is not None else "raw",
                      **({"ema_decay": ema} if ema is not None else {}))
        self.record = record
        write_record(folder, record)

    def train(self) -> None:
        """Algorithm 1 to the budget, with checkpoints and selection; a divergence or an
        error is recorded on the record."""
        exp, folder, record = self.exp, self.folder, self.record
        try:
            trainer = self.trainer = _make_trainer(exp, self.dev)
            if (folder / CHECKPOINT).exists():
                trainer.load_state_dict(load_checkpoint(folder / CHECKPOINT))
                record.update(resumed_from_step=trainer.step)
            self.board = tensorboard_log.open_for(exp, trainer)
            progress = Progress(trainer.schedule.iterations, label=f"{exp.run_id} ",
                                quiet=self.quiet)

            def on_log(t: Trainer) -> None:
                _, d, g, _ = t.curve.rows[-1]
                progress.update(t.step, d_loss=d, g_loss=g)
                if self.board is not None:
                    self.board.log(t)

            selector = (Selector(exp, folder, self.dev, trainer.step)
                        if exp.config.settings.score.select == "valid" else None)
            if selector is not None and selector.patience_spent():
                trainer.stop_requested = True  # it stopped early at this checkpoint; stay stopped

            def on_checkpoint(t: Trainer) -> None:
                if selector is not None:
                    with compute.matmul_precision("highest"):  # scoring: full float32
                        selector.maybe_score(t)
                    if self.board is not None and selector.history:
                        self.board.selection(selector.history[-1], t.step)
                atomic_torch_save(folder / CHECKPOINT, t.state_dict())
                _write_curve(folder, t)

            try:
                with compute.matmul_precision(exp.config.settings.train.matmul_precision):
                    trainer.run(on_log=on_log, on_checkpoint=on_checkpoint)
            finally:
                progress.close()
            record.update(status=DONE, reason=None)
            if selector is not None:
                selector.restore_best(trainer, record)
        except Diverged as exc:
            record.update(status=DIVERGED, reason=exc.reason, failed_step=exc.step)
        except Exception as exc:
            step = self.trainer.step if self.trainer is not None else 0
            record.update(status=FAILED, reason=f"{type(exc).__name__}: {exc}", failed_step=step,
                          traceback=traceback.format_exc(limit=8))

    def score(self) -> None:
        try:
            _score(self.exp, self.trainer, self.record, self.dev)
        except Exception as exc:  # e.g. a split too small to score: recorded, never fatal
            self.record.update(score_error=f"{type(exc).__name__}: {exc}")
        _artefacts(self.exp, self.trainer, self.folder, self.dev, self.record)
        if self.board is not None:
            self.board.scored(self.record, self.trainer, self.folder / "samples.png")

    def finish(self) -> None:
        record, trainer = self.record, self.trainer
        if trainer is not None:
            bpe = trainer.sampler.batches_per_epoch
            steps = trainer.step
            if record.status == DIVERGED and record.failed_step is not None:
                steps = min(steps, record.failed_step)  # the loop runs on to its next check
            record.update(steps=steps, batches=trainer.batches,
                          epochs=round(trainer.batches / bpe, 4) if bpe else None,
                          wall_time=round(trainer.seconds, 3))
            _write_curve(self.folder, trainer)
        if self.board is not None:
            self.board.close()
        record.update(finished=now())
        write_record(self.folder, record)


def _score(exp: Experiment, trainer: Trainer, record: RunRecord, dev: torch.device) -> None:
    """The evaluation stage on the trained (or selected) generator."""
    try:
        record.add_scores(evaluate.evaluate(trainer.reported_generator, exp.config, exp.dataset,
                                            dev))
    except evaluate.NonFinite as exc:
        record.update(status=DIVERGED, reason=str(exc), failed_step=trainer.step)


def _artefacts(exp: Experiment, trainer: Trainer, folder: Path, dev: torch.device,
               record: RunRecord) -> None:
    """Loss curves and a picture of samples; a failure here is noted, never fatal."""
    try:
        from ganbench import report

        report.loss_curve_png(folder / "losses.csv", folder / "losses.png")
        samples = evaluate.draw(trainer.reported_generator, exp.config, "samples", 1000, dev)
        report.samples_png(samples, exp.dataset.splits["test"], folder / "samples.png")
    except Exception as exc:  # plots are a convenience
        record.update(artefact_error=f"{type(exc).__name__}: {exc}")


class Selector:
    """Checkpoint selection on the validation split (never on test): every ``select_every``
    iterations, score G's samples on the validation points and keep the best generator."""

    def __init__(self, exp: Experiment, folder: Path, dev: torch.device, start_step: int):
        self.exp, self.folder, self.dev = exp, folder, dev
        settings = exp.config.settings
        self.every = settings.score.select_every or settings.train.checkpoint_every
        self.patience = settings.score.patience
        path = folder / SELECTION
        history = read_json(path)["history"] if path.exists() else []
        self.history = [h for h in history if h["step"] <= start_step]  # as of the checkpoint

    def maybe_score(self, trainer: Trainer) -> None:
        if trainer.step % self.every and trainer.step != trainer.schedule.iterations:
            return
        if self.history and self.history[-1]["step"] == trainer.step:
            return
        score = evaluate.validation_score(trainer.reported_generator, self.exp.config,
                                          self.exp.dataset, self.dev)
        if score is None:
            return
        entry = {"step": trainer.step, **score}
        improved = not self.history or entry["parzen_valid"] > max(
            h["parzen_valid"] for h in self.history)
        if improved:
            atomic_torch_save(self.folder / BEST, {  # the reported generator (EMA with train.ema)
                "step": trainer.step, "generator": trainer.reported_generator.state_dict()})
        self.history.append(entry)
        atomic_write_json(self.folder / SELECTION, {"history": self.history})
        if self.patience_spent():
            trainer.stop_requested = True

    def patience_spent(self) -> bool:
        """``score.patience`` scores in a row without a better one than the best so far."""
        if self.patience is None or not self.history:
            return False
        best_at = max(range(len(self.history)), key=lambda i: self.history[i]["parzen_valid"])
        return len(self.history) - 1 - best_at >= self.patience

    def restore_best(self, trainer: Trainer, record: RunRecord) -> None:
        if not (self.folder / BEST).exists() or not self.history:
            return
        best = load_checkpoint(self.folder / BEST)
        trainer.reported_generator.load_state_dict(best["generator"])
        chosen = max(self.history, key=lambda h: h["parzen_valid"])
        record.update(selected_step=int(best["step"]), parzen_valid=chosen["parzen_valid"])
        if trainer.stop_requested:
            record.update(stopped_early=(
                f"no better validation score in the last {self.patience} "
                f"scores (best at step {chosen['step']})"))


def _make_trainer(exp: Experiment, dev: torch.device) -> Trainer:
    config = exp.config
    train, noise = config.settings.train, config.settings.noise
    data = exp.dataset.splits["train"].float().to(dev)
    schedule = Schedule(
        iterations=iterations_for(config.train, len(data)),
        discriminator_steps=train.discriminator_steps,
        batch_size=train.batch_size,
        update=train.update,
        log_every=train.log_every,
        checkpoint_every=train.checkpoint_every,
    )
    # Separate, seeded streams for data order, noise and dropout: resume is bitwise exact.
    torch.manual_seed(seeds.seed_for(config.seed, "dropout"))
    if dev.type == "cuda":
        torch.cuda.manual_seed(seeds.seed_for(config.seed, "dropout"))
    sampler = MinibatchSampler(data, schedule.batch_size, seed=seeds.seed_for(config.seed, "data"))
    prior = NoisePrior(noise.prior, noise.dim, noise.scale, dev,
                       seed=seeds.seed_for(config.seed, "noise"))
    return Trainer(exp.generator.to(dev), exp.discriminator.to(dev), exp.loss, sampler, prior,
                   config.optimizer, schedule, ema=train.ema)


def _write_curve(folder: Path, trainer: Trainer) -> None:
    lines = [",".join(trainer.curve.columns)]
    lines += [f"{int(r[0])},{r[1]:.6g},{r[2]:.6g},{r[3]}" for r in trainer.curve.rows]
    atomic_write_bytes(folder / "losses.csv", ("\n".join(lines) + "\n").encode())


def _recorded_threads(folder: Path) -> int | None:
    """The training threads the record in ``folder`` says its session used, when that session
    left a checkpoint to go on from; else None."""
    try:
        if (folder / CHECKPOINT).exists():
            return (read_json(folder / RECORD) or {}).get("threads")
    except Exception:  # an unreadable record: choose afresh
        return None
    return None
