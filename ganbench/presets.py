"""Presets: an experiment as data (a TOML file), expanded into resolved run configs.

A preset names one run's config (``[run]``, as ``ganbench train`` takes it), the axes whose
every combination is a run (``[axes]``: setting -> values, the first axis outermost), its
budgets (``[budgets.default]``, ``[budgets.quick]``), and what ``ganbench reproduce`` writes:
the table (``[table]``: rows, columns, published figures), the figure and the exported
generators (``[outputs]``), and committed generators to re-score (``[committed]``). The
shipped presets are ``ganbench_plugins/presets/*.toml``; a package of one's own ships more
through the entry-point group ``ganbench.presets`` (each entry point names an object that is
the path of a TOML file); any TOML file is a preset too, by its path.

A value written ``{from = "train_mean", digits = N}`` is computed for each run from its own
dataset (the mean of each element of the training split, flattened, rounded to N decimals),
``{from = "input", name = NAME}`` a value the user passes in (``inputs``), and ``{from =
"setting", name = PATH, times = K}`` another setting of the run (after the axes), times K.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import tomllib
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from ganbench.config import PARTS, RunConfig, resolve
from ganbench.errors import ConfigError
from ganbench.preset_verdict import check_published_and_claims

SHIPPED = ("ganbench_plugins", "presets")  # package, folder: the shipped presets' TOML files
GROUP = "ganbench.presets"
RUN_KEYS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name != "seed")
SECTIONS = tuple(k for k in RUN_KEYS if k not in PARTS and k != "options")

# Every key a preset may hold, by where it sits (None: a table of arbitrary keys).
SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("preset", "run", "axes", "budgets", "inputs", "table", "outputs", "committed"),
    "preset": ("name", "description"),
    "budget": ("label", "epochs", "steps", "seeds", "out", "export_generators", "row_suffix",
               "committed"),
    "input": ("help",),
    "table": ("name", "header", "row", "rows", "notes", "published", "columns", "reference",
              "claims"),
    "column": ("error", "unit", "metric", "value", "match", "digits", "scale", "requires",
               "missing", "empty", "run", "axes"),
    "reference": ("model", "column", "n"),
    "outputs": ("figure", "figure_caption", "generators"),
    "committed": ("title", "root", "generators"),
}
REQUIRED = {"": ("run", "budgets"), "run": PARTS, "budgets": ("default",)}
ERRORS = ("per-run", "between-runs")
DERIVED = {"train_mean": ("from", "digits"), "input": ("from", "name"),
           "setting": ("from", "name", "times")}


@dataclass(frozen=True)
class Run:
    """One run of a preset: its axis values by short name (``{"update": ..., "seed": 0}``)
    and its resolved config."""

    values: dict[str, Any]
    config: RunConfig


@dataclass
class Preset:
    name: str
    data: dict[str, Any]
    path: Path | None = None  # its file, when it is one on disk

    @property
    def table_spec(self) -> dict[str, Any]:
        return self.data.get("table", {})

    @property
    def axes(self) -> dict[str, list[Any]]:
        return self.data.get("axes", {})

    def budget(self, quick: bool = False) -> dict[str, Any]:
        if quick and "quick" not in self.data["budgets"]:
            raise ConfigError(f"preset {self.name!r} has no quick budget ([budgets.quick])")
        return dict(self.data["budgets"]["quick" if quick else "default"])

    def settings(self, *, quick: bool = False, seeds: int | None = None,
                 epochs: float | None = None, steps: int | None = None) -> dict[str, Any]:
        """The budget with the overrides: label, epochs or steps, seeds (a count)."""
        budget = self.budget(quick)
        if epochs is not None or steps is not None:
            own = [(k, budget.pop(k)) for k in ("epochs", "steps") if k in budget]
            budget.update({"epochs": epochs} if epochs is not None else {"steps": steps})
            if own and own[0] != ((u := "epochs" if epochs is not None else "steps"), budget[u]):
                budget["label"] = f"{budget.get('label', 'default')} overridden, NOT its " \
                                  f"{own[0][1]:g} {own[0][0]}"  # a table must not claim it
                budget["row_suffix"] = budget.get("row_suffix", "") if quick else f" ({budget[u]:g} {u} instead of {own[0][1]:g})"
        budget["seeds"] = seeds if seeds is not None else budget.get(
            "seeds", len(self.axes.get("seed", [0])))
        amount = budget.get("epochs", budget.get("steps"))
        if budget["seeds"] < 1 or (amount is not None and amount <= 0):
            raise ConfigError("--seeds must be at least 1 and --epochs positive")
        budget.setdefault("label", "quick" if quick else "default")
        return budget

    def runs(self, *, quick: bool = False, seeds: int | None = None, epochs: float | None = None,
             steps: int | None = None, only: dict[str, list[Any]] | None = None,
             inputs: dict[str, Any] | None = None, column: str | None = None) -> list[Run]:
        """Every run of the preset (or of one of its table's columns, which may change the
        run and its axes), resolved: the cartesian product of the axes, restricted to
        ``only`` (axis short name -> values), with the budget's seeds and amount."""
        budget = self.settings(quick=quick, seeds=seeds, epochs=epochs, steps=steps)
        base, axes = copy.deepcopy(self.data["run"]), dict(self.axes)
        if column is not None:
            spec = self.table_spec["columns"][column]
            base = _merge(base, spec.get("run", {}))
            new = {k: v for k, v in spec.get("axes", {}).items() if k not in axes}
            axes = {**new, **{k: spec.get("axes", {}).get(k, v) for k, v in axes.items()}}
        axes = {k: list(v) for k, v in axes.items()}
        fixed = column is not None and "seed" in spec.get("axes", {})  # a column's own seeds
        if "seed" in axes and not fixed:
            listed = axes["seed"]
            more = range(max(listed) + 1, max(listed) + 1 + budget["seeds"] - len(listed))
            axes["seed"] = (listed + list(more))[: budget["seeds"]]
        for name, values in (only or {}).items():
            path = _axis_path(axes, name, self.name)
            unknown = [v for v in values if v not in axes[path]]
            if unknown:
                raise ConfigError(f"preset {self.name!r}: axis {name} has no value "
                                  f"{unknown[0]!r}; values: {', '.join(map(str, axes[path]))}")
            axes[path] = [v for v in axes[path] if v in values]
        for key in ("epochs", "steps"):
            if budget.get(key) is not None:
                base.setdefault("train", {})[key] = budget[key]
        out = []
        for combo in itertools.product(*axes.values()):
            run = copy.deepcopy(base)
            run["seed"] = 0
            for path, value in zip(axes, combo):
                _set(run, path, value)
            run = _derive(run, inputs or {}, self.name)
            values = {short(path): value for path, value in zip(axes, combo)}
            out.append(Run(values, resolve(RunConfig(**run))))
        return out

    def configs(self, **kwargs: Any) -> list[RunConfig]:
        """The resolved configs of ``runs(**kwargs)``, in order."""
        return [r.config for r in self.runs(**kwargs)]

    def config(self, *, epochs: float | None = None, steps: int | None = None,
               inputs: dict[str, Any] | None = None, **values: Any) -> RunConfig:
        """One run, by its axis values: ``preset.config(update="simultaneous", seed=1,
        epochs=300)``. An axis not named takes its first value."""
        seed = values.get("seed", 0)
        runs = self.runs(epochs=epochs, steps=steps, inputs=inputs, seeds=max(seed + 1, 1),
                         only={k: [v] for k, v in values.items()})
        return runs[0].config


