"""What the built-in metrics keep: results that depend on the dataset alone (the real
examples' features, PRDC's k-NN radii of them, KID's kernel sums of their subsets,
memorisation's index of the training split and its typical distance), computed once and reused by every later evaluation, in the process (the
runs of a sweep worker, a leaderboard's reference rows) and on disk (the next ``ganbench score``,
a sweep's next worker process).

Keys are by content: ``fingerprint`` is the sha256 of a tensor's dtype, shape and bytes
(about 0.1 s for MNIST's 50,000 training images), never its address, so a dataset built
again for the next run finds what the last one computed, and changed data never does.

The disk cache: one ``torch.save`` file per answer in ``cache_dir()`` (``$GANBENCH_CACHE``;
default ``$XDG_CACHE_HOME/ganbench/metrics`` or ``~/.cache/ganbench/metrics``;
``GANBENCH_CACHE=off`` turns it off), named by the sha256 of the kind, the key and ``code_tag()``:
torch's version and the source of every module of this package, so that any change to the code
that computed an answer (or to torch) misses instead of reading it. Files hold tensors and plain
values only, read with ``weights_only=True``; one that cannot be read is computed again and
rewritten, one that cannot be written is skipped (the answer is still returned). Written
atomically (a temporary file renamed), so concurrent processes never read half a file. On MNIST
the default metric set writes about 30 MB (float64 features 10 MB, the training split's index
20 MB). Each version of the code writes in a folder of its own (``code_tag()``'s first 16
digits); folders of other versions neither read nor written for ``PRUNE_DAYS`` days are
removed when a new answer is written, and so are temporary files that old (only files of
the cache's own names: ``GANBENCH_CACHE`` pointing at a folder with other things in it
loses none of them).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

KEEP = {"real-features": 4, "real-radii": 4, "kid-real-sums": 8, "train-index": 1,
        "train-typical": 8}  # entries
_KEPT: dict[str, OrderedDict] = {}
CACHE_ENV = "GANBENCH_CACHE"
_OFF = ("", "0", "off", "no", "false")


def fingerprint(t: Tensor) -> str:
    """The sha256 of a tensor's dtype, shape and bytes (on the CPU): its identity by content."""
    t = t.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{t.dtype} {tuple(t.shape)}".encode())
    digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def cache_dir() -> Path | None:
    """Where answers are kept on disk; None when ``GANBENCH_CACHE`` turns the cache off."""
    value = os.environ.get(CACHE_ENV)
    try:
        if value is not None:
            return None if value.strip().lower() in _OFF else Path(value).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except RuntimeError:  # no home directory (for ~ or the default): no disk cache
        return None
    return Path(base) / "ganbench" / "metrics"


@functools.lru_cache(maxsize=1)
def code_tag() -> str:
    """The sha256 of torch's version and of every ``.py`` file of this package (by path and
    bytes): part of every disk key."""
    digest = hashlib.sha256(f"torch {torch.__version__}".encode())
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def builtin(obj: Any) -> bool:
    """Whether ``obj``'s class is defined in this package, so that ``code_tag`` covers its
    code (a dataset's feature extractor: another package's may change under the same name)."""
    return obj.__class__.__module__.split(".")[0] == __name__.split(".")[0]


def disk_path(kind: str, key: tuple) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    name = hashlib.sha256(repr((kind, key, code_tag())).encode()).hexdigest()[:40]
    return folder / code_tag()[:16] / f"{kind}-{name}.pt"


PRUNE_DAYS = 7


_KINDS = "|".join(map(re.escape, KEEP))
_OURS = re.compile(rf"\.?({_KINDS})-[0-9a-f]{{40}}\.pt(\..+\.tmp)?")
_VERSION = re.compile(r"[0-9a-f]{16}")


def _prune(folder: Path) -> None:
    """Remove what this cache wrote and nobody used for PRUNE_DAYS: other code versions'
    folders (only files of the cache's own names in folders of its own names, never anything
    else that lies in ``cache_dir()``) and temporary files left by killed processes."""
    old = time.time() - PRUNE_DAYS * 86400
    try:
        for path in [*folder.glob(".*.tmp"), *folder.parent.glob("*.pt"),
                     *folder.parent.glob(".*.tmp")]:  # (the parent's: the first, flat layout)
            if _OURS.fullmatch(path.name) and path.is_file() and path.stat().st_mtime < old:
                path.unlink()
        for other in folder.parent.iterdir():
            if other == folder or not _VERSION.fullmatch(other.name) or other.is_symlink() \
                    or not other.is_dir() or other.stat().st_mtime >= old:
                continue
            files = list(other.iterdir())
            if all(f.is_file() and _OURS.fullmatch(f.name) for f in files):
                for f in files:
                    f.unlink()
                other.rmdir()
    except OSError:  # another process pruning too, or no permission: nothing lost
        pass


