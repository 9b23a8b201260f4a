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


def check_published_and_claims(name: str, table: dict[str, Any], axes: list[str]) -> None:
    """A preset's ``table.published`` rows (a ``model``; each column's figure a table of
    numbers ``mean`` and ``stderr``; ``values`` naming axes) and ``table.claims``, checked
    when the preset is read (before any training): one-line ConfigErrors."""
    for i, row in enumerate(table.get("published", [])):
        if not isinstance(row, dict) or "model" not in row:
            raise ConfigError(f"preset {name!r}: missing table.published[{i}].model")
        for column in table.get("columns", {}):
            figure = row.get(column)
            if figure is not None and not (isinstance(figure, dict) and all(
                    isinstance(figure.get(k), (int, float)) for k in ("mean", "stderr"))):
                raise ConfigError(f"preset {name!r}: table.published[{i}].{column!r} must be "
                                  "{ mean = NUMBER, stderr = NUMBER }")
        if unknown := [k for k in row.get("values", {}) if k not in axes]:
            raise ConfigError(f"preset {name!r}: table.published[{i}].values names no axis "
                              f"{unknown[0]!r}")
    claims = table.get("claims", [])
    if not isinstance(claims, list):
        raise ConfigError(f"preset {name!r}: table.claims must be a list of tables")
    for i, claim in enumerate(claims):
        where = f"table.claims[{i}]"
        if not isinstance(claim, dict):
            raise ConfigError(f"preset {name!r}: {where} must be a table")
        if extra := [k for k in claim if k not in CLAIM_KEYS]:
            raise ConfigError(f"preset {name!r}: unknown key {where}.{extra[0]}; known: "
                              f"{', '.join(CLAIM_KEYS)}")
        for key in ("claim", "columns", "baseline"):
            if key not in claim:
                raise ConfigError(f"preset {name!r}: missing {where}.{key}")
        for column in claim["columns"]:
            spec = table.get("columns", {}).get(column)
            if not isinstance(spec, dict) or "value" not in spec:
                raise ConfigError(f"preset {name!r}: {where}.columns: {column!r} is no table "
                                  "column with a value")
        if unknown := [k for k in claim["baseline"] if k not in axes]:
            raise ConfigError(f"preset {name!r}: {where}.baseline names no axis {unknown[0]!r}")


def _scores(records: list[dict[str, Any]], values: dict[str, Any],
            column: dict[str, Any]) -> np.ndarray:
    """The column's value of each run of these axis values (runs without one: not counted,
    as in the table's cell), times the column's scale."""
    match = {**values, **column.get("match", {})}
    key = column["value"]
    return np.array([float(r[key]) * column.get("scale", 1.0) for r in records
                     if all(r.get(k) == v for k, v in match.items()) and r.get(key) is not None
                     and math.isfinite(float(r[key]))])


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
            if figure is None or "value" not in column or "values" not in published:
                continue
            ours = _scores(records, values, column)
            if not len(ours):
                continue
            se = _stderr(ours)
            combined = math.sqrt(se ** 2 + figure["stderr"] ** 2)
            diff = float(ours.mean()) - figure["mean"]
            if math.isnan(se):
                verdict = "n/a (fewer than 2 trials)"
            elif abs(diff) <= 2 * combined:
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
        higher = claim.get("higher", True)
        base = {k: v for k, v in claim["baseline"].items() if k in axes}
        rows = []
        for name in claim["columns"]:
            column = spec["columns"][name]
            baseline = _scores(records, base, column)
            for values in combos:
                if all(values.get(k) == v for k, v in base.items()):
                    continue
                ours = _scores(records, values, column)
                if not len(ours):
                    continue
                p, test = compare_p(ours, baseline, "greater" if higher else "less")
                rows.append({"claim": claim["claim"], "column": name,
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
    return pd.DataFrame(out, columns=["claim", "column", "row", "baseline", "mean", "trials",
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
                  "One-sided test of each row against the baseline (Welch's t-test; exact "
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