def short(path: str) -> str:
    """An axis's short name: the last part of its setting (``train.update`` -> ``update``)."""
    return path.rsplit(".", 1)[-1]


def value_at(config: RunConfig | dict[str, Any], path: str) -> Any:
    """The value of the setting ``path`` (an axis) in a config (or a config's dict)."""
    node: Any = config.to_dict() if isinstance(config, RunConfig) else config
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _axis_path(axes: dict[str, Any], name: str, preset: str) -> str:
    for path in axes:
        if name in (path, short(path)):
            return path
    raise ConfigError(f"preset {preset!r} has no axis {name!r}; axes: "
                      f"{', '.join(short(p) for p in axes) or 'none'}")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "from" not in value:
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _set(run: dict[str, Any], path: str, value: Any) -> None:
    *parents, key = path.split(".")
    node = run
    for part in parents:
        node = node.setdefault(part, {})
    node[key] = value


# --- derived values -------------------------------------------------------------------------

_train_means: dict[str, list[float]] = {}


def train_mean(dataset: str, options: dict[str, Any], digits: int = 8) -> list[float]:
    """The mean of each element of a dataset's training split, flattened and rounded."""
    from ganbench.runner import _build  # a dataset that cannot be built: one line, exit 2

    key = json.dumps([dataset, options, digits], sort_keys=True, default=str)
    if key not in _train_means:
        data = _build("dataset", dataset, **options)
        means = data.splits["train"].double().mean(dim=0).flatten()
        _train_means[key] = [round(float(v), digits) for v in means]
    return list(_train_means[key])


