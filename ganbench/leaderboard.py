"""The leaderboard: one row per variant, seeds pooled, options never pooled.

A variant is a value of the ``by`` columns (generator, discriminator, loss, dataset) plus every
option or setting column that takes more than one value inside one of those groups. For each:
mean and standard deviation over seeds of the metric (done runs only), the number of seeds
done / diverged / failed, a 95% bootstrap confidence interval of the mean, the rank within its
dataset (scores on different data are not comparable), and Welch's t-test against the best
variant of the same dataset.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganbench.config import NOT_IN_ID
from ganbench.errors import ConfigError

DEFAULT_BY = ("generator", "discriminator", "loss", "dataset")
FORMATS = ("markdown", "html", "csv")
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
ALPHA = 0.05
# Metrics where lower is better (by name); everything else: higher is better.
LOWER_IS_BETTER = ("fid", "kid", "wall_time", "parzen_stderr")
_IGNORED = {f"{s}.{k}" for s, k in NOT_IN_ID}
_MISSING = "-"


def bootstrap_ci(values: np.ndarray, *, resamples: int = RESAMPLES, level: float = 0.95,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: ``resamples`` resamples with replacement
    (numpy's default_rng(seed)); (nan, nan) with fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances); nan with fewer than 2 values
    on either side, or when both sides have no spread."""
    from scipy.stats import ttest_ind

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if np.var(a) == 0 and np.var(b) == 0:
        return math.nan
    return float(ttest_ind(a, b, equal_var=False).pvalue)


def _higher_is_better(metric: str, higher_is_better: bool | None) -> bool:
    if higher_is_better is not None:
        return higher_is_better
    return not any(word in metric.lower() for word in LOWER_IS_BETTER)


def variant_columns(frame: pd.DataFrame, by: list[str]) -> list[str]:
    """The option and setting columns that split a group of ``by``: options are never pooled
    (a column constant inside every group only repeats what ``by`` says, and is left out)."""
    keys = frame[by].astype(str)
    out = []
    for column in frame.columns:
        if "." not in column or column in by or column in _IGNORED:
            continue
        values = frame[column].astype(str)
        if values.nunique() < 2:
            continue
        if (values.groupby([keys[c] for c in by]).nunique() > 1).any():
            out.append(column)
    return out