def _load(path: Path) -> tuple[bool, Any]:
    try:
        found = True, torch.load(path, map_location=None, weights_only=True)
        with contextlib.suppress(OSError):
            os.utime(path.parent)  # this code version's folder is in use: not pruned
        return found
    except FileNotFoundError:
        return False, None
    except Exception:  # unreadable (truncated, foreign, another torch): computed again
        return False, None


def _save(path: Path, state: Any) -> None:
    from ganbench.store import atomic_torch_save

    try:
        atomic_torch_save(path, state)
    except Exception as exc:  # read-only, full (torch says RuntimeError): still answered
        warnings.warn(f"metric cache {path.parent} not written ({exc}); set {CACHE_ENV}=off "
                      f"or another folder", stacklevel=3)


Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _tensor(value: Any) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"not a tensor: {type(value).__name__}")
    return value


def _tensors(value: Any) -> dict:
    if not isinstance(value, dict) or not all(isinstance(v, Tensor) for v in value.values()):
        raise TypeError("not a dict of tensors")
    return value


TENSOR: Codec = (_tensor, _tensor)  # (to_state, from_state) of answers of each kind
TENSORS: Codec = (_tensors, _tensors)
FLOAT: Codec = (float, float)


def kept(kind: str, key: tuple, compute: Callable[[], Any], *, disk: Codec | None = None) -> Any:
    """``compute()``, once per process for ``key``: the last ``KEEP[kind]`` answers of each
    kind are kept. A kept tensor is shared: read it, never change it in place.

    ``disk``: also keep it on disk (``cache_dir()``), as ``to_state(answer)`` (tensors and
    plain values), read back by ``from_state``, which raises (KeyError, TypeError,
    ValueError) for a state that is not of its kind: then the answer is computed again."""
    store = _KEPT.setdefault(kind, OrderedDict())
    key = (*key, _precision())  # matrix products in less than float32 give other answers
    if key in store:
        store.move_to_end(key)
        return store[key]
    path = disk_path(kind, key) if disk is not None else None
    found, state = _load(path) if path is not None else (False, None)
    if found:
        try:
            value = disk[1](state)
        except (KeyError, TypeError, ValueError, AttributeError):  # not such a state: again
            found = False
    if not found:
        value = compute()
        if path is not None:
            _save(path, disk[0](value))
            _prune(path.parent)
    store[key] = value
    while len(store) > KEEP[kind]:
        store.popitem(last=False)
    return value


_NEW_API = ("fp32_precision", "cuda.matmul.fp32_precision", "mkldnn.matmul.fp32_precision",
            "cudnn.conv.fp32_precision")  # torch.backends.<these>: per-backend settings


def _backend(path: str) -> str:
    value: Any = torch.backends
    for name in path.split("."):
        value = getattr(value, name, None)
    return str(value)


def _precision() -> tuple[str, ...]:
    """torch's float32 precision settings that change the answers: the legacy ones (matmul
    precision, CUDA matmul and cuDNN TF32) while they can be read, else (once torch's
    per-backend settings are used, the legacy getters raise) the per-backend ones."""
    try:
        return (torch.get_float32_matmul_precision(),
                str(torch.backends.cuda.matmul.allow_tf32), str(torch.backends.cudnn.allow_tf32))
    except RuntimeError:
        return ("per-backend", *(_backend(p) for p in _NEW_API))


def float32_exact() -> bool:
    """Whether float32 matrix products are computed in float32 (not TF32 or bfloat16: see
    ``torch.set_float32_matmul_precision`` and torch's per-backend ``fp32_precision``)."""
    legacy = _precision()
    if legacy[0] != "per-backend":
        return legacy[0] == "highest" and legacy[1] == "False"
    return all(value in ("ieee", "none", "None") for value in legacy[1:-1])


def clear_kept() -> None:
    """Forget everything ``kept`` holds in this process (tests; or to free memory); the disk
    cache stays."""
    _KEPT.clear()
