"""Rendering a leaderboard (``ganbench.leaderboard``): the shown cells (markdown and HTML
share them) and the self-contained HTML page.

The page: compact rows (thumbnails 48 px high; a click shows the picture full size), every
column visible on a 1400 px screen, a click on a header sorts (the first click on a score
column puts the best first, in the metric's direction), and with several tables a metric
selector that shows one at a time. No network: CSS, JavaScript and pictures are inline; each
picture is inlined once, where it first appears, and the page's script copies it to the
other tables that show it.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_MISSING = "-"


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return _MISSING
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.4g}"


def _key(x: Any) -> Any:
    """A sort key: None for a missing number."""
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return None
    return x


def _unfinished(r: pd.Series) -> str:
    parts = [f"{int(r[c])} {c.replace('_', ' ')}" for c in ("interrupted", "running", "not_started")
             if r[c]]
    return ", ".join(parts) or _MISSING


def cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]], list[list[Any]], list[str]]:
    """Header, shown cells and sort keys of every row, and each column's kind (``rank``,
    ``key``, ``score`` (best first: the metric's direction), ``count``, ``words``)."""
    metric = table.attrs.get("metric", "metric")
    higher = table.attrs.get("higher_is_better", True)
    keys = list(table.attrs.get("by", [])) + list(table.attrs.get("options", []))
    keys = [k for k in keys if k in table.columns]
    left_out = bool((table["left_out"] > 0).any())
    header = ["rank", *keys, f"{metric} (mean ± std)", "95% CI of the mean (t)",
              "seeds done/diverged/failed", "not finished", *(["left out"] * left_out),
              "vs best"]
    kinds = ["rank", *["key"] * len(keys), "score", "score", "count", "count",
             *(["count"] * left_out), "words"]
    shown, sort_keys = [], []
    for _, r in table.iterrows():
        if r.get("reference", False) in (True,):  # ganbench.references: a value, no counts
            shown.append(["ref", *[str(r[k]) for k in keys], _num(r["mean"]), _MISSING,
                          _MISSING, _MISSING, *([_MISSING] * left_out), str(r["vs_best"])])
            sort_keys.append([None, *[str(r[k]) for k in keys], _key(r["mean"]), None, None,
                              None, *([None] * left_out), None])
            continue
        std = "" if _num(r["std"]) == _MISSING else f" ± {_num(r['std'])}"
        ci = _MISSING if _num(r["ci95_low"]) == _MISSING else \
            f"[{_num(r['ci95_low'])}, {_num(r['ci95_high'])}]"
        rank = _num(r["rank"]) + ("" if r["complete"] else "*")
        unfinished = int(r["interrupted"] + r["running"] + r["not_started"])
        shown.append([rank, *[str(r[k]) for k in keys], f"{_num(r['mean'])}{std}",
                      f"{ci} (n={int(r['n'])})", f"{r['done']}/{r['diverged']}/{r['failed']}",
                      _unfinished(r), *([_num(r["left_out"]) if r["left_out"] else _MISSING]
                                        * left_out), str(r["vs_best"])])
        bound = r["ci95_low"] if higher else r["ci95_high"]  # the cautious end ranks the CI
        sort_keys.append([_key(r["rank"]), *[str(r[k]) for k in keys], _key(r["mean"]),
                          _key(bound), r["done"], unfinished, *([r["left_out"]] * left_out),
                          _key(r["p_holm"])])
    return header, shown, sort_keys, kinds


def legend(table: pd.DataFrame) -> list[str]:
    """The table's notes, one paragraph each."""
    return list(table.attrs.get("notes") or [])


def to_markdown(table: pd.DataFrame) -> str:
    header, shown, *_ = cells(table)

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"

    lines = [line(header), "|" + "|".join("---" for _ in header) + "|"]
    lines += [line(row) for row in shown]
    return "\n".join(lines) + "\n\n" + "\n\n".join(legend(table)) + "\n"


def _png(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(b"\x89PNG"):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode()


_CSS = """
body{font-family:system-ui,sans-serif;margin:10px 12px;color:#222;font-size:13px}
h1{font-size:18px;margin:0 0 6px}
.pick{margin:0 0 6px}
table{border-collapse:collapse;font-size:12px;max-width:100%}
th,td{border:1px solid #ccc;padding:2px 5px;text-align:left;vertical-align:middle}
th{background:#f0f0f0;cursor:pointer;user-select:none;font-weight:600;line-height:1.2}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
td{white-space:nowrap;line-height:1.25}
td.key{white-space:normal;overflow-wrap:break-word;max-width:11em}
td.words{white-space:normal;min-width:10em;max-width:15em}
td.count{white-space:normal;max-width:9em}
td.incomplete{color:#a40;font-weight:600}
tr:nth-child(even) td{background:#fafafa}
td.pic{padding:1px 2px}
img.thumb{height:48px;width:auto;max-width:110px;display:block;cursor:zoom-in}
.legend{max-width:75em;color:#555;font-size:12px}.legend p{margin:4px 0}
#lightbox{position:fixed;inset:0;background:rgba(0,0,0,.75);display:flex;align-items:center;
justify-content:center;flex-direction:column;z-index:10;cursor:zoom-out}
#lightbox[hidden]{display:none}
#lightbox img{max-width:95vw;max-height:90vh;background:#fff}
#lightbox p{color:#fff;margin:6px}
"""

_JS = """
(function(){
  var each=function(list,f){Array.prototype.forEach.call(list,f);};
  var tables=document.querySelectorAll('table.leaderboard');
  function key(cell){var v=cell.getAttribute('data-v');return v===null?cell.textContent:v;}
  function sortBy(table,i,dir){
    var th=table.tHead.rows[0].cells[i];
    if(!dir){dir=th.classList.contains('asc')?'desc':th.classList.contains('desc')?'asc':
             (th.getAttribute('data-best')||'asc');}
    each(table.tHead.rows[0].cells,function(c){c.classList.remove('asc','desc');});
    th.classList.add(dir);
    var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=key(a.cells[i]),y=key(b.cells[i]);
      if(x===''&&y!=='')return 1; if(y===''&&x!=='')return -1;
      var nx=parseFloat(x),ny=parseFloat(y);
      var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
      return dir==='asc'?c:-c;});
    rows.forEach(function(r){body.appendChild(r);});
  }
  each(tables,function(table){each(table.tHead.rows[0].cells,function(th,i){
    th.addEventListener('click',function(){sortBy(table,i);});});});
  var srcs={};
  each(document.querySelectorAll('img[data-pic][src]'),function(img){
    srcs[img.getAttribute('data-pic')]=img.getAttribute('src');});
  each(document.querySelectorAll('img[data-pic]:not([src])'),function(img){
    var s=srcs[img.getAttribute('data-pic')];if(s)img.setAttribute('src',s);});
  var box=document.getElementById('lightbox');
  function open(thumb){
    box.innerHTML='';var big=document.createElement('img');
    big.src=thumb.src;big.alt=thumb.alt;box.appendChild(big);
    var p=document.createElement('p');p.textContent=thumb.alt+' (click or Esc to close)';
    box.appendChild(p);box.hidden=false;}
  function close(){box.hidden=true;box.innerHTML='';}
  document.addEventListener('click',function(e){
    var t=e.target;
    if(t.classList&&t.classList.contains('thumb')){open(t);}
    else if(!box.hidden&&box.contains(t)){close();}});
  document.addEventListener('keydown',function(e){
    if(e.key==='Escape'&&!box.hidden)close();
    else if(e.key==='Enter'&&e.target.classList&&e.target.classList.contains('thumb'))open(e.target);});
  var boards=document.querySelectorAll('section.board');
  function show(i){each(boards,function(b,j){b.hidden=(j!==i);});}
  var select=document.getElementById('metric');
  if(select)select.addEventListener('change',function(){show(+select.value);});
  var m=/^#sort=(\\d+)(?:-(asc|desc))?$/.exec(location.hash);
  if(m)sortBy(tables[0],+m[1],m[2]);
})();
"""

_TITLES = {
    "rank": "rank within the dataset; * incomplete (see the notes)",
    "seeds done/diverged/failed": "runs finished: done, diverged, failed",
    "not finished": "seeds interrupted, running, or not started (other variants have them)",
    "left out": "done runs not in the mean: another protocol, or no finite value",
    "vs best": "Welch's t-test (exact permutation test where no seed varies) against the "
                "dataset's best; Holm-adjusted p",
}


def _header(label: str) -> str:
    """A header cell's text, free to break after dots and slashes."""
    return "".join(html.escape(ch) + ("<wbr>" if ch in "./" else "") for ch in label)


def _section(i: int, table: pd.DataFrame, store: Any, pictures: dict[str, str | None]) -> str:
    e = html.escape
    header, shown, sort_keys, kinds = cells(table)
    best = "desc" if table.attrs.get("higher_is_better", True) else "asc"
    ths = []
    for label, kind in zip(header, kinds):
        direction = {"rank": "asc", "score": best}.get(kind)
        attrs = f' data-best="{direction}"' if direction else ""
        title = _TITLES.get(label)
        attrs += f' title="{e(title)}"' if title else ""
        ths.append(f"<th{attrs}>{_header(label)}</th>")
    ths += ["<th>samples</th>", "<th>training curves</th>"]
    body = []
    for (_, r), row, keys in zip(table.iterrows(), shown, sort_keys):
        tds = []
        for j, (cell, key, kind) in enumerate(zip(row, keys, kinds)):
            v = "" if key is None else key
            css = "incomplete" if j == 0 and not r["complete"] else kind
            tds.append(f'<td data-v="{e(str(v))}" class="{css}">{e(cell)}</td>')
        run = str(r["best_run"]) if r["best_run"] is not None else ""
        for name in ("samples.png", "losses.png"):
            ref = f"{run}/{name}"
            first = ref not in pictures
            if first:
                pictures[ref] = _png(store.run_dir(run) / name) if store and run else None
            if pictures[ref] is None:
                tds.append('<td class="pic">-</td>')
                continue
            src = f' src="{pictures[ref]}"' if first else ""
            tds.append(f'<td class="pic"><img class="thumb" tabindex="0" data-pic="{e(ref)}"'
                       f'{src} alt="{e(name)} of run {e(run)}" title="click: full size"></td>')
        body.append(f'<tr data-run="{e(run)}">{"".join(tds)}</tr>')
    metric = e(table.attrs.get("metric", "metric"))
    notes = "".join(f"<p>{e(n)}</p>" for n in legend(table))
    table_id = "leaderboard" if i == 0 else f"leaderboard-{i}"
    return (f'<section class="board" id="board-{i}" data-metric="{metric}"'
            f'{" hidden" if i else ""}>\n<table class="leaderboard" id="{table_id}">'
            f"<thead><tr>{''.join(ths)}</tr></thead>\n<tbody>\n" + "\n".join(body)
            + f'\n</tbody></table>\n<div class="legend">{notes}<p>Click a column header to '
              f"sort (a score's first click: best first); click a picture for its full "
              f"size.</p></div>\n</section>\n")


def to_html(tables: list[pd.DataFrame], store: Any = None) -> str:
    """One self-contained page of one or more leaderboards (one per metric, the first
    shown): inline CSS and JS, and each variant's samples and loss curves (its best seed's
    run) as base64 PNG thumbnails."""
    from ganbench.store import Store

    store = store if store is None or isinstance(store, Store) else Store(store)
    e = html.escape
    pictures: dict[str, str | None] = {}
    sections = [_section(i, t, store, pictures) for i, t in enumerate(tables)]
    metrics = [str(t.attrs.get("metric", "metric")) for t in tables]
    pick = ""
    if len(tables) > 1:
        options = "".join(
            f'<option value="{i}">{e(m)} ({"higher" if t.attrs.get("higher_is_better", True) else "lower"} '
            f"is better)</option>" for i, (m, t) in enumerate(zip(metrics, tables)))
        pick = (f'<p class="pick"><label>metric: <select id="metric">{options}</select>'
                f"</label> ({len(tables)} leaderboards, one per metric)</p>\n")
    title = e(metrics[0]) if len(tables) == 1 else e(", ".join(metrics))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>ganbench leaderboard: {title}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>ganbench leaderboard: {title}</h1>\n{pick}" + "".join(sections)
        + f'<div id="lightbox" hidden></div>\n<script>{_JS}</script>\n</body></html>\n'
    )