def _derive(run: dict[str, Any], inputs: dict[str, Any], preset: str) -> dict[str, Any]:
    def walk(value: Any, where: str, kind: str) -> Any:
        if isinstance(value, dict) and "from" in value:
            if value["from"] != kind:
                return value
            if kind == "setting":  # another setting of the run, as the axes left it
                if type(node := value_at(run, value["name"])) not in (int, float):
                    raise ConfigError(f"preset {preset!r}: {where} = {value}: {value['name']} "
                                      f"must be a number set in [run] or [axes], got {node!r}")
                return node * value.get("times", 1)
            if kind == "input":
                if inputs.get(value["name"]) is None:
                    raise ConfigError(f"preset {preset!r}: {where} needs the input "
                                      f"{value['name']!r} (--{value['name']} VALUE)")
                return inputs[value["name"]]
            return train_mean(run["dataset"], run.get("options", {}).get("dataset", {}),
                              value.get("digits", 8))
        if isinstance(value, dict):
            return {k: walk(v, f"{where}.{k}", kind) for k, v in value.items()}
        return value

    run = walk(run, "run", "input")  # inputs first: a dataset's options may need them
    run = walk(run, "run", "setting")
    return walk(run, "run", "train_mean")


# --- finding and checking presets -----------------------------------------------------------

def shipped() -> dict[str, Any]:
    """The shipped presets and those of the ``ganbench.presets`` entry points, by name:
    a path (or a resource), or the entry point when it has not been loaded."""
    found: dict[str, Any] = {}
    try:
        folder = resources.files(SHIPPED[0]) / SHIPPED[1]
        found.update({p.name[:-5]: p for p in folder.iterdir() if p.name.endswith(".toml")})
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    for ep in metadata.entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return dict(sorted(found.items()))


