"""A reproduction's verdict (``ganbench reproduce``, written beside the table as verdict.md
and verdict.csv): each cell against its published figure, and the paper's claims tested.

- **Per cell**: a ``between-runs`` column's mean over trials against the published row of the
  same axis values: reproduced when the difference is within two combined standard errors,
  |ours - theirs| <= 2 sqrt(se_ours^2 + se_theirs^2) (se_ours: the standard error over our
  trials; the published one as printed). n/a with fewer than 2 trials.
- **Claims** (``[[table.claims]]`` in the preset): ``claim`` (the words), ``columns`` (table
  columns with a ``value``), ``baseline`` (axis -> value: the row every other row is
  compared with) and ``higher`` (default true: the others are claimed higher). Each other
  row against the baseline on each column: a one-sided test (Welch's t-test; the exact
  permutation test where neither side's trials vary: ``ganbench.stats``), Holm-corrected over
  all of the claim's comparisons. A column supports the claim when every comparison on it is
  significant at 0.05 after the correction, partly when some are.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd

from ganbench.errors import ConfigError
from ganbench.stats import compare_p, holm

ALPHA = 0.05
CLAIM_KEYS = ("claim", "columns", "baseline", "higher")


def judged(column: Any) -> bool:
    """A column the verdict judges: a between-runs cell of the preset's own runs, with a
    ``value`` (a column with runs of its own, or a per-run one, is not judged)."""
    return (isinstance(column, dict) and column.get("error") == "between-runs"
            and "value" in column and "run" not in column and "axes" not in column)


def row_axes(table: dict[str, Any], axes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The table's row axes (short name -> values): ``rows``, default every axis but seed."""
    by_short = {p.rsplit(".", 1)[-1]: v for p, v in axes.items()}
    rows = table.get("rows", [k for k in by_short if k != "seed"])
    return {k: v for k, v in by_short.items() if k in rows and k != "seed"}


def check_published_and_claims(name: str, table: dict[str, Any],
                               axes: dict[str, list[Any]]) -> None:
    """A preset's ``table.published`` rows (a ``model``; each column's figure a table of
    numbers ``mean`` and ``stderr``; ``values`` naming axes) and ``table.claims`` (``axes``:
    the preset's), checked when the preset is read (before any training): one-line
    ConfigErrors."""
    def fail(message: str) -> None:
        raise ConfigError(f"preset {name!r}: {message}")

    shorts, rows = [p.rsplit(".", 1)[-1] for p in axes], row_axes(table, axes)
    for i, row in enumerate(table.get("published", [])):
        if not isinstance(row, dict) or "model" not in row:
            fail(f"missing table.published[{i}].model")
        for column in table.get("columns", {}):
            figure = row.get(column)
            if figure is not None and not (isinstance(figure, dict) and all(
                    isinstance(figure.get(k), (int, float)) and not isinstance(
                        figure.get(k), bool) for k in ("mean", "stderr"))):
                fail(f"table.published[{i}].{column!r} must be {{ mean = NUMBER, stderr = "
                     "NUMBER }")
        if not isinstance(row.get("values", {}), dict):
            fail(f"table.published[{i}].values must be a table of axis = value")
        if unknown := [k for k in row.get("values", {}) if k not in shorts]:
            fail(f"table.published[{i}].values names no axis {unknown[0]!r}")
    claims = table.get("claims", [])
    if not isinstance(claims, list):
        fail("table.claims must be a list of tables ([[table.claims]])")
    for i, claim in enumerate(claims):
        where = f"table.claims[{i}]"
        if not isinstance(claim, dict):
            fail(f"{where} must be a table")
        if extra := [k for k in claim if k not in CLAIM_KEYS]:
            fail(f"unknown key {where}.{extra[0]}; known: {', '.join(CLAIM_KEYS)}")
        for key in ("claim", "columns", "baseline"):
            if key not in claim:
                fail(f"missing {where}.{key}")
        if not isinstance(claim["claim"], str) or not claim["claim"].strip():
            fail(f"{where}.claim must be the claim in words (a string)")
        if not isinstance(claim.get("higher", True), bool):
            fail(f"{where}.higher must be true or false")
        columns = claim["columns"]
        if not isinstance(columns, list) or not columns:
            fail(f"{where}.columns must be a non-empty list of table columns")
        for column in columns:
            if not judged(table.get("columns", {}).get(column)):
                fail(f"{where}.columns: {column!r} is no between-runs table column with a value "
                     "(and no runs of its own)")
        base = claim["baseline"]
        if not isinstance(base, dict) or not base:
            fail(f"{where}.baseline must be a table of row axis = value, e.g. {{ pack = 1 }}")
        for key, value in base.items():
            if key not in rows:
                fail(f"{where}.baseline names no row axis {key!r}; row axes: "
                     f"{', '.join(rows) or 'none'}")
            if value not in rows[key]:
                fail(f"{where}.baseline: {key} = {value!r} is not one of the axis's values "
                     f"({', '.join(map(repr, rows[key]))})")


