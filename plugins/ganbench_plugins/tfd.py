"""The Toronto Face Database, read as pylearn2 read it for the original GAN experiments.

The file is ``TFD_48x48.mat`` (not public; ask its authors), with ``images`` (N x 48 x 48,
uint8) and ``folds`` (N x 5; per fold, 0 = unlabeled, 1 = train, 2 = valid, 3 = test); the
label variables ``labs_ex`` and ``labs_id`` are not needed here. Pixels / 255 -> float32.

Splits, for the chosen ``fold`` (a column of ``folds``): "valid" = rows with value 2, "test" =
rows with value 3, and "train" = rows with value 0 or 1 (``train_set="unlabeled+train"``, the
default), or only value 0 (``"unlabeled"``: pylearn2's ``which_set='unlabeled'``, which the
original GAN TFD experiment trained on), or only value 1 (``"train"``). Rows keep the file's
order.

The file is found from the ``path`` option, else the ``GANBENCH_TFD`` variable (a file, or a
directory holding ``TFD_48x48.mat``), else ``$GANBENCH_DATA/TFD_48x48.mat`` or pylearn2's layout
``$GANBENCH_DATA/faces/TFD/TFD_48x48.mat``. Decoded files are cached per process.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ganbench_plugins.toy import TensorDataset

FILE_NAME = "TFD_48x48.mat"
SIDE = 48
N_FOLDS = 5
TRAIN_SETS = {"unlabeled+train": (0, 1), "unlabeled": (0,), "train": (1,)}
HOW_TO_PROVIDE = (
    f"pass --set dataset.path=/path/to/{FILE_NAME} or set GANBENCH_TFD=/path/to/{FILE_NAME} "
    f"(the Toronto Face Database is not public; ask its authors for {FILE_NAME})"
)

# (path, size, mtime_ns) -> (images uint8 (N, 48, 48), folds (N, 5))
_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def clear_cache() -> None:
    """Forget decoded files (tests; or to free memory)."""
    _CACHE.clear()


def tfd(
    path: str | None = None,
    fold: int = 0,
    train_set: str = "unlabeled+train",
    image_shape: bool = False,
) -> TensorDataset:
    """TFD 48x48 for one of its 5 folds, shape ``(2304,)`` (``(1, 48, 48)`` with
    ``image_shape``). ``info``: ``mean_pixel``, ``pixel_means``, ``fold``, ``path``."""
    if not isinstance(fold, int) or isinstance(fold, bool) or not 0 <= fold < N_FOLDS:
        raise ValueError(f"fold must be an integer from 0 to {N_FOLDS - 1}, got {fold!r}")
    if train_set not in TRAIN_SETS:
        raise ValueError(
            f"train_set must be one of {', '.join(map(repr, TRAIN_SETS))}, got {train_set!r}"
        )
    file = _locate(path)
    images, folds = _load(file)
    column = folds[:, fold]
    rows = {
        "train": np.isin(column, TRAIN_SETS[train_set]),
        "valid": column == 2,
        "test": column == 3,
    }
    shape = (1, SIDE, SIDE) if image_shape else (SIDE * SIDE,)
    splits = {}
    for name, mask in rows.items():
        if not mask.any():
            raise RuntimeError(
                f"{file}: fold {fold} has no {name} rows (folds values for it: "
                f"{'/'.join(map(str, _values(name, train_set)))})"
            )
        x = torch.from_numpy(images[mask]).to(torch.float32).div_(255.0)
        splits[name] = x.reshape(int(mask.sum()), *shape)
    pixel_means = images[rows["train"]].mean(0, dtype=np.float64) / 255.0
    return TensorDataset(
        shape=shape,
        splits=splits,
        info={
            "mean_pixel": float(pixel_means.mean()),
            "pixel_means": torch.from_numpy(pixel_means).float().reshape(shape),
            "fold": fold,
            "train_set": train_set,
            "path": str(file),
        },
    )


def _values(split: str, train_set: str) -> tuple[int, ...]:
    return {"train": TRAIN_SETS[train_set], "valid": (2,), "test": (3,)}[split]


def _locate(path: str | None) -> Path:
    if path:
        return _existing(Path(path).expanduser(), "dataset.path")
    env = os.environ.get("GANBENCH_TFD")
    if env:
        return _existing(Path(env).expanduser(), "GANBENCH_TFD")
    data = os.environ.get("GANBENCH_DATA")
    if data:
        for candidate in (Path(data) / FILE_NAME, Path(data) / "faces" / "TFD" / FILE_NAME):
            if candidate.is_file():
                return candidate
    looked = (f" (GANBENCH_DATA {data} holds neither {FILE_NAME} nor faces/TFD/{FILE_NAME})"
              if data else "")
    raise FileNotFoundError(f"TFD not found{looked}: {HOW_TO_PROVIDE}")


def _existing(given: Path, origin: str) -> Path:
    file = given / FILE_NAME if given.is_dir() else given
    if not file.is_file():
        raise FileNotFoundError(f"TFD file {file} (from {origin}) does not exist: {HOW_TO_PROVIDE}")
    return file


def _load(file: Path) -> tuple[np.ndarray, np.ndarray]:
    stat = file.stat()
    key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = _read(file)
    return _CACHE[key]


def _read(file: Path) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    try:
        data = scipy.io.loadmat(str(file), variable_names=("images", "folds"))
    except NotImplementedError as exc:  # MATLAB v7.3 files are HDF5
        raise RuntimeError(
            f"{file} is a MATLAB v7.3 (HDF5) file, which scipy cannot read; re-save it with "
            f"save(..., '-v7')"
        ) from exc
    except Exception as exc:  # scipy raises several types for damaged files
        raise RuntimeError(f"{file} could not be read as a .mat file: {exc}") from exc
    missing = [name for name in ("images", "folds") if name not in data]
    if missing:
        present = sorted(k for k in data if not k.startswith("__"))
        raise RuntimeError(
            f"{file} lacks the variable(s) {', '.join(missing)}: a TFD file has images "
            f"(N x {SIDE} x {SIDE}) and folds (N x {N_FOLDS}); found {', '.join(present) or 'none'}"
        )
    images, folds = np.asarray(data["images"]), np.asarray(data["folds"])
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise RuntimeError(
            f"{file}: images have shape {images.shape}, expected (N, {SIDE}, {SIDE}) "
            f"(is this {FILE_NAME}?)"
        )
    n = images.shape[0]
    if folds.shape != (n, N_FOLDS):
        raise RuntimeError(f"{file}: folds have shape {folds.shape}, expected ({n}, {N_FOLDS})")
    if not np.isin(folds, (0, 1, 2, 3)).all():
        raise RuntimeError(f"{file}: folds values must be 0 (unlabeled), 1, 2 or 3")
    if images.dtype != np.uint8:
        as_bytes = images.astype(np.uint8)
        if not np.array_equal(as_bytes, images):
            raise RuntimeError(f"{file}: pixels must be integers in [0, 255], got {images.dtype}")
        images = as_bytes
    return images, folds.astype(np.int64)
