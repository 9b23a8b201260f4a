"""A run's record: what happened to one run, and every number it produced.

``RunRecord`` is the one shape of ``record.json``; ``write`` is the one way it reaches the
store (atomically). Status values are declared here, once. Metric values (``parzen_mean``,
...) and anything a newer or older ganbench wrote that this one does not know are kept in
``values`` and written back unchanged, so a record survives a round trip.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ganbench.store import RECORD, atomic_write_json

RUNNING = "running"
DONE = "done"  # trained to its budget (or stopped early by its patience) and scored
DIVERGED = "diverged"  # a loss or the samples became NaN / inf: final, not retried
FAILED = "failed"  # an error during training: retried by the next sweep
INTERRUPTED = "interrupted"  # Ctrl-C, a kill, or a lock no longer held: resumed by a rerun
PARTIAL = "partial"  # reproduce --no-train: the best generator so far of an unfinished run
NOT_STARTED = "not started"
STALE = "stale"  # made by other plugin versions or sources (ganbench.identity): shown, not written
STATUSES = (RUNNING, DONE, DIVERGED, FAILED, INTERRUPTED, PARTIAL, NOT_STARTED, STALE)
FINAL = (DONE, DIVERGED)  # a run in one of these is never trained again


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    run_id: str
    status: str = RUNNING
    reason: str | None = None
    started: str | None = None
    finished: str | None = None
    device: str | None = None
    device_name: str | None = None
    host: str | None = None
    versions: dict[str, str] | None = None
    plugins: dict[str, dict[str, str]] | None = None
    extended_from: str | None = None  # the shorter-budget run this one continued
    resumed_from_step: int | None = None
    steps: int | None = None  # generator updates actually trained
    batches: int | None = None
    epochs: float | None = None
    wall_time: float | None = None  # seconds of training, over every session of the run
    failed_step: int | None = None
    traceback: str | None = None
    selected_step: int | None = None
    parzen_valid: float | None = None
    stopped_early: str | None = None
    score_error: str | None = None
    artefact_error: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # metric columns and unknown keys

    # Written even when None: a finished run says it has no reason, rather than leaving it out.
    _ALWAYS = ("run_id", "status")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "values":
                continue
            value = getattr(self, f.name)
            if value is not None or f.name in self._ALWAYS or f.name in self._explicit:
                out[f.name] = value
        out.update(self.values)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in fields(cls)} - {"values"}
        record = cls(**{k: v for k, v in data.items() if k in known})
        record.values = {k: v for k, v in data.items() if k not in known}
        record._explicit = {k for k in data if k in known and data[k] is None}
        return record

    def __post_init__(self) -> None:
        self._explicit: set[str] = set()

    def update(self, **changes: Any) -> None:
        """Set fields (and metric columns) by name; a field set to None is written as null."""
        known = {f.name for f in fields(self)} - {"values"}
        for key, value in changes.items():
            if key in known:
                setattr(self, key, value)
                if value is None:
                    self._explicit.add(key)
            else:
                self.values[key] = value

    def add_scores(self, values: dict[str, Any]) -> None:
        """Metric columns from the evaluation stage, keeping the settings (``metrics``) of
        metrics scored before."""
        values = dict(values)
        metrics = {**(self.values.get("metrics") or {}), **values.pop("metrics", {})}
        self.update(**values)
        if metrics:
            self.update(metrics=metrics)


def write(folder: Path, record: RunRecord) -> None:
    """The record into the run's folder, atomically."""
    atomic_write_json(folder / RECORD, record.to_dict())
