"""A preset's table (``ganbench reproduce``): published figures beside this run's, one row
per value of the row axes, one cell per column from the records of its runs.

The preset's ``[table]`` says it all (``ganbench_plugins/presets/paper.toml`` documents the
format): ``rows`` (the axes whose values make the rows; default every axis but the seed),
``row`` (the row label, formatted with the axis values), ``columns`` and ``published``.
A column's cell is made from the runs of its row, restricted to the column's ``match``
(axis -> value): ``error = "per-run"`` averages the runs' ``<metric>_mean`` and their
standard errors (the paper's Parzen protocol); ``"between-runs"`` is the mean of the
runs' ``value`` (a record column, default ``<metric>_mean``) times ``scale``, the standard
error over the runs, and their number, to ``digits`` decimals. A published row with
``values`` (axis -> value) is placed just above the row of those values; one without, at
the top.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganbench.preset_verdict import finite_values
from ganbench.presets import Preset, short

PUBLISHED, THIS_RUN = "published", "this run"  # the table's ``source`` column


def _epochs(record: dict[str, Any]) -> str:
    """Epochs trained, as a table shows them: whole epochs, fractions for tiny budgets."""
    epochs = float(record["epochs"])
    return str(round(epochs)) if epochs >= 10 else f"{epochs:.3g}"


def _left_out(runs: list[dict[str, Any]], counted: list[dict[str, Any]]) -> str:
    """The runs not in a cell, by status: "; 1 of 3 runs not started", "; 2 of 3 runs: 1
    diverged, 1 failed"; empty when every run counted."""
    others = Counter(r.get("status") or "not started" for r in runs
                     if not any(r is c for c in counted))
    if not others:
        return ""
    if len(others) == 1:
        what = f" {next(iter(others))}"
    else:
        what = ": " + ", ".join(f"{n} {status}" for status, n in sorted(others.items()))
    return f"; {sum(others.values())} of {len(runs)} runs{what}"


def per_run_cell(runs: list[dict[str, Any]], metric: str = "parzen") -> str:
    """The mean over the finished runs, the mean of their standard errors, the spread between
    seeds; unfinished runs (``partial``) listed beside, averaged only when none finished."""
    mean, se = f"{metric}_mean", f"{metric}_stderr"
    scored = [r for r in runs if r.get(mean) is not None]
    finished = [r for r in scored if r.get("status") == "done"]
    partial = [r for r in scored if r.get("status") == "partial"]
    counted = finished or partial
    if counted:
        means = np.array([r[mean] for r in counted])
        stderr = float(np.mean([r[se] for r in counted]))
        if len(counted) > 1:
            spread = float(np.std(means, ddof=1))
            cell = f"{means.mean():.1f} +- {stderr:.1f} (seed sd {spread:.1f}, {len(counted)} seeds)"
        else:
            cell = f"{means.mean():.1f} +- {stderr:.1f} (1 seed)"
        if not finished:
            cell += (f"; unfinished runs only, at {', '.join(_epochs(r) for r in partial)} "
                     "epochs (best generator so far)")
    else:
        cell = "no finished run"
    cell += _left_out(runs, finished + partial)
    if partial and finished:
        cell += "; not in the mean, unfinished: " + ", ".join(
            f"seed {r.get('seed', '?')} at {_epochs(r)} epochs ({r[mean]:.1f})" for r in partial)
    return cell


def between_runs_cell(runs: list[dict[str, Any]], unit: str = "runs", metric: str = "parzen",
                      *, value: str | None = None, digits: int = 1,
                      scale: float = 1.0) -> str | None:
    """The mean of the runs' ``value`` (default ``<metric>_mean``) times ``scale``, its
    standard error over the runs and their number; runs with a non-finite value counted
    beside, and the runs without a value by status (None: no run has one)."""
    key = value or f"{metric}_mean"
    valued, scored = finite_values(runs, key)
    others = [r for r in runs if not any(r is v for v in valued)]
    if valued and not scored:
        return f"no finite value ({len(valued)} {unit})" + _left_out(others, [])
    if not scored:
        return None
    scores = np.array([float(r[key]) for r in scored]) * scale
    if len(scores) > 1:
        se = f"{scores.std(ddof=1) / math.sqrt(len(scores)):.{digits}f}"
    else:  # one run: no standard error ("1 trial", not "1 trials")
        se, unit = "n/a", unit[:-1] if unit.endswith("s") else unit
    infinite = f"; {len(valued) - len(scored)} without a finite value" * (len(valued) > len(scored))
    return (f"{scores.mean():.{digits}f} +- {se} ({len(scores)} {unit})" + infinite
            + _left_out(others + scored, scored))