def finite_values(runs: list[dict[str, Any]], key: str) -> tuple[list[dict[str, Any]],
                                                                  list[dict[str, Any]]]:
    """The runs with a value of ``key``, and those of them whose value is finite: what a
    between-runs cell counts (``preset_table.between_runs_cell``) and what the verdict judges."""
    valued = [r for r in runs if r.get(key) is not None]
    return valued, [r for r in valued if math.isfinite(float(r[key]))]


def _scores(records: list[dict[str, Any]], values: dict[str, Any],
            column: dict[str, Any]) -> np.ndarray:
    """The column's finite value of each run of these axis values, times the column's scale."""
    match = {**values, **column.get("match", {})}
    key = column["value"]
    _, scored = finite_values([r for r in records
                               if all(r.get(k) == v for k, v in match.items())], key)
    return np.array([float(r[key]) for r in scored]) * column.get("scale", 1.0)


def _stderr(scores: np.ndarray) -> float:
    return float(scores.std(ddof=1) / math.sqrt(len(scores))) if len(scores) > 1 else math.nan


def cells(axes: list[str], records: list[dict[str, Any]], spec: dict[str, Any]) -> pd.DataFrame:
    """One row per published figure with a ganbench counterpart (a between-runs column);
    ``axes``: the short names of the table's row axes."""
    rows = []
    for published in spec.get("published", []):
        values = {k: v for k, v in published.get("values", {}).items() if k in axes}
        for name, column in spec["columns"].items():
            figure = published.get(name)
            if figure is None or not judged(column) or "values" not in published:
                continue
            ours = _scores(records, values, column)
            if not len(ours):
                continue
            se = _stderr(ours)
            combined = math.sqrt(se ** 2 + figure["stderr"] ** 2)
            diff = float(ours.mean()) - figure["mean"]
            if math.isnan(se):
                verdict = "n/a (fewer than 2 trials)"
            elif combined == 0:  # neither ours nor the published figure has any spread
                verdict = ("reproduced (equal, neither has any spread)" if diff == 0 else
                           "not reproduced (different, neither has any spread)")
            elif abs(diff) <= 2 * combined * (1 + 1e-9):  # on the edge: within (8 - 7.8 > 0.2)
                verdict = "reproduced (within 2 combined SE)"
            else:
                verdict = f"not reproduced ({abs(diff) / combined:.1f} combined SE away)"
            rows.append({"row": published["model"], "column": name, "published": figure["mean"],
                         "published_se": figure["stderr"], "ours": float(ours.mean()),
                         "ours_se": se, "trials": len(ours), "difference": diff,
                         "combined_se": combined, "verdict": verdict})
    return pd.DataFrame(rows, columns=["row", "column", "published", "published_se", "ours",
                                       "ours_se", "trials", "difference", "combined_se",
                                       "verdict"])


