"""Growing a run's budget in stages: a run whose config differs from a stored one only by a
larger budget (or more patience) starts from the stored run's last checkpoint, exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganbench.config import identity
from ganbench.identity import is_current, stored_record
from ganbench.store import BEST, CHECKPOINT, CONFIG, RunLocked, Store, atomic_write_bytes, read_json
from ganbench.train import iterations_for

SELECTION = "selection.json"
_EXTEND_FILES = (SELECTION, BEST, "losses.csv", CHECKPOINT)  # the checkpoint last: with it,
# the others are there (a run stopped mid-copy resumes from a complete set, or starts afresh)


def _budgetless(config: dict[str, Any]) -> dict[str, Any]:
    """A config as its run id sees it (``config.identity``: so that a config written before
    a setting existed still matches) without its budget and its patience."""
    out = identity(config)
    for section, key in (("train", "epochs"), ("train", "steps"), ("score", "patience")):
        out.get(section, {}).pop(key, None)
    return out


def _more_patient(mine: int | None, other: int | None) -> bool:
    """Does patience ``mine`` stop no earlier than ``other`` on every history? (None: never
    stops.) Then a run with ``mine`` goes through every checkpoint the other saved."""
    return mine is None or (other is not None and mine >= other)


def extend_from_shorter(exp: Any, store: Store, folder: Path) -> dict[str, Any] | None:
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
    train, score = config.settings.train, config.settings.score
    total = iterations_for(config.train, len(exp.dataset.splits["train"]))
    grid = [train.checkpoint_every]
    if score.select == "valid":
        grid.append(score.select_every or train.checkpoint_every)
    best: tuple[int, str] | None = None
    for run_id in store.run_ids():
        other = store.run_dir(run_id)
        if run_id == exp.run_id or not (other / CHECKPOINT).exists():
            continue
        if not is_current(stored_record(store, run_id)):  # made by other plugin code
            continue
        try:
            theirs = read_json(other / CONFIG)
            if _budgetless(theirs) != mine or not _more_patient(
                    score.patience, theirs.get("score", {}).get("patience")):
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
            # Judged again under the lock: it may have been set aside or removed meanwhile.
            if not (other / CHECKPOINT).exists() or not is_current(
                    stored_record(store, run_id)):
                return None
            for name in _EXTEND_FILES:
                if (other / name).exists():
                    atomic_write_bytes(folder / name, (other / name).read_bytes())
    except RunLocked:
        return None
    return {"run_id": run_id, "step": step}
