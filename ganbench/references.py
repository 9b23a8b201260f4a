"""Reference rows: what each metric gives for real data and for a memoriser, so that a reader
of a leaderboard sees each metric's ceiling and which metric a memoriser fools.

Both are scored exactly as a dataset's runs are (``evaluate.score_samples`` with the runs'
protocol: the same metrics and options, the same number of samples per metric, the same
real examples, validation examples and seeds), with real examples in place of samples:

- **real data**: held-out real examples, never the ones a metric compares against. A metric
  says which examples it reads with ``compares_with() -> {split: n}`` (its first ``n``
  examples of each split, None for all: Parzen reads the first ``n_valid`` validation and the
  test examples, FID / KID / PRDC the first ``n_real`` test examples, memorisation the
  training split); a metric that does not say is taken to read the training and test splits.
  Its held-out examples are the first ones it does not read, in the order validation, test,
  training (on MNIST, 10,000 validation images for FID and memorisation; for Parzen, the
  9,000 validation images after its 1,000 and 1,000 training images). Where fewer are left
  than the protocol's number, all of them are used, and the reference says how many.
- **memoriser**: copies of training examples (the first ``n``; repeated if the split is
  smaller), which a generator that memorised its data would produce. Parzen cannot tell it
  from real data (it never reads the training split: the paper's reference line of real
  training images as kernel centres is this memoriser), nor can the feature-space metrics;
  memorisation can.

A reference is computed once per dataset, options and protocol, and kept in the store as
``<store>/.references/<dataset>-<key>.json`` (``key``: a hash of those, ganbench's version
and each metric's and the dataset's installed identity, so changed code computes anew).
The leaderboard adds them as rows marked ``reference`` (rank ``ref``): never ranked, never in
the Welch / Holm comparisons.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from typing import Any

import pandas as pd
import torch

from ganbench import evaluate
from ganbench.errors import GanbenchError

REAL, MEMORISER = "real data", "memoriser"
KINDS = (REAL, MEMORISER)
SPLITS = ("valid", "test", "train")  # the order held-out examples are taken in
ASSUMED = {"train": None, "test": None}  # what a metric that does not say is taken to read
FOLDER = ".references"
VERSION = 1  # of how references are made: part of every cache key
NOT_RANKED = "reference, not ranked"


def compares_with(metric: Any) -> dict[str, int | None]:
    """The examples ``metric`` compares samples against: split -> how many of its first
    examples (None: all); ``ASSUMED`` when the metric does not say."""
    method = getattr(metric, "compares_with", None)
    return dict(method()) if callable(method) else dict(ASSUMED)


def held_out(dataset: Any, read: dict[str, int | None], n: int) -> tuple[torch.Tensor, list[str]]:
    """Up to ``n`` real examples that a metric reading ``read`` never sees, and where each
    part comes from (``"valid[1000:10000]"``)."""
    parts, where, left = [], [], n
    for split in SPLITS:
        data = dataset.splits[split]
        skip = 0 if split not in read else len(data) if read[split] is None else min(
            int(read[split]), len(data))
        part = data[skip:skip + left]
        if left > 0 and len(part):
            parts.append(part)
            where.append(f"{split}[{skip}:{skip + len(part)}]")
            left -= len(part)
    shape = tuple(dataset.splits["train"].shape[1:])
    return (torch.cat(parts) if len(parts) > 1 else parts[0] if parts
            else torch.zeros((0, *shape))), where


def memoriser(dataset: Any, n: int) -> tuple[torch.Tensor, str]:
    """``n`` copies of training examples: the first ``n`` (repeated if there are fewer)."""
    train = dataset.splits["train"]
    if n <= len(train):
        return train[:n], f"train[0:{n}]"
    return train[torch.arange(n) % len(train)], f"train[0:{len(train)}] repeated to {n}"


def wanted(metric: Any, protocol: evaluate.Protocol) -> int:
    """How many samples a metric takes under ``protocol`` (as ``evaluate`` decides)."""
    return int(getattr(metric, "n_samples", None) or protocol.n_samples)


def compute(dataset: Any, protocol: evaluate.Protocol,
            device: torch.device | None = None) -> dict[str, Any]:
    """Both references of ``dataset`` under ``protocol``: ``values`` (kind -> the record
    columns ``evaluate`` gives a run), ``samples`` (kind -> metric -> where its examples came
    from), ``metrics`` (kind -> each metric's settings, as in a run's record) and
    ``seconds``."""
    device = device or torch.device("cpu")
    started = time.perf_counter()
    metrics = evaluate.build_metrics(protocol)
    out: dict[str, Any] = {"values": {}, "samples": {}, "metrics": {}}
    n = max([protocol.n_samples] + [wanted(m, protocol) for m in metrics.values()])
    record = evaluate.score_samples(memoriser(dataset, n)[0], dataset, protocol, device)
    _keep(out, MEMORISER, record, {name: [memoriser(dataset, wanted(m, protocol))[1]]
                                   for name, m in metrics.items()})  # each takes its first n
    groups: dict[tuple[str, ...], tuple[torch.Tensor, list[str]]] = {}
    for name, metric in metrics.items():
        x, parts = held_out(dataset, compares_with(metric), wanted(metric, protocol))
        groups.setdefault(tuple(parts), (x, []))[1].append(name)
    real: dict[str, Any] = {}
    for x, names in groups.values():
        if len(x) < 2:  # nothing held out for these metrics: no value
            continue
        sub = dataclasses.replace(protocol, metrics=tuple(names))
        scored = evaluate.score_samples(x, dataset, sub, device)
        real.setdefault("metrics", {}).update(scored.pop("metrics", {}))
        real.update(scored)
    _keep(out, REAL, real, {name: list(parts) for parts, (_, names) in groups.items()
                            for name in names})
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _keep(out: dict[str, Any], kind: str, record: dict[str, Any],
          samples: dict[str, list[str]]) -> None:
    out["metrics"][kind] = record.pop("metrics", {})
    out["values"][kind] = {k: v for k, v in record.items() if not k.endswith("_seconds")}
    out["samples"][kind] = samples


# ---- kept in the store -------------------------------------------------------------------

def protocol_of_run(store: Any, run_id: str) -> tuple[Any, Any, evaluate.Protocol]:
    """The (resolved) config, the dataset and the protocol a stored run was scored with: its
    record's metrics, with the options and sample counts the record says they were scored
    with (``ganbench score --set``, ``--n-samples``), else the config's."""
    from ganbench import plugins
    from ganbench.config import RunConfig, with_defaults
    from ganbench.store import CONFIG, read_json

    config = RunConfig.from_dict(with_defaults(read_json(store.run_dir(run_id) / CONFIG)))
    try:
        dataset = plugins.load("dataset", config.dataset)(**config.options.get("dataset", {}))
    except Exception as exc:  # one line at the CLI, never a traceback
        raise GanbenchError(f"the reference rows of {config.dataset} need the dataset, which "
                            f"could not be built: {' '.join(str(exc).split())[:300]}") from exc
    record = store.read_record(run_id) or {}
    described = record.get("metrics") or {}
    protocol = evaluate.Protocol.from_config(config, dataset=dataset,
                                             metrics=list(described) or None)
    protocol = protocol.with_options({  # the options each was scored with (score --set)
        name: d["options"] for name, d in described.items()
        if isinstance(d, dict) and isinstance(d.get("options"), dict)})
    follow = [d.get("n_samples") for name, d in described.items()  # metrics that take the
              if isinstance(d, dict) and name in protocol.metrics  # protocol's sample count
              and getattr(evaluate.build_metric(name, protocol), "n_samples", None) is None]
    if follow and all(isinstance(n, int) and n == follow[0] for n in follow):
        protocol = dataclasses.replace(protocol, n_samples=follow[0])  # score --n-samples
    return config, dataset, protocol