def leaderboard(frame: pd.DataFrame, metric: str = "parzen_mean", by: list[str] | None = None,
                *, higher_is_better: bool | None = None) -> pd.DataFrame:
    """One row per variant of the results table (``ganbench.results.load``), ranked within
    each dataset. Columns: the ``by`` columns, the varying option columns, ``mean``, ``std``,
    ``ci95_low``, ``ci95_high`` (bootstrap, fixed seed), ``n`` (seeds with a finite metric),
    ``done``, ``diverged``, ``failed``, ``rank``, ``p_vs_best`` (Welch), ``significant``
    (p < 0.05; None where n/a), ``vs_best`` (in words) and ``best_run`` (its best seed's run)."""
    by = list(DEFAULT_BY if by is None else by)
    if not by:
        raise ConfigError("--by needs at least one column, e.g. generator,discriminator,loss,dataset")
    if frame.empty or "status" not in frame.columns:
        raise ConfigError("no runs in the store: run a sweep first (ganbench sweep FILE)")
    frame = frame[frame["status"].isin(["done", "diverged", "failed"])].copy()
    if frame.empty:
        raise ConfigError("no finished runs in the store (done, diverged or failed)")
    missing = [c for c in by if c not in frame.columns]
    if missing:
        raise ConfigError(f"--by column(s) {', '.join(missing)} not in the results; columns: "
                          f"{', '.join(c for c in frame.columns)}")
    if metric not in frame.columns:
        numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        raise ConfigError(f"--metric {metric!r} is not a column of the results; numeric "
                          f"columns: {', '.join(numeric) or 'none'}")
    higher = _higher_is_better(metric, higher_is_better)
    options = variant_columns(frame, by)
    keys = by + options
    frame[keys] = frame[keys].astype(object).where(frame[keys].notna(), _MISSING)
    frame["_metric"] = pd.to_numeric(frame[metric], errors="coerce")
    rows = []
    for _, group in frame.groupby([frame[c].astype(str) for c in keys], sort=True):
        first = group.iloc[0]
        done = group[group["status"] == "done"]
        values = done["_metric"][np.isfinite(done["_metric"])].to_numpy(dtype=float)
        row: dict[str, Any] = {c: first[c] for c in keys}
        low, high = bootstrap_ci(values)
        best_run = None
        if len(values):
            ordered = done[np.isfinite(done["_metric"])].sort_values("_metric", ascending=not higher)
            best_run = ordered["run_id"].iloc[0]
        elif len(group):
            best_run = group["run_id"].iloc[0]
        row.update(
            mean=float(values.mean()) if len(values) else math.nan,
            std=float(values.std(ddof=1)) if len(values) > 1 else math.nan,
            ci95_low=low, ci95_high=high, n=len(values),
            done=int((group["status"] == "done").sum()),
            diverged=int((group["status"] == "diverged").sum()),
            failed=int((group["status"] == "failed").sum()),
            best_run=best_run, _values=values,
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    data_keys = [c for c in keys if c == "dataset" or c.startswith("dataset.")]
    if data_keys:
        groups = table.groupby([table[c].astype(str) for c in data_keys], sort=False)
        parts = [g for _, g in groups]
    else:
        parts = [table]
    ranked = [_rank(part, higher) for part in parts]
    table = pd.concat(ranked, ignore_index=True) if ranked else table
    order = ["rank", *keys, "mean", "std", "ci95_low", "ci95_high", "n", "done", "diverged",
             "failed", "p_vs_best", "significant", "vs_best", "best_run"]
    table = table[order]
    table.attrs.update(metric=metric, by=by, options=options, higher_is_better=higher)
    return table


def _rank(part: pd.DataFrame, higher: bool) -> pd.DataFrame:
    part = part.copy()
    score = part["mean"] if higher else -part["mean"]
    rank = score.rank(method="min", ascending=False)
    part["rank"] = rank.astype("Int64")
    part = part.assign(_order=rank.fillna(math.inf)).sort_values(
        "_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    p_values, significant, words = [], [], []
    best = part.iloc[0] if len(part) and not math.isnan(part["mean"].iloc[0]) else None
    for i, row in part.iterrows():
        if best is None or math.isnan(row["mean"]):
            p_values.append(math.nan), significant.append(None), words.append("n/a")
        elif i == 0:
            p_values.append(math.nan), significant.append(None), words.append("best")
        else:
            p = welch_p(row["_values"], best["_values"])
            p_values.append(p)
            if math.isnan(p):
                significant.append(None), words.append("n/a")
            else:
                significant.append(bool(p < ALPHA))
                words.append(f"{'worse' if p < ALPHA else 'not significantly worse'} "
                             f"(p={p:.2g})")
    part["p_vs_best"] = p_values
    part["significant"] = significant
    part["vs_best"] = words
    return part


# ---- rendering ----


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return _MISSING
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.4g}"


def _display(table: pd.DataFrame) -> tuple[list[str], list[list[str]], list[list[Any]]]:
    """Header, shown cells, and sort keys (numbers where numeric) of every row."""
    metric = table.attrs.get("metric", "metric")
    keys = list(table.attrs.get("by", [])) + list(table.attrs.get("options", []))
    keys = [k for k in keys if k in table.columns]
    header = ["rank", *keys, f"{metric} (mean ± std)", "95% CI of the mean",
              "seeds done/diverged/failed", "vs best"]
    shown, sort_keys = [], []
    for _, r in table.iterrows():
        std = "" if _num(r["std"]) == _MISSING else f" ± {_num(r['std'])}"
        ci = _MISSING if _num(r["ci95_low"]) == _MISSING else \
            f"[{_num(r['ci95_low'])}, {_num(r['ci95_high'])}]"
        shown.append([_num(r["rank"]) if not pd.isna(r["rank"]) else _MISSING,
                      *[str(r[k]) for k in keys], f"{_num(r['mean'])}{std}", ci,
                      f"{r['done']}/{r['diverged']}/{r['failed']}", str(r["vs_best"])])
        sort_keys.append([None if pd.isna(r["rank"]) else int(r["rank"]), *[str(r[k]) for k in keys],
                          r["mean"], r["ci95_low"], r["done"],
                          r["p_vs_best"] if not pd.isna(r["p_vs_best"]) else None])
    return header, shown, sort_keys


def to_markdown(table: pd.DataFrame) -> str:
    header, shown, _ = _display(table)

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = [line(header), "|" + "|".join("---" for _ in header) + "|"]
    lines += [line(cells) for cells in shown]
    return "\n".join(lines) + "\n\n" + _legend(table) + "\n"


def _legend(table: pd.DataFrame) -> str:
    metric = table.attrs.get("metric", "metric")
    direction = "higher" if table.attrs.get("higher_is_better", True) else "lower"
    return (f"{metric}: {direction} is better. Mean and std over seeds of done runs; 95% CI: "
            f"percentile bootstrap of the mean ({RESAMPLES:,} resamples, seed "
            f"{BOOTSTRAP_SEED}); rank within each dataset; vs best: Welch's t-test against the "
            f"dataset's best variant (n/a with fewer than 2 seeds).")


def _png(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(b"\x89PNG"):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode()


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;cursor:pointer;user-select:none;white-space:nowrap}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
tr:nth-child(even) td{background:#fafafa}
td img{max-width:220px;display:block}
p.legend{max-width:60em;color:#555;font-size:13px}
"""

_JS = """
(function(){
  var table=document.getElementById('leaderboard');
  function key(cell){var v=cell.getAttribute('data-v');return v===null?cell.textContent:v;}
  function sortBy(i){
    var th=table.tHead.rows[0].cells[i];var asc=!th.classList.contains('asc');
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(c){c.classList.remove('asc','desc');});
    th.classList.add(asc?'asc':'desc');
    var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=key(a.cells[i]),y=key(b.cells[i]);
      if(x===''&&y!=='')return 1; if(y===''&&x!=='')return -1;
      var nx=parseFloat(x),ny=parseFloat(y);
      var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
      return asc?c:-c;});
    rows.forEach(function(r){body.appendChild(r);});
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
    th.addEventListener('click',function(){sortBy(i);});});
  var m=/^#sort=(\\d+)(-desc)?$/.exec(location.hash);
  if(m){sortBy(+m[1]);if(m[2])sortBy(+m[1]);}
})();
"""


def to_html(table: pd.DataFrame, store: Any = None) -> str:
    """One self-contained page: inline CSS and JS (click a header to sort), and each
    variant's samples and loss curves (its best seed's run) inline as base64 PNGs."""
    from ganbench.store import Store

    header, shown, sort_keys = _display(table)
    store = store if store is None or isinstance(store, Store) else Store(store)
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in [*header, "samples", "training curves"])
    body = []
    for (_, r), cells, keys in zip(table.iterrows(), shown, sort_keys):
        tds = []
        for cell, key in zip(cells, keys):
            v = "" if key is None or (isinstance(key, float) and math.isnan(key)) else key
            tds.append(f'<td data-v="{e(str(v))}">{e(cell)}</td>')
        for name in ("samples.png", "losses.png"):
            src = _png(store.run_dir(r["best_run"]) / name) if store and r["best_run"] else None
            tds.append(f'<td><img alt="{e(name)} of run {e(str(r["best_run"]))}" src="{src}"></td>'
                       if src else "<td>-</td>")
        body.append(f'<tr data-run="{e(str(r["best_run"]))}">{"".join(tds)}</tr>')
    metric = e(table.attrs.get("metric", "metric"))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>ganbench leaderboard: {metric}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>ganbench leaderboard: {metric}</h1>\n"
        f"<table id=\"leaderboard\"><thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + f"\n</tbody></table>\n<p class=\"legend\">{e(_legend(table))} Click a column header "
          f"to sort.</p>\n<script>{_JS}</script>\n</body></html>\n"
    )


def render(table: pd.DataFrame, fmt: str = "markdown", store: Any = None) -> str:
    """The leaderboard as ``markdown``, ``html`` (self-contained; pictures from ``store``)
    or ``csv`` (every column, numbers unrounded)."""
    if fmt == "markdown":
        return to_markdown(table)
    if fmt == "html":
        return to_html(table, store)
    if fmt == "csv":
        return table.to_csv(index=False)
    raise ConfigError(f"unknown leaderboard format {fmt!r}; use one of {', '.join(FORMATS)}")
