"""The results table: one row per run in the store, as a pandas DataFrame."""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd

from ganbench.config import PARTS, SECTIONS
from ganbench.store import CONFIG, RECORD, Store, read_json

FIRST = ["run_id", "status", *PARTS, "seed"]
SCORES = ["parzen_mean", "parzen_stderr", "parzen_sigma", "parzen_n_samples"]
RECORD_COLUMNS = ["steps", "epochs", "wall_time", "device", "reason", "failed_step"]


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def row(run_id: str, config: dict[str, Any], record: dict[str, Any] | None,
        status: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"run_id": run_id}
    for part in PARTS:
        out[part] = config.get(part)
    out["seed"] = config.get("seed")
    for part, options in (config.get("options") or {}).items():
        for key, value in options.items():
            out[f"{part}.{key}"] = _cell(value)
    for section in SECTIONS:
        for key, value in (config.get(section) or {}).items():
            out[f"{section}.{key}"] = _cell(value)
    record = record or {}
    out["status"] = status or record.get("status", "incomplete")
    for key in SCORES + RECORD_COLUMNS:
        out[key] = record.get(key)
    for key, value in record.items():
        if key.startswith(("parzen_", "score_")) and key not in out:
            out[key] = value
    out["torch"] = (record.get("versions") or {}).get("torch")
    return out


def load(store: str | os.PathLike | Store | None = None) -> pd.DataFrame:
    """One row per run: its config's parts and options, status, scores, steps, wall time, device.

    A half-written run folder (no readable config or record) is a row with status
    ``incomplete``, not an error."""
    store = store if isinstance(store, Store) else Store(store)
    rows = []
    for run_id in store.run_ids():
        folder = store.run_dir(run_id)
        try:
            config = read_json(folder / CONFIG)
        except (OSError, ValueError):
            rows.append({"run_id": run_id, "status": "incomplete", "reason": "no readable config.json"})
            continue
        try:
            record = read_json(folder / RECORD)
        except (OSError, ValueError):
            rows.append(row(run_id, config, None, "incomplete"))
            continue
        rows.append(row(run_id, config, record, store.status(run_id)))
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=FIRST + SCORES + RECORD_COLUMNS)
    first = [c for c in FIRST + SCORES + RECORD_COLUMNS if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def summary_columns(frame: pd.DataFrame) -> list[str]:
    """The columns worth showing on a terminal: identity, status, scores, and any option that
    varies between runs."""
    base = [c for c in FIRST + SCORES + ["steps", "wall_time", "device"] if c in frame.columns]
    varying = [
        c for c in frame.columns
        if "." in c and frame[c].astype(str).nunique(dropna=False) > 1
    ]
    return base + varying
