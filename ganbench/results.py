"""The results table: one row per run in the store, as a pandas DataFrame."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganbench.config import PARTS, SECTIONS, with_defaults
from ganbench.identity import STALE, STALE_DIR, moved_aside, stale_note, stale_reasons
from ganbench.store import CONFIG, RECORD, Store, read_json

FIRST = ["run_id", "status", *PARTS, "seed"]
SCORES = ["parzen_mean", "parzen_stderr", "parzen_sigma", "parzen_n_samples"]
RECORD_COLUMNS = ["steps", "epochs", "wall_time", "device", "reason", "failed_step"]
# ``protocol.<metric>``: how that metric scored the run (its ``record["metrics"][metric]``:
# samples used, settings, declared directions), as canonical JSON, without provenance (the
# plugin's distribution and version) or timing, so that runs scored alike have equal cells.
PROTOCOL = "protocol."
VERSION, SOURCE = "version.", "source."  # what made a run: ganbench.identity
MADE_BY = (VERSION, SOURCE)
PARZEN_PROTOCOL = ("parzen_n_samples", "parzen_n_valid", "parzen_n_test")
# (``options``: what the metric was given, which its ``settings`` already say in full)
_NOT_PROTOCOL = {"distribution", "version", "seconds", "wall_time", "options"}


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def protocol(described: Any) -> str | None:
    """The canonical JSON of one metric's entry of ``record["metrics"]``, minus provenance
    and timing (keys sorted, no spaces); None when there is no entry."""
    if not isinstance(described, dict):
        return None
    kept = {k: v for k, v in described.items()  # options count where no settings say them
            if (k not in _NOT_PROTOCOL or (k == "options" and not described.get("settings")))
            and not str(k).endswith("_seconds")}
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
    out["ganbench_version"] = (record.get("versions") or {}).get("ganbench")
    for part, made_by in (record.get("plugins") or {}).items():  # ganbench.identity
        if isinstance(made_by, dict):
            out[f"{VERSION}{part}"] = made_by.get("version")
            out[f"{SOURCE}{part}"] = made_by.get("source")
    return out


def _load_row(store: Store, run_id: str, folder: Path, moved_to: str | None = None) -> dict:
    try:
        config = read_json(folder / CONFIG)
    except (OSError, ValueError):
        return {"run_id": run_id, "status": STALE if moved_to else "incomplete",
                "reason": "no readable config.json", **({"moved_to": moved_to} if moved_to else {})}
    try:
        record = read_json(folder / RECORD)
    except (OSError, ValueError):
        record = None
    reasons = stale_note(folder)["reasons"] if moved_to else stale_reasons(record)
    status = (STALE if reasons else "incomplete" if record is None
              else store.status(run_id))
    out = row(run_id, config, record, status)
    out["stale"] = "; ".join(reasons) or None  # why (ganbench.identity); None: current
    if moved_to:
        out["moved_to"] = moved_to  # the folder it was set aside to
    return out


def load(store: str | os.PathLike | Store | None = None, *, stale: bool = False) -> pd.DataFrame:
    """One row per run: its config's parts and options, status, scores, steps, wall time,
    device, ``protocol.<metric>`` for each metric that scored it (see PROTOCOL), and what
    made it: ``version.<part>``, ``source.<part>`` (``ganbench.identity``), ``ganbench_version``.

    A half-written run folder (no readable config or record) is a row with status
    ``incomplete``, not an error. A run made by other plugin versions or sources than those
    installed is a row with status ``stale`` and the reason in ``stale`` (the leaderboard
    never pools it); with ``stale=True``, so are the runs set aside in ``.stale/`` (their
    folder in ``moved_to``)."""
    store = store if isinstance(store, Store) else Store(store)
    rows = [_load_row(store, run_id, store.run_dir(run_id)) for run_id in store.run_ids()]
    if stale:
        rows += [_load_row(store, stale_note(f).get("run_id", f.name), f, f"{STALE_DIR}/{f.name}")
                 for f in moved_aside(store)]
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
        if "." in c and not c.startswith(("protocol.", *MADE_BY))
        and frame[c].astype(str).nunique(dropna=False) > 1
    ]
    return base + varying + made_by_columns(frame)


def made_by_columns(frame: pd.DataFrame) -> list[str]:
    """``stale`` where a run is, ``ganbench_version``, and each ``version.<part>`` that says
    more than ganbench's version does (a third party's plugin, or versions that differ)."""
    out = ["stale"] if "stale" in frame.columns and frame["stale"].notna().any() else []
    own = frame["ganbench_version"].astype(str) if "ganbench_version" in frame.columns else None
    if own is not None:
        out.append("ganbench_version")
    for column in (c for c in frame.columns if c.startswith(VERSION)):
        values = frame[column].astype(str)
        if own is None or values.nunique() > 1 or (values != own).any():
            out.append(column)
    return out


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
