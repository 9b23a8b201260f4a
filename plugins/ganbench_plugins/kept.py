"""What the built-in metrics keep per process: results that depend on the dataset alone (the
real examples' features, PRDC's k-NN radii of them, memorisation's index of the training
split), computed once and reused by every later evaluation in the process (the runs of a
sweep worker, a leaderboard's reference rows).

Keys are by content: ``fingerprint`` is the sha256 of a tensor's dtype, shape and bytes
(about 0.1 s for MNIST's 50,000 training images), never its address, so a dataset built
again for the next run finds what the last one computed, and changed data never does.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

KEEP = {"real-features": 4, "real-radii": 4, "train-index": 1, "train-typical": 8}  # entries
_KEPT: dict[str, OrderedDict] = {}


def fingerprint(t: Tensor) -> str:
    """The sha256 of a tensor's dtype, shape and bytes (on the CPU): its identity by content."""
    t = t.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{t.dtype} {tuple(t.shape)}".encode())
    digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def kept(kind: str, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, once per process for ``key``: the last ``KEEP[kind]`` answers of each
    kind are kept. A kept tensor is shared: read it, never change it in place."""
    store = _KEPT.setdefault(kind, OrderedDict())
    if key in store:
        store.move_to_end(key)
        return store[key]
    store[key] = value = compute()
    while len(store) > KEEP[kind]:
        store.popitem(last=False)
    return value


def clear_kept() -> None:
    """Forget everything ``kept`` holds (tests; or to free memory)."""
    _KEPT.clear()
