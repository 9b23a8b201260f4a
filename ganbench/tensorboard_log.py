"""TensorBoard event files of a run, when asked (``--tensorboard DIR`` or the setting
``train.tensorboard``): one subfolder per run, ``DIR/<variant>-<run id>``.

What is written, and when (the step axis is the generator update, ``trainer.step``):

- at every row of ``losses.csv`` (every ``train.log_every`` iterations, and at checkpoints):
  ``loss/discriminator`` and ``loss/generator`` (the window means that row holds),
  ``lr/discriminator`` and ``lr/generator`` (the optimisers' current learning rates) and
  ``speed/steps_per_second`` (iterations over training seconds since the row before);
- when the run is scored: ``metrics/<column>`` for each numeric value the evaluation stage
  gives the record (``parzen_mean``, ``fid``, ...) and ``time/<metric>_seconds``, at the step
  of the generator that was scored (``selected_step`` with ``score.select = "valid"``); with
  selection, also ``metrics/parzen_valid`` at each checkpoint scored on the validation split;
- at the end: ``samples``, the picture of samples the run stores as ``samples.png`` (an image
  grid for image data, made with torchvision's ``make_grid``; a histogram or a scatter against
  the data for 1-D and 2-D data).

A resumed run appends to the same folder: its writer is opened with ``purge_step`` one past
the checkpoint it resumes from, so rows an interrupted session logged after its last
checkpoint are hidden and each step shows once, with the resumed run's values. A folder with
no event files yet (a run first logged after it was resumed, or one extending a shorter run)
is given the loss curve stored in the checkpoint first (losses and speed; not the lr).

The package is optional (``pip install ganbench[tensorboard]``); ``check`` says so in one
line before anything is trained. Nothing here changes a number of the run.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from ganbench.errors import ConfigError

INSTALL = "pip install ganbench[tensorboard]"


def require() -> None:
    """A ConfigError (one line, what to install) unless tensorboard can be imported."""
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"--tensorboard (train.tensorboard) needs the tensorboard package, "
                          f"which is not installed ({exc}): {INSTALL}") from None


def root(path: str | os.PathLike) -> str:
    """``--tensorboard DIR`` as the setting holds it (absolute), checked: tensorboard is
    installed, and DIR is a folder or can be made one (nothing is created here)."""
    require()
    folder = Path(path).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--tensorboard {path}: {folder} is a file, not a folder")
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--tensorboard {path}: cannot write under {existing}")
    return str(folder)


def check(config: Any) -> None:
    """For a config whose ``train.tensorboard`` is set (e.g. in a sweep file): ``root``'s
    checks, before anything is trained."""
    where = (getattr(config, "train", None) or {}).get("tensorboard")
    if where is not None:
        root(where)


def variant(config: Any) -> str:
    """``ring-2d.mlp.mlp.minimax.seed0``: dataset, generator, discriminator, loss, seed, as a
    legal folder name (anything but letters, digits, ``.``, ``-`` and ``_`` becomes ``_``)."""
    text = (f"{config.dataset}.{config.generator}.{config.discriminator}.{config.loss}"
            f".seed{config.seed}")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def run_folder(config: Any, run_id: str) -> Path | None:
    """The run's folder under ``train.tensorboard``, or None when it is not set."""
    where = config.train.get("tensorboard")
    return None if where is None else Path(where) / f"{variant(config)}-{run_id}"


def open_for(exp: Any, trainer: Any) -> Board | None:
    """The run's board (after its checkpoint is loaded), or None without the setting."""
    folder = run_folder(exp.config, exp.run_id)
    return None if folder is None else Board(folder, trainer)


class Board:
    """One run's event files: ``log`` at each curve row, ``scored`` once scored, ``close``."""

    def __init__(self, folder: Path, trainer: Any = None):
        """``trainer``: the run's, once its checkpoint is loaded (None: only ``values``)."""
        from torch.utils.tensorboard import SummaryWriter

        fresh = not (folder.is_dir() and any(folder.glob("events.out.tfevents.*")))
        step = trainer.step if trainer is not None else 0
        self.writer = SummaryWriter(str(folder), flush_secs=30,
                                    purge_step=step + 1 if step else None)
        self.folder = folder
        if fresh and trainer is not None:  # the curve so far (a resumed or extended run)
            for i in range(len(trainer.curve.rows)):
                self._row(trainer.curve.rows, i)

    def _row(self, rows: list[list[float]], i: int) -> int:
        step, d_loss, g_loss, seconds = rows[i]
        step = int(step)
        self.writer.add_scalar("loss/discriminator", d_loss, step)
        self.writer.add_scalar("loss/generator", g_loss, step)
        before_step, before_seconds = (rows[i - 1][0], rows[i - 1][3]) if i else (0, 0.0)
        if seconds > before_seconds:
            self.writer.add_scalar("speed/steps_per_second",
                                   (step - before_step) / (seconds - before_seconds), step)
        return step

    def log(self, trainer: Any) -> None:
        """The newest row of the loss curve, and the learning rates now."""
        step = self._row(trainer.curve.rows, len(trainer.curve.rows) - 1)
        self.writer.add_scalar("lr/discriminator", trainer.opt_d.param_groups[0]["lr"], step)
        self.writer.add_scalar("lr/generator", trainer.opt_g.param_groups[0]["lr"], step)

    def scored(self, record: Any, trainer: Any, samples_png: Path | None = None) -> None:
        """The record's metric values, and the picture of samples when there is one."""
        step = record.selected_step if record.selected_step is not None else trainer.step
        self.values(record.values, step)
        if samples_png is not None and samples_png.is_file():
            from torchvision.io import ImageReadMode, read_image

            try:
                image = read_image(str(samples_png), ImageReadMode.RGB)
            except (RuntimeError, OSError) as exc:  # the picture is a convenience
                record.update(artefact_error=f"tensorboard samples: {exc}")
                return
            self.writer.add_image("samples", image, step)

    def selection(self, entry: dict[str, Any], step: int) -> None:
        """A checkpoint's validation score (``score.select = "valid"``), when it has one."""
        if entry["step"] == step:
            self.writer.add_scalar("metrics/parzen_valid", entry["parzen_valid"], step)

    def values(self, values: dict[str, Any], step: int) -> None:
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(value):
                tag = f"time/{key}" if key.endswith("_seconds") else f"metrics/{key}"
                self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        self.writer.close()


def scores_only(config: Any, run_id: str, values: dict[str, Any], step: int) -> None:
    """Metric values of a finished run scored again for metrics it lacked (no training)."""
    folder = run_folder(config, run_id)
    if folder is not None:
        board = Board(folder)
        board.values(values, step)
        board.close()
