"""Samples saved by any program, as the ``ganbench parzen`` command reads them: ``.npy``,
``.npz`` (one array, or the array named ``samples``) and ``.pt`` (a tensor, or a dict with a
``samples`` tensor), loaded without running any code from the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganbench.errors import DataError

__all__ = ["load_samples"]


def load_samples(path: str | Path) -> np.ndarray:
    """Read samples of G from ``.npy``, ``.npz`` (the one array, or ``samples``) or ``.pt``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"samples file {str(path)!r} does not exist; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            array = _load_npz(path)
        elif suffix == ".pt":
            array = _load_pt(path)
        else:
            raise DataError(
                f"samples file {str(path)!r} has unknown format {suffix or '(no suffix)'!r}; "
                "use .npy, .npz or .pt"
            )
    except DataError:
        raise
    except Exception as exc:  # numpy and torch raise many types for a corrupt file
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"cannot read samples file {str(path)!r} as {suffix}: {message}; "
            "re-save it with numpy.save / numpy.savez / torch.save"
        ) from exc
    if array.dtype.kind not in "biuf":
        raise DataError(
            f"samples file {str(path)!r} holds an array of dtype {array.dtype}; "
            "save the samples as numbers (e.g. float32)"
        )
    return array


def _load_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if "samples" in names:
            return archive["samples"]
        if len(names) == 1:
            return archive[names[0]]
    if not names:
        raise DataError(f"samples file {str(path)!r} holds no arrays; save the samples in it")
    raise DataError(
        f"samples file {str(path)!r} holds several arrays ({', '.join(names)}) and none is "
        "named 'samples'; save the samples under the name 'samples'"
    )


def _load_pt(path: Path) -> np.ndarray:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        if "samples" not in obj:
            keys = ", ".join(map(str, obj)) or "none"
            raise DataError(
                f"samples file {str(path)!r} holds a dict without a 'samples' key (keys: {keys}); "
                "save a tensor, or a dict with the tensor under 'samples'"
            )
        obj = obj["samples"]
    if not isinstance(obj, torch.Tensor):
        raise DataError(
            f"samples file {str(path)!r} holds a {type(obj).__name__}, not a tensor; "
            "save a tensor, or a dict with the tensor under 'samples'"
        )
    obj = obj.detach()
    if obj.is_floating_point() and obj.dtype not in (torch.float16, torch.float32, torch.float64):
        obj = obj.float()  # bfloat16 and float8 have no numpy equivalent
    return obj.numpy()