def claims(axes: list[str], records: list[dict[str, Any]], spec: dict[str, Any]
           ) -> pd.DataFrame:
    """One row per comparison of each claim: a row (values of ``axes``, the table's row
    axes) against the baseline on a column."""
    out = []
    levels = [dict.fromkeys(r.get(a) for r in records) for a in axes]
    combos = [dict(zip(axes, c)) for c in itertools.product(*levels)]
    for claim in spec.get("claims", []):
        higher, rows = claim.get("higher", True), []
        for name in claim["columns"]:
            column = spec["columns"][name]
            for values in combos:
                base = {**values, **claim["baseline"]}  # the same row but for the baseline's axes
                if base == values:
                    continue
                ours, baseline = _scores(records, values, column), _scores(records, base, column)
                if not len(ours):
                    continue
                p, test = compare_p(ours, baseline, "greater" if higher else "less")
                rows.append({"claim": claim["claim"], "column": name,
                             "direction": "higher" if higher else "lower",
                             "row": ", ".join(f"{k} {v}" for k, v in values.items()),
                             "baseline": ", ".join(f"{k} {v}" for k, v in base.items()),
                             "mean": float(ours.mean()), "trials": len(ours),
                             "baseline_mean": float(baseline.mean()) if len(baseline) else math.nan,
                             "baseline_trials": len(baseline), "test": test, "p": p})
        adjusted = holm([r["p"] for r in rows])
        for r, q in zip(rows, adjusted):
            r["p_holm"] = q
            r["significant"] = None if math.isnan(q) else bool(q < ALPHA)
        out += rows
    return pd.DataFrame(out, columns=["claim", "column", "direction", "row", "baseline", "mean",
                                      "trials",
                                      "baseline_mean", "baseline_trials", "test", "p", "p_holm",
                                      "significant"])


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def markdown(cells_frame: pd.DataFrame, claims_frame: pd.DataFrame,
             spec: dict[str, Any] | None = None) -> str:
    """The verdict as markdown: the cells' table, then each claim's comparisons and summary
    (a claim of ``spec`` with no comparison yet: said so)."""
    lines = ["## Verdict per cell", "",
             "Reproduced: |ours - published| <= 2 sqrt(se_ours^2 + se_published^2), se_ours "
             "the standard error over our trials.", ""]
    if cells_frame.empty:
        lines.append("No cell has both a published figure and a ganbench value yet.")
    else:
        lines += ["| row | column | published | ours (trials) | combined SE | verdict |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r.row} | {r.column} | {r.published:g} +- {r.published_se:g} | "
                  f"{_fmt(r.ours)} +- {_fmt(r.ours_se, 2)} ({r.trials}) | "
                  f"{_fmt(r.combined_se, 2)} | {r.verdict} |"
                  for r in cells_frame.itertuples()]
    for claim, group in claims_frame.groupby("claim", sort=False):
        lines += ["", f"## Claim: {claim}", "",
                  f"Tested: each row's mean {group['direction'].iloc[0]} than its baseline's "
                  "(the same row but for the baseline's axes), one-sided (Welch's t-test; exact "
                  "permutation test where neither side's trials vary), Holm-corrected over the "
                  "claim's comparisons.", "",
                  "| column | row | mean (trials) | baseline mean (trials) | test | p | Holm p "
                  "| significant |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r.column} | {r.row} | {_fmt(r.mean)} ({r.trials}) | "
                  f"{_fmt(r.baseline_mean)} ({r.baseline_trials}) | {r.test or 'n/a'} | "
                  f"{_fmt(r.p, 2)} | {_fmt(r.p_holm, 2)} | "
                  f"{'n/a' if r.significant is None else ('yes' if r.significant else 'no')} |"
                  for r in group.itertuples()]
        lines.append("")
        for column, part in group.groupby("column", sort=False):
            tested = part["significant"].dropna()
            if tested.empty:
                word = "untested (fewer than 2 trials on a side)"
            elif len(tested) == len(part) and tested.all():
                word = "supported: every comparison significant"
            elif tested.any():
                word = f"partly supported: {int(tested.sum())} of {len(part)} comparisons significant"
            else:
                word = "not supported: no comparison significant"
            lines.append(f"- {column}: {word}.")
    for claim in (spec or {}).get("claims", []):
        if claim["claim"] not in set(claims_frame["claim"]):
            lines += ["", f"## Claim: {claim['claim']}", "",
                      "Untested: no trials yet of a row to compare with the baseline, or of the "
                      "baseline."]
    return "\n".join(lines) + "\n"
