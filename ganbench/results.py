"""The results table: one row per run in the store, as a pandas DataFrame."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from ganbench.config import PARTS, SECTIONS, with_defaults
from ganbench.store import CONFIG, RECORD, Store, read_json

FIRST = ["run_id", "status", *PARTS, "seed"]
SCORES = ["parzen_mean", "parzen_stderr", "parzen_sigma", "parzen_n_samples"]
RECORD_COLUMNS = ["steps", "epochs", "wall_time", "device", "reason", "failed_step"]
# ``protocol.<metric>``: how that metric scored the run (its ``record["metrics"][metric]``:
# samples used, settings, declared directions), as canonical JSON, without provenance (the
# plugin's distribution and version) or timing, so that runs scored alike have equal cells.
PROTOCOL = "protocol."
PARZEN_PROTOCOL = ("parzen_n_samples", "parzen_n_valid", "parzen_n_test")
_NOT_PROTOCOL = {"distribution", "version", "seconds", "wall_time"}


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def protocol(described: Any) -> str | None:
    """The canonical JSON of one metric's entry of ``record["metrics"]``, minus provenance
    and timing (keys sorted, no spaces); None when there is no entry."""
    if not isinstance(described, dict):
        return None
    kept = {k: v for k, v in described.items()
            if k not in _NOT_PROTOCOL and not str(k).endswith("_seconds")}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)


def row(run_id: str, config: dict[str, Any], record: dict[str, Any] | None,
        status: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"run_id": run_id}
    config = with_defaults(config)  # a config stored before a setting existed: its default
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
    stems = tuple(name.replace("-", "_") for name in (record.get("metrics") or {}))
    for key, value in record.items():
        is_metric = any(key == stem or key.startswith(stem + "_") for stem in stems)
        if (is_metric or key.startswith(("parzen_", "score_"))) and key not in out:
            out[key] = value
    for name, described in (record.get("metrics") or {}).items():
        out[f"{PROTOCOL}{name}"] = protocol(described)
    out["torch"] = (record.get("versions") or {}).get("torch")
    return out


def load(store: str | os.PathLike | Store | None = None) -> pd.DataFrame:
    """One row per run: its config's parts and options, status, scores, steps, wall time,
    device, and ``protocol.<metric>`` for each metric that scored it (see PROTOCOL).

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
    base = [c for c in FIRST + SCORES if c in frame.columns]
    stems = [c.removeprefix("protocol.").replace("-", "_") for c in frame.columns
             if c.startswith("protocol.") and c != "protocol.parzen"]
    metrics = [c for c in frame.columns if c not in base and "." not in c
               and any(c == m or c.startswith(m + "_") for m in stems)
               and not c.endswith("_seconds") and not c.endswith("_std")]
    base += metrics + [c for c in ["steps", "wall_time", "device"] if c in frame.columns]
    varying = [
        c for c in frame.columns
        if "." in c and not c.startswith("protocol.")
        and frame[c].astype(str).nunique(dropna=False) > 1
    ]
    return base + varying


# ---- protocols: which runs were scored alike ----


def protocol_columns(frame: pd.DataFrame, metric: str) -> list[str]:
    """The columns saying how the column ``metric`` was scored: ``protocol.<m>`` of the metric
    ``m`` whose column it is (the longest name that ``metric`` is, or starts with followed by
    ``_``), and for Parzen's columns also PARZEN_PROTOCOL (records older than
    ``protocol.parzen`` have only those)."""
    names = {c[len(PROTOCOL):] for c in frame.columns if c.startswith(PROTOCOL)} | {"parzen"}
    for name in sorted(names, key=lambda n: -len(n)):
        stem = name.replace("-", "_")
        if metric == stem or metric.startswith(stem + "_"):
            extra = list(PARZEN_PROTOCOL) if name == "parzen" else []
            return [c for c in [*extra, PROTOCOL + name] if c in frame.columns and c != metric]
    return []


def plain(value: Any) -> Any:
    """A cell as a plain JSON value: nan as None, a whole float as an int."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def protocol_key(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Each row's values of ``columns`` as one JSON list: equal for runs scored alike."""
    return [json.dumps([plain(v) for v in values])
            for values in zip(*(frame[c] for c in columns))] if columns else ["[]"] * len(frame)


def _flat(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {prefix: value}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}"))
        return out
    return {prefix: value}


def differences(this: str, other: str, columns: list[str]) -> str:
    """Where the protocol ``this`` (a ``protocol_key``) differs from ``other``, in words:
    ``parzen_n_samples=5000, parzen.n_samples=5000``."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    for column, x, y in zip(columns, json.loads(this), json.loads(other)):
        name = column[len(PROTOCOL):] if column.startswith(PROTOCOL) else column
        a.update(_flat(x, name) if x is not None else {name: None})
        b.update(_flat(y, name) if y is not None else {name: None})
    shown = [f"{k}={'not recorded' if a.get(k) is None else json.dumps(a.get(k))[:40]}"
             for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    return ", ".join(shown) or "the same"