def find(name_or_path: str | Path) -> Preset:
    """A preset by name (shipped, or from the ``ganbench.presets`` entry points) or by the
    path of a TOML file; validated."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"no preset file {text}")
        return load(path)
    known = shipped()
    if text not in known:
        raise ConfigError(f"unknown preset {text!r}; presets: {', '.join(known) or 'none'} "
                          "(or the path of a .toml file)")
    where = known[text]
    if isinstance(where, metadata.EntryPoint):
        try:
            where = where.load()
        except Exception as exc:
            raise ConfigError(f"preset {text!r} ({where.value}) could not be loaded: "
                              f"{type(exc).__name__}: {exc}") from None
    return load(where, name=text)


def load(source: Any, name: str | None = None) -> Preset:
    """A preset from a TOML file (a path or an importlib resource), validated."""
    label = name or Path(str(source)).stem
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8") if hasattr(source, "read_text")
                             else Path(source).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"preset {label!r} ({source}): not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"preset {label!r}: cannot read {source}: {exc}") from None
    name = data.get("preset", {}).get("name", label) if name is None else name
    check(data, name)
    path = Path(source) if isinstance(source, (str, Path)) else None
    return Preset(name, data, path)


def check(data: dict[str, Any], name: str) -> None:
    """One-line ConfigErrors for unknown keys, missing fields and values of the wrong kind."""
    def keys(table: Any, where: str, schema: str, required: tuple[str, ...] = ()) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"preset {name!r}: {where or 'the file'} must be a table")
        known = SCHEMA.get(schema)
        extra = [k for k in table if known is not None and k not in known]
        if extra:
            raise ConfigError(f"preset {name!r}: unknown key {where + '.' if where else ''}"
                              f"{extra[0]}; known: {', '.join(known)}")
        for key in required:
            if key not in table:
                raise ConfigError(f"preset {name!r}: missing {where + '.' if where else ''}{key}")

    keys(data, "", "", REQUIRED[""])
    keys(data.get("preset", {}), "preset", "preset")
    _check_run(data["run"], "run", name, required=True)
    _check_axes(data.get("axes", {}), "axes", name)
    keys(data["budgets"], "budgets", "budgets", REQUIRED["budgets"])
    for key, budget in data["budgets"].items():
        keys(budget, f"budgets.{key}", "budget")
        if "epochs" in budget and "steps" in budget:
            raise ConfigError(f"preset {name!r}: budgets.{key} gives epochs and steps: one")
    for key, spec in data.get("inputs", {}).items():
        keys(spec, f"inputs.{key}", "input")
    table, axes = data.get("table", {}), [short(p) for p in data.get("axes", {})]
    keys(table, "table", "table")
    for at, given in [("table.rows", table.get("rows", [])), *(  # axes' short names
            (f"table.columns.{k}.match", c.get("match", {})) for k, c in
            table.get("columns", {}).items() if isinstance(c, dict))]:
        if unknown := [k for k in given if k not in axes]:
            raise ConfigError(f"preset {name!r}: {at} names no axis {unknown[0]!r}; axes: "
                              f"{', '.join(axes) or 'none'}")
    for key, column in table.get("columns", {}).items():
        where = f"table.columns.{key}"
        keys(column, where, "column")
        if column.get("error", "per-run") not in ERRORS:
            raise ConfigError(f"preset {name!r}: {where}.error must be one of {', '.join(ERRORS)}")
        if "requires" in column and column["requires"] not in data.get("inputs", {}):
            raise ConfigError(f"preset {name!r}: {where}.requires names no [inputs] entry")
        _check_run(column.get("run", {}), f"{where}.run", name)
        _check_axes(column.get("axes", {}), f"{where}.axes", name)
    if "reference" in table:
        keys(table["reference"], "table.reference", "reference", ("model", "column"))
    check_published_and_claims(name, table, data.get("axes", {}))
    keys(data.get("outputs", {}), "outputs", "outputs")
    if "committed" in data:
        keys(data["committed"], "committed", "committed", ("root", "generators"))


def _check_run(run: Any, where: str, name: str, required: bool = False) -> None:
    if not isinstance(run, dict):
        raise ConfigError(f"preset {name!r}: {where} must be a table")
    extra = [k for k in run if k not in RUN_KEYS]
    if extra:
        raise ConfigError(f"preset {name!r}: unknown key {where}.{extra[0]}; known: "
                          f"{', '.join(RUN_KEYS)} (the seed is an axis)")
    for key in PARTS if required else ():
        if key not in run:
            raise ConfigError(f"preset {name!r}: missing {where}.{key}")
    for key in (*SECTIONS, "options"):
        if not isinstance(run.get(key, {}), dict):
            raise ConfigError(f"preset {name!r}: {where}.{key} must be a table")
    unknown = [p for p in run.get("options", {}) if p not in PARTS]
    if unknown:
        raise ConfigError(f"preset {name!r}: unknown key {where}.options.{unknown[0]}; "
                          f"parts: {', '.join(PARTS)}")

    def derived(value: Any, at: str) -> None:
        if isinstance(value, dict) and "from" in value:
            fields = DERIVED.get(value["from"])
            if fields is None or set(value) - set(fields) or (
                    value["from"] in ("input", "setting") and "name" not in value):
                raise ConfigError(f"preset {name!r}: {at} = {value}: a derived value is "
                                  '{from = "train_mean", digits = N}, {from = "input", '
                                  'name = NAME} or {from = "setting", name = PATH, times = K}')
        elif isinstance(value, dict):
            for k, v in value.items():
                derived(v, f"{at}.{k}")

    derived(run, where)


def _check_axes(axes: Any, where: str, name: str) -> None:
    if not isinstance(axes, dict):
        raise ConfigError(f"preset {name!r}: {where} must be a table of setting = [values]")
    seen: dict[str, str] = {}
    for path, values in axes.items():
        parts = path.split(".")
        ok = (parts == ["seed"] or (len(parts) == 1 and parts[0] in PARTS)
              or (len(parts) == 2 and parts[0] in SECTIONS)
              or (len(parts) == 3 and parts[0] == "options" and parts[1] in PARTS))
        if not ok:
            raise ConfigError(f"preset {name!r}: unknown axis {where}.{path}; an axis is seed, "
                              "a part (generator, ...), SECTION.SETTING or options.PART.OPTION")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"preset {name!r}: {where}.{path} must be a non-empty list")
        if path == "seed" and not all(isinstance(v, int) and v >= 0 for v in values):
            raise ConfigError(f"preset {name!r}: {where}.seed must list integers >= 0")
        if short(path) in seen:
            raise ConfigError(f"preset {name!r}: axes {seen[short(path)]} and {path} share the "
                              f"short name {short(path)!r}")
        seen[short(path)] = path
