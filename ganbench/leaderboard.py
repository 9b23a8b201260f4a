"""The leaderboard's statistics: one row per variant, seeds pooled, options never pooled, runs
scored differently never pooled.

A variant is a value of the ``by`` columns (generator, discriminator, loss, dataset) plus every
option or setting column that takes more than one value inside one of those groups. For each:
mean and standard deviation over seeds of the metric, a 95% Student t-interval of the mean, the
seeds done / diverged / failed / interrupted / running / not started / left out, the rank
within its dataset (scores on different data are not comparable), and Welch's t-test against
the best variant of the same dataset, Holm-corrected over that dataset's comparisons.

Why a t-interval and not a bootstrap: seeds are few (2 to 5), and a percentile bootstrap of n
values never leaves [min, max] of those values; with 2 or 3 seeds its 95% interval *is*
[min, max], which holds the true mean only about 50% (n=2) or 75% (n=3) of the time, and it
undercovers badly for any n < 10. The t-interval, mean ± t(0.975, n-1) · s / sqrt(n), is exact
for normally distributed seeds at every n >= 2: wide when n is small, as it should be.

A mean pools only runs scored alike: a dataset's protocol is the one most of its scored runs
share (``ganbench.results.protocol_columns``); a run scored otherwise (say re-scored with
``--n-samples 5000``) is left out, counted in ``left_out`` and named in the table's notes.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ganbench.config import NOT_IN_ID
from ganbench.errors import ConfigError
from ganbench.leaderboard_notes import sigma_edge_notes
from ganbench.results import MADE_BY, PROTOCOL, differences, plain, protocol_columns, protocol_key
from ganbench.stats import PERMUTATION, holm, t_interval, vs_best_p

DEFAULT_BY = ("generator", "discriminator", "loss", "dataset")
FORMATS = ("markdown", "html", "csv")
ALPHA = 0.05
# Metrics where lower is better (by words in the column's name); everything else: higher is
# better. (fid, kid and their spreads; reverse KL and KL; memorisation's near copies.)
LOWER_IS_BETTER = ("fid", "kid", "wall_time", "parzen_stderr", "reverse_kl", "_kl",
                   "near_copies", "_seconds")
FINISHED = ("done", "diverged", "failed")
UNFINISHED = ("interrupted", "running")
# "incomplete" (a folder without a readable record) counts as not started, as in a sweep.
_IGNORED = {f"{s}.{k}" for s, k in NOT_IN_ID}
_MISSING = "-"
COLUMNS = ("mean", "std", "ci95_low", "ci95_high", "n", "done", "diverged", "failed",
           "interrupted", "running", "not_started", "left_out", "complete", "p_vs_best",
           "p_holm", "significant", "vs_best", "best_run")


def _higher_is_better(metric: str, higher_is_better: bool | None) -> bool:
    """As given; else as the metric plugin whose column it is declares (``higher_is_better``
    of ``fid`` for the column ``fid``, of ``prdc`` for ``prdc_recall``); else by the words in
    its name (LOWER_IS_BETTER)."""
    if higher_is_better is not None:
        return higher_is_better
    declared = _declared_direction(metric)
    if declared is not None:
        return declared
    return not any(word in metric.lower() for word in LOWER_IS_BETTER)


def _declared_direction(column: str) -> bool | None:
    from ganbench import plugins

    try:
        found = plugins.discover("metric")
    except Exception:  # a broken plugin never stops a leaderboard
        return None
    for info in sorted(found, key=lambda i: -len(i.name)):  # the longest stem first
        stem = info.name.replace("-", "_")
        if column != stem and not column.startswith(stem + "_"):
            continue
        key = info.name if column == stem else column[len(stem) + 1:]
        try:
            declared = dict(getattr(plugins.load("metric", info.name)(), "higher_is_better", {}))
        except Exception:
            return None
        value = declared.get(key, declared.get(key.replace("_", "-")))
        return bool(value) if value is not None else None
    return None


def variant_columns(frame: pd.DataFrame, by: list[str]) -> list[str]:
    """The option and setting columns that split a group of ``by``: options are never pooled
    (a column constant inside every group only repeats what ``by`` says, and is left out)."""
    keys = frame[by].astype(str)
    out = []
    for column in frame.columns:
        if "." not in column or column in by or column in _IGNORED or column.startswith((PROTOCOL, *MADE_BY)):
            continue
        values = frame[column].astype(str)  # None stays missing (pandas 3): count it as a value
        if values.nunique(dropna=False) < 2:  # (train.ema unset beside 0.999 splits variants)
            continue
        if (values.groupby([keys[c] for c in by]).nunique(dropna=False) > 1).any():
            out.append(column)
    return out


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """The columns a leaderboard can rank by: every non-empty value a number (options,
    settings and protocols, which have a dot in their names, and the seed left out)."""
    out = []
    for column in frame.columns:
        if "." in column or column in ("seed", "run_id"):
            continue
        values = frame[column].dropna()
        if len(values) and pd.to_numeric(values, errors="coerce").notna().all():
            out.append(column)
    return out


def score_columns(frame: pd.DataFrame) -> list[str]:
    """The score columns the runs' metrics declare a direction for (``higher_is_better`` in
    their ``protocol.<metric>``), and ``parzen_mean``: those with a finite value."""
    out = ["parzen_mean"]
    for column in (c for c in frame.columns if c.startswith(PROTOCOL)):
        stem = column[len(PROTOCOL):].replace("-", "_")
        for text in frame[column].dropna().unique():
            try:
                declared = json.loads(text).get("higher_is_better") or {}
            except (ValueError, AttributeError):
                continue
            out += [stem if key.replace("-", "_") == stem else f"{stem}_{key}".replace("-", "_")
                    for key in declared]  # as ganbench.evaluate.columns names them
    found = []
    for column in dict.fromkeys(out):
        if column in frame.columns and np.isfinite(
                pd.to_numeric(frame[column], errors="coerce")).any():
            found.append(column)
    return found


def _check(frame: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    if not by:
        raise ConfigError("--by needs at least one column, e.g. generator,discriminator,loss,dataset")
    if frame.empty or "status" not in frame.columns:
        raise ConfigError("no runs in the store: run a sweep first (ganbench sweep FILE)")
    if not frame["status"].isin(FINISHED).any():
        raise ConfigError("no finished runs in the store (done, diverged or failed)")
    missing = [c for c in by if c not in frame.columns]
    if missing:
        raise ConfigError(f"--by column(s) {', '.join(missing)} not in the results; columns: "
                          f"{', '.join(c for c in frame.columns)}")
    numeric = ", ".join(numeric_columns(frame)) or "none"
    if metric not in frame.columns:
        raise ConfigError(f"--metric {metric!r} is not a column of the results; numeric "
                          f"columns: {numeric}")
    values = frame[metric].dropna()
    text = values[pd.to_numeric(values, errors="coerce").isna()]
    if len(text):
        raise ConfigError(f"--metric {metric!r} is a text column (e.g. {str(text.iloc[0])!r}), "
                          f"not a score; numeric columns: {numeric}")
    frame = frame[frame["status"].isin((*FINISHED, *UNFINISHED, "incomplete"))]
    return frame[frame[by].notna().any(axis=1)].copy()  # a folder without a config: no variant


def leaderboard(frame: pd.DataFrame, metric: str = "parzen_mean", by: list[str] | None = None,
                *, higher_is_better: bool | None = None) -> pd.DataFrame:
    """One row per variant of the results table (``ganbench.results.load``), ranked within
    each dataset. Columns: ``rank``, the ``by`` columns, the varying option columns, then
    ``mean``, ``std``, ``ci95_low``, ``ci95_high`` (Student t-interval of the mean), ``n``
    (seeds in the mean: done, a finite metric, the dataset's protocol); seeds ``done``,
    ``diverged``, ``failed``, ``interrupted``, ``running``, ``not_started`` (seeds that other
    variants of the dataset have and this one has no run for; a half-written run counts as
    not started), ``left_out`` (done runs not in the mean: scored under another protocol or
    without a finite value; ``done == n + left_out``), ``complete`` (no seed interrupted,
    running, not started or left out), ``p_vs_best`` (Welch, two-sided), ``p_holm`` (Holm
    over the dataset's comparisons), ``significant`` (p_holm < 0.05; None where n/a),
    ``vs_best`` (in words) and ``best_run`` (its best seed's run). ``attrs["notes"]``: what
    the numbers mean, and per dataset what was left out and why."""
    by = list(DEFAULT_BY if by is None else by)
    stale = int((frame["status"] == "stale").sum()) if "status" in frame.columns else 0
    frame = _check(frame, metric, by)
    higher = _higher_is_better(metric, higher_is_better)
    options = variant_columns(frame, by)
    keys = by + options
    frame[keys] = frame[keys].astype(object).where(frame[keys].notna(), _MISSING)
    data_keys = [c for c in keys if c == "dataset" or c.startswith("dataset.")]
    frame["_group"] = ([", ".join(str(v) for v in t) for t in zip(*(frame[c] for c in data_keys))]
                       if data_keys else "all runs")
    frame["_metric"] = pd.to_numeric(frame[metric], errors="coerce")
    scored = (frame["status"] == "done") & np.isfinite(frame["_metric"])
    protocol = protocol_columns(frame, metric)
    frame["_protocol"] = protocol_key(frame, protocol)
    frame["_seed"] = (frame["seed"].map(lambda s: None if plain(s) is None else str(plain(s)))
                      if "seed" in frame.columns else None)
    notes = _method_notes(metric, higher)
    if stale:  # made by other plugin versions or sources (ganbench.identity): never pooled
        notes.append(f"{stale} stale run(s) left out: made by other plugin versions or sources.")
    frame["_used"] = False
    expected: dict[str, set[str]] = {}
    for name, group in frame.groupby("_group", sort=True):
        expected[name] = set(group["_seed"].dropna())
        used, note = _dataset_protocol(group, scored, protocol, metric, name)
        frame.loc[used, "_used"] = True
        notes += note
    notes += sigma_edge_notes(frame, metric)
    rows = []
    for _, group in frame.groupby([frame[c].astype(str) for c in keys], sort=True):
        rows.append(_row(group, keys, expected[group["_group"].iloc[0]], higher))
    table = pd.DataFrame(rows)
    finished = table[list(FINISHED)].sum(axis=1) > 0
    notes += _unfinished_variants(table[~finished], [k for k in keys if k not in data_keys])
    parts = [g for _, g in table[finished].groupby("_group", sort=False)]
    table = pd.concat([_rank(part, higher) for part in parts], ignore_index=True)
    table = table[["rank", *keys, *COLUMNS]]
    table.attrs.update(metric=metric, by=by, options=options, higher_is_better=higher,
                       protocol=protocol, notes=notes)
    return table


def _dataset_protocol(group: pd.DataFrame, scored: pd.Series, protocol: list[str], metric: str,
                      name: str) -> tuple[pd.Index, list[str]]:
    """The runs of one dataset whose scores count (done, finite, under the protocol most of
    its scored runs share; a tie goes to the first in sorted order) and the notes saying what
    was left out."""
    scored = group[scored.loc[group.index]]
    notes = []
    unscored = int((group["status"] == "done").sum()) - len(scored)
    if unscored:
        notes.append(f"{name}: {unscored} done run{'s' * (unscored > 1)} left out: no finite "
                     f"{metric}.")
    if scored.empty:
        return scored.index, notes
    counts = Counter(scored["_protocol"])
    if len(counts) == 1:
        return scored.index, notes
    reference = max(sorted(counts), key=lambda p: counts[p])
    used = scored[scored["_protocol"] == reference]
    for other in sorted(set(counts) - {reference}, key=lambda p: -counts[p]):
        k = counts[other]
        notes.append(f"{name}: {k} run{'s' * (k > 1)} left out, scored under another protocol: "
                     f"{differences(other, reference, protocol)} (the dataset's protocol, "
                     f"{counts[reference]} runs: {differences(reference, other, protocol)}).")
    return used.index, notes


def _row(group: pd.DataFrame, keys: list[str], expected: set[str], higher: bool) -> dict[str, Any]:
    status = group["status"]
    used = group[group["_used"]]
    values = used["_metric"].to_numpy(dtype=float)
    if len(values):
        best_run = used.sort_values("_metric", ascending=not higher)["run_id"].iloc[0]
    else:
        best_run = group["run_id"].iloc[0]
    present = set(group.loc[status.isin((*FINISHED, *UNFINISHED)), "_seed"].dropna())
    if group["_seed"].isna().all():  # no seeds known: only half-written runs count
        not_started = int((status == "incomplete").sum())
    else:
        not_started = len(expected - present)
    low, high = t_interval(values)
    row: dict[str, Any] = {c: group[c].iloc[0] for c in keys}
    counts = {s: int((status == s).sum()) for s in (*FINISHED, *UNFINISHED)}
    left_out = counts["done"] - len(values)
    row.update(
        mean=float(values.mean()) if len(values) else math.nan,
        std=float(values.std(ddof=1)) if len(values) > 1 else math.nan,
        ci95_low=low, ci95_high=high, n=len(values), **counts, not_started=not_started,
        left_out=left_out,
        complete=not (counts["interrupted"] or counts["running"] or not_started or left_out),
        best_run=best_run, _values=values, _group=group["_group"].iloc[0],
    )
    return row


def _unfinished_variants(table: pd.DataFrame, keys: list[str]) -> list[str]:
    """Notes naming the variants with no finished run (no result, so no row), per dataset."""
    notes = []
    for name, part in table.groupby("_group", sort=True):
        shown = [f"{' '.join(str(r[k]) for k in keys) or name} ("
                 + ", ".join(f"{int(r[c])} {c.replace('_', ' ')}"
                             for c in (*UNFINISHED, "not_started") if r[c]) + ")"
                 for _, r in part.head(5).iterrows()]
        more, k = (f" and {len(part) - 5} more" if len(part) > 5 else ""), len(part)
        notes.append(f"{name}: {k} variant{'s' * (k > 1)} with no finished run yet, so no row: "
                     f"{'; '.join(shown)}{more}.")
    return notes


def _rank(part: pd.DataFrame, higher: bool) -> pd.DataFrame:
    part = part.copy()
    score = part["mean"] if higher else -part["mean"]
    rank = score.rank(method="min", ascending=False)
    part["rank"] = rank.astype("Int64")
    part = part.assign(_order=rank.fillna(math.inf)).sort_values(
        "_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    best = part.iloc[0] if len(part) and not math.isnan(part["mean"].iloc[0]) else None
    tests = [(math.nan, None) if best is None or i == 0 or math.isnan(r["mean"])
             else vs_best_p(r["_values"], best["_values"]) for i, r in part.iterrows()]
    p_values = [p for p, _ in tests]
    adjusted = holm(p_values)
    significant, words = [], []
    for i, ((p, test), q) in enumerate(zip(tests, adjusted)):
        if best is not None and i == 0:
            significant.append(None), words.append("best")
        elif math.isnan(p):
            significant.append(None), words.append("n/a")
        else:
            significant.append(bool(q < ALPHA))
            how = f"{test} " if test == PERMUTATION else ""
            words.append(f"{'worse' if q < ALPHA else 'not significantly worse'} "
                         f"({how}p={p:.2g}, Holm {q:.2g})")
    return part.assign(p_vs_best=p_values, p_holm=adjusted, significant=significant,
                       vs_best=words)


def _method_notes(metric: str, higher: bool) -> list[str]:
    return [
        f"{metric}: {'higher' if higher else 'lower'} is better. Mean and std over the seeds "
        f"of done runs; rank within each dataset.",
        "95% CI: Student t-interval of the mean, mean ± t(0.975, n-1)·s/√n, n the seeds in "
        "the mean (shown beside it); not a percentile bootstrap, which undercovers badly at "
        "n < 10 (with 2 or 3 seeds it is just [min, max] of the seeds).",
        "vs best: Welch's t-test (two-sided) against the best variant of the same dataset, "
        "p and its Holm adjustment over that dataset's comparisons; where neither side's "
        "seeds vary (e.g. mode counts), the exact permutation test of the difference in means "
        "(marked; its smallest p is 2/C(n1+n2, n1): 0.33 with 2 seeds a side, 0.0079 with 5); "
        "significant (worse) = Holm-adjusted p < 0.05; n/a with fewer than 2 seeds.",
        "Rows marked * are incomplete: a seed is interrupted, running, not started (other "
        "variants of the dataset have it; a half-written run counts as not started) or left out "
        "of the mean (done, but scored under another protocol or without a finite value); its "
        "numbers rest on fewer seeds.",
    ]


# ---- rendering: the cells are in ganbench.leaderboard_html ----


def boards(frame: pd.DataFrame, metric: str = "parzen_mean", by: list[str] | None = None,
           *, higher_is_better: bool | None = None) -> list[pd.DataFrame]:
    """The leaderboard of ``metric``, then one of every other score column (``score_columns``,
    each in its declared direction): the tables of an HTML page's metric selector."""
    tables = [leaderboard(frame, metric, by, higher_is_better=higher_is_better)]
    for other in score_columns(frame):
        if other != metric:
            tables.append(leaderboard(frame, other, by))
    return tables


def render(table: pd.DataFrame | list[pd.DataFrame], fmt: str = "markdown",
           store: Any = None) -> str:
    """The leaderboard as ``markdown``, ``html`` (self-contained; pictures from ``store``; a
    list of tables, e.g. ``boards(...)``, gives a page with a metric selector) or ``csv``
    (every column, numbers unrounded; of a list, one table with a ``metric`` column)."""
    from ganbench.leaderboard_html import to_html, to_markdown

    tables = table if isinstance(table, list) else [table]
    if fmt == "markdown":
        return "\n".join(to_markdown(t) for t in tables)
    if fmt == "html":
        return to_html(tables, store)
    if fmt == "csv":
        if len(tables) == 1:
            return tables[0].to_csv(index=False)
        return pd.concat([t.assign(metric=t.attrs["metric"]) for t in tables]).to_csv(index=False)
    raise ConfigError(f"unknown leaderboard format {fmt!r}; use one of {', '.join(FORMATS)}")