def cache_key(dataset_name: str, options: dict[str, Any], protocol: evaluate.Protocol) -> str:
    """A hash of what a reference depends on: the dataset and its options, the protocol,
    ganbench's version and the installed identity of the dataset and of every metric."""
    import ganbench
    from ganbench import identity

    def installed(kind: str, name: str) -> Any:
        try:
            return identity.current(kind, name)
        except Exception:  # a plugin that cannot be found here: its name only
            return name

    blob = json.dumps({
        "version": VERSION, "ganbench": ganbench.__version__, "dataset": dataset_name,
        "options": options, "protocol": dataclasses.asdict(protocol),
        "plugins": [installed("dataset", dataset_name)]
                   + [installed("metric", m) for m in protocol.metrics]},
        sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def kept(store: Any, dataset_name: str, options: dict[str, Any], protocol: evaluate.Protocol,
         dataset: Any = None, device: torch.device | None = None, echo=None) -> dict[str, Any]:
    """The references of a dataset under a protocol, from ``<store>/.references/`` if
    computed before, else computed (``echo``: told so) and written there atomically."""
    from ganbench import plugins
    from ganbench.store import atomic_write_json, read_json

    key = cache_key(dataset_name, options, protocol)
    path = store.root / FOLDER / f"{dataset_name}-{key}.json"
    if path.exists():
        try:
            return read_json(path)
        except (OSError, ValueError):
            pass  # half-written or damaged: computed again
    if echo:
        echo(f"computing the reference rows of {dataset_name} ({', '.join(protocol.metrics)}); "
             f"kept in {path}")
    dataset = dataset if dataset is not None else plugins.load("dataset", dataset_name)(**options)
    found = {"dataset": dataset_name, "options": options, "key": key,
             "protocol": dataclasses.asdict(protocol), **compute(dataset, protocol, device)}
    atomic_write_json(path, found)
    return read_json(path)  # as a later reader sees it (JSON: tuples as lists)


# ---- rows of a leaderboard -----------------------------------------------------------------

def add_to(table: pd.DataFrame, store: Any, device: torch.device | None = None,
           echo=None) -> pd.DataFrame:
    """The leaderboard ``table`` with two reference rows after each dataset's rows (column
    ``reference``: True for them, False for the ranked rows): the metric's value for real
    data and for a memoriser, under the protocol of the dataset's best run. Not ranked (rank
    <NA>), not compared (``vs_best`` says so), not in any mean."""
    metric = table.attrs.get("metric", "parzen_mean")
    keys = [k for k in [*table.attrs.get("by", []), *table.attrs.get("options", [])]
            if k in table.columns]
    data_keys = [k for k in keys if k == "dataset" or k.startswith("dataset.")]
    table = table.assign(reference=False)
    if table.empty or not data_keys:
        return table
    parts = []
    for _, part in table.groupby([table[k].astype(str) for k in data_keys], sort=False):
        parts.append(part)
        runs = [r for r in part["best_run"] if isinstance(r, str)]
        if not runs:
            continue
        config, dataset, protocol = protocol_of_run(store, runs[0])
        refs = kept(store, config.dataset, config.options.get("dataset", {}), protocol,
                    dataset, device, echo)
        rows = []
        for kind in KINDS:
            value = refs["values"][kind].get(metric)
            row = {c: "-" for c in keys}
            row.update({k: part[k].iloc[0] for k in data_keys})
            row[next((k for k in keys if k not in data_keys), data_keys[0])] = kind
            row.update(rank=pd.NA, mean=math.nan if value is None else float(value),
                       std=math.nan, ci95_low=math.nan, ci95_high=math.nan, n=0, done=0,
                       diverged=0, failed=0, interrupted=0, running=0, not_started=0,
                       left_out=0, complete=True, p_vs_best=math.nan, p_holm=math.nan,
                       significant=None, vs_best=f"{kind}: {NOT_RANKED}", best_run=None,
                       reference=True)
            rows.append(row)
        parts.append(pd.DataFrame(rows))
    out = pd.concat(parts, ignore_index=True)[list(table.columns)]
    out["rank"] = out["rank"].astype("Int64")
    out.attrs.update(table.attrs, notes=[*table.attrs.get("notes", []), NOTE])
    return out


NOTE = ("Rows marked ref are references, not ranked and in no comparison: the metric for "
        "real data (held-out real examples, never the ones the metric compares against) and "
        "for a memoriser (copies of training examples), scored as samples under the protocol "
        "of the dataset's runs (ganbench.references; kept in <store>/.references/).")


def summary(refs: dict[str, Any]) -> pd.DataFrame:
    """One row per kind, one column per value the protocol's metrics declare a direction
    for (as the runs' columns are named): for printing under a table."""
    columns: list[str] = []
    for name, described in refs["metrics"][MEMORISER].items():
        declared = described.get("higher_is_better") or {}
        columns += list(evaluate.columns(name, dict.fromkeys(declared)))
    rows = [{"reference": kind, **{c: refs["values"][kind].get(c) for c in columns}}
            for kind in KINDS]
    return pd.DataFrame(rows, columns=["reference", *columns])


def print_under(store: Any, run_ids: list[str], device: Any = None, echo=print) -> pd.DataFrame | None:
    """The references of the first stored run's dataset under that run's protocol, printed
    as a markdown table (``reproduce``, under its table); None without a stored run."""
    from ganbench.runner import resolve_device

    run_id = next((r for r in run_ids if store.read_record(r)), None)
    if run_id is None:
        return None
    config, dataset, protocol = protocol_of_run(store, run_id)
    refs = kept(store, config.dataset, config.options.get("dataset", {}), protocol, dataset,
                resolve_device(device), echo)
    frame = summary(refs)
    cells = [[str(v) if isinstance(v, str) else "-" if v is None else f"{v:.4g}" for v in row]
             for row in frame.itertuples(index=False)]
    echo(f"\n## References on {config.dataset}: real data and a memoriser, scored as samples\n")
    echo("| " + " | ".join(frame.columns) + " |\n" + "|---" * len(frame.columns) + "|")
    echo("\n".join("| " + " | ".join(row) + " |" for row in cells))
    echo(f"\n{NOTE}")
    return frame