def spec_of(preset: Preset) -> dict[str, Any]:
    """The preset's table, or by default one column of Parzen scores over the seeds."""
    return {"name": "table", "columns": {"parzen (nats)": {}}, **preset.table_spec}


def _published_cell(figure: dict[str, Any] | None, column: dict[str, Any]) -> str:
    if figure is None:
        return ""
    if "digits" in column:
        return f"{figure['mean']:.{column['digits']}f} +- {figure['stderr']:.{column['digits']}f}"
    return f"{figure['mean']:g} +- {figure['stderr']:g}"


def table(preset: Preset, records: list[dict[str, Any]], reference: Any = None, *,
          quick: bool = False, columns: dict[str, list[dict[str, Any]] | None] | None = None,
          budget: dict[str, Any] | None = None) -> pd.DataFrame:
    """The preset's table: its published rows, then one row per value of its row axes
    (``records``: the preset's runs, tagged with their axis values), then the reference (a
    ``reproduce.Reference``). ``columns``: the records of each column that has runs of its
    own (None: its input was not given); ``budget``: ``preset.settings(...)``, overrides and
    all (default: the preset's own)."""
    spec, columns = spec_of(preset), columns or {}
    names = list(spec["columns"])

    def published(p: dict[str, Any]) -> dict[str, Any]:
        return {"model": p["model"], **{c: _published_cell(p.get(c), spec["columns"][c])
                                        for c in names}, "source": PUBLISHED}

    figures = spec.get("published", [])
    rows = [published(p) for p in figures if "values" not in p]
    suffix = (budget or preset.budget(quick)).get("row_suffix", "")
    keys = [p for p in preset.axes if p != "seed" and short(p) in spec.get(
        "rows", [short(a) for a in preset.axes])]
    for combo in itertools.product(*[preset.axes[p] for p in keys]):
        values = {short(p): v for p, v in zip(keys, combo)}
        rows += [published(p) for p in figures if "values" in p
                 and all(values.get(k) == v for k, v in p["values"].items())]
        runs = [r for r in records if all(r.get(k) == v for k, v in values.items())]
        if not runs:
            continue
        row: dict[str, Any] = {"model": spec.get("row", "{values}{suffix}").format(
            **values, values=", ".join(map(str, values.values())), suffix=suffix) or preset.name}
        for name, column in spec["columns"].items():
            own = "run" not in column and "axes" not in column
            group = runs if own else columns.get(name)
            if group is None:
                row[name] = column.get("missing", "not run")
                continue
            match = {**({} if own else values), **column.get("match", {})}
            group = [r for r in group if all(r.get(k) == v for k, v in match.items())]
            metric = column.get("metric", "parzen")
            if column.get("error", "per-run") == "per-run":
                row[name] = per_run_cell(group, metric)
            else:
                cell = between_runs_cell(group, column.get("unit", "runs"), metric,
                                         value=column.get("value"),
                                         digits=column.get("digits", 1),
                                         scale=column.get("scale", 1.0))
                row[name] = cell if cell is not None else column.get("empty", "no score") + (
                    _left_out(group, []))
        rows.append({**row, "source": THIS_RUN})
    if reference is not None:
        column = spec.get("reference", {}).get("column", names[0])
        rows.append({"model": reference.model, **{c: "" for c in names},
                     column: f"{reference.mean:.1f} +- {reference.stderr:.1f} "
                             f"(sigma {reference.sigma:.3f})", "source": THIS_RUN})
    return pd.DataFrame(rows, columns=["model", *names, "source"])


def markdown(frame: pd.DataFrame, header: str, notes: str = "") -> str:
    """The table in markdown under ``header``, without its ``source`` column, then notes."""
    names = [c for c in frame.columns if c != "source"]
    lines = [header, "", "| " + " | ".join(names) + " |", "|---" * len(names) + "|"]
    lines += ["| " + " | ".join(str(r[c]) for c in names) + " |" for r in frame.to_dict("records")]
    return "\n".join(lines) + "\n\n" + notes


def write_table(frame: pd.DataFrame, out: Path, header: str, notes: str = "",
                name: str = "table1") -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv, md = out / f"{name}.csv", out / f"{name}.md"
    frame.to_csv(csv, index=False)
    md.write_text(markdown(frame, header, notes))
    return csv, md
