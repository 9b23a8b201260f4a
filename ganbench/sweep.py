"""Sweep files: a TOML file of axes, expanded into the cartesian product of resolved runs.

A sweep file names the four plugin axes (``generator``, ``discriminator``, ``loss``,
``dataset``; each a name or a list of names), ``seed`` (an integer or a list of them), the run
settings (``[train]``, ``[noise]``, ``[optimizer]``, ``[score]``) and per-plugin options
(``[options.loss.hinge]`` applies only to the runs whose loss is ``hinge``).

The one rule for lists: **in a sweep file every list is an axis**. ``lr = [1e-3, 2e-4]``
makes two runs. A setting or option whose value is itself a list is therefore written as a
list of lists: ``hidden = [[128, 128]]`` is one value, ``hidden = [[64], [128, 128]]`` sweeps
over two. A flat list given to an option that takes a list is an error that says so.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
import os
import tomllib
from dataclasses import replace
from typing import Any

from ganbench import config as cfg
from ganbench import plugins
from ganbench.config import PARTS, RunConfig
from ganbench.errors import ConfigError
from ganbench.settings import INFO

TOP_KEYS = (*PARTS, "seed", "options", *INFO, "metrics", "description")
_PLURAL = {"generator": "generators", "discriminator": "discriminators", "loss": "losses",
           "dataset": "datasets", "seed": "seeds"}


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """The sweep file's table; a ConfigError (with the line, for bad TOML) if unreadable."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"sweep file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"sweep file {path} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read sweep file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"sweep file {path} is not UTF-8 text: {exc.reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"sweep file {path} is not valid TOML: {exc}") from None


def load_sweep(path: str | os.PathLike) -> list[RunConfig]:
    """The runs of a sweep file: every combination, fully resolved (plugin names, options and
    settings checked), duplicates merged, in a stable order (seed varies fastest)."""
    data = read_toml(path)
    try:
        return expand(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _hint(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _takes_list(default: Any, annotation: Any = None) -> bool:
    """Whether a plugin option takes a list (by its annotation or its default)."""
    return isinstance(default, (list, tuple)) or cfg.expected_type(default, annotation) is list


def axis_values(where: str, value: Any, takes_list: bool = False) -> list[Any]:
    """The values an entry sweeps over: a list is an axis, anything else one value."""
    if not isinstance(value, list):
        return [value]
    if not value:
        extra = f"; {where.rsplit('.', 1)[-1]} takes a list: write [[]] for one empty list" \
            if takes_list else ""
        raise ConfigError(f"{where} = [] is an empty axis (it would make no runs): give at least "
                          f"one value{extra}")
    if takes_list and not all(isinstance(v, list) for v in value):
        key = where.rsplit(".", 1)[-1]
        raise ConfigError(
            f"{where} = {json.dumps(value)}: in a sweep file every list is an axis of values, and "
            f"{key} takes a list itself; write {key} = [{json.dumps(value)}] for this one value, "
            f"or a list of lists such as {key} = [[64], [128, 128]] to sweep over several"
        )
    seen: list[Any] = []
    for v in value:
        if v in seen and not isinstance(v, bool):
            raise ConfigError(f"{where} lists {json.dumps(v)} twice")
        seen.append(v)
    return list(value)


def _names(data: dict[str, Any], part: str) -> list[str]:
    if part not in data:
        raise ConfigError(
            f"no {part} axis: add {part} = \"NAME\" or {part} = [\"NAME\", ...] "
            f"(see `ganbench plugins` for the names)"
        )
    value = data[part]
    names = axis_values(part, value) if isinstance(value, list) else [value]
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{part} must be a plugin name or a list of names, got {value!r}")
    return names


def _seeds(data: dict[str, Any]) -> list[int]:
    value = data.get("seed", 0)
    seeds = axis_values("seed", value)
    for s in seeds:
        if not isinstance(s, int) or isinstance(s, bool):
            raise ConfigError(f"seed must be an integer or a list of integers, got {value!r}")
    return seeds


def _table(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table ([{where}] with KEY = VALUE lines), "
                          f"got {value!r}")
    return value


def _section_axes(data: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    axes = []
    for section, infos in INFO.items():
        table = _table(section, data.get(section, {}))
        for key, value in table.items():
            if key not in infos:
                raise ConfigError(
                    f"unknown {section} setting {key!r}{_hint(key, list(infos))}; "
                    f"[{section}] settings: {', '.join(infos)}"
                )
            axes.append((section, key, axis_values(f"{section}.{key}", value,
                                                   infos[key].kind is list)))
    return axes


def _option_axes(data: dict[str, Any], names: dict[str, list[str]]
                 ) -> dict[tuple[str, str], list[tuple[str, list[Any]]]]:
    """(part, plugin name) -> [(option, values)]."""
    options = _table("options", data.get("options", {}))
    out: dict[tuple[str, str], list[tuple[str, list[Any]]]] = {}
    for part, per_name in options.items():
        if part not in PARTS:
            raise ConfigError(f"[options.{part}]: unknown part {part!r}{_hint(part, PARTS)}; "
                              f"use [options.PART.NAME] with PART one of {', '.join(PARTS)}")
        per_name = _table(f"options.{part}", per_name)
        for name, table in per_name.items():
            if not isinstance(table, dict):
                raise ConfigError(
                    f"options.{part}.{name} = {table!r}: options go in a table per plugin, "
                    f"[options.{part}.NAME] with OPTION = VALUE lines (NAME one of the sweep's "
                    f"{_PLURAL[part]}: {', '.join(names[part])})"
                )
            if name not in names[part]:
                raise ConfigError(
                    f"[options.{part}.{name}]: {name!r} is not on the sweep's {part} axis"
                    f"{_hint(name, names[part])}; its {_PLURAL[part]}: {', '.join(names[part])}"
                )
            params = plugins.factory_options(plugins.load(part, name))
            axes = []
            for key, value in table.items():
                param = params.get(key)
                takes_list = param is not None and _takes_list(
                    None if param.default is param.empty else param.default,
                    None if param.annotation is param.empty else param.annotation)
                axes.append((key, axis_values(f"options.{part}.{name}.{key}", value, takes_list)))
            out[(part, name)] = axes
    return out


def _product(axes: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Every combination of the axes' values (the last element of each axis tuple)."""
    return [list(combo) for combo in itertools.product(*(a[-1] for a in axes))]


def expand(data: dict[str, Any]) -> list[RunConfig]:
    """The runs of a sweep (a parsed sweep file): the cartesian product of the plugin axes,
    each plugin's option axes, the settings' axes and the seeds, resolved, duplicates merged."""
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        key = unknown[0]
        raise ConfigError(
            f"unknown key {key!r}{_hint(key, TOP_KEYS)} in the sweep file; its keys: "
            f"{', '.join(TOP_KEYS)} (plugin options go in [options.PART.NAME] tables)"
        )
    if "description" in data and not isinstance(data["description"], str):
        raise ConfigError("description must be a string")
    if "metrics" in data:  # metrics = ["parzen", "fid"]: every run's score.metrics
        metrics = data["metrics"]
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            raise ConfigError(f"metrics must be a list of metric names, got {metrics!r}")
        data = {**data, "score": {**_table("score", data.get("score", {})),
                                  "metrics": [metrics]}}
    names = {part: _names(data, part) for part in PARTS}
    seeds = _seeds(data)
    section_axes = _section_axes(data)
    option_axes = _option_axes(data, names)
    section_combos = _product(section_axes)
    configs = []
    for chosen in itertools.product(*(names[p] for p in PARTS)):
        axes = [(part, key, values) for part, name in zip(PARTS, chosen)
                for key, values in option_axes.get((part, name), [])]
        option_combos = _product(axes)
        for section_values in section_combos:
            sections: dict[str, dict[str, Any]] = {s: {} for s in INFO}
            for (section, key, _), value in zip(section_axes, section_values):
                sections[section][key] = copy.deepcopy(value)
            for option_values in option_combos:
                options: dict[str, dict[str, Any]] = {}
                for (part, key, _), value in zip(axes, option_values):
                    options.setdefault(part, {})[key] = copy.deepcopy(value)
                for seed in seeds:
                    configs.append(RunConfig(*chosen, seed=seed, options=options, **sections))
    return unique(resolve_all(configs, check=False))


def _variant_key(config: RunConfig) -> str:
    data = config.to_dict()
    data.pop("seed")
    return json.dumps(data, sort_keys=True)


def resolve_all(configs: list[RunConfig], *, check: bool = True) -> list[RunConfig]:
    """Each run resolved (one per given config, in order); with ``check``, also every
    variant's plugins built and their shapes checked (``runner.prepare``). The seed changes
    nothing that is checked, so each variant is resolved and built once, not once per seed."""
    from ganbench.runner import prepare

    by_variant: dict[str, RunConfig] = {}
    out = []
    for config in configs:
        if not isinstance(config.seed, int) or isinstance(config.seed, bool):
            raise ConfigError(f"seed must be an integer, got {config.seed!r}")
        key = _variant_key(config)
        if key not in by_variant:
            by_variant[key] = prepare(config).config if check else cfg.resolve(config)
        out.append(replace(copy.deepcopy(by_variant[key]), seed=config.seed))
    return out


def unique(configs: list[RunConfig]) -> list[RunConfig]:
    """The runs with duplicates (same run id) merged, first one kept."""
    seen: set[str] = set()
    out = []
    for config in configs:
        if config.run_id not in seen:
            seen.add(config.run_id)
            out.append(config)
    return out


def describe(configs: list[RunConfig]) -> str:
    """``2 losses x 2 datasets x 3 seeds``: the axes with more than one value."""
    parts = []
    for part in PARTS:
        values = {getattr(c, part) for c in configs}
        if len(values) > 1:
            parts.append(f"{len(values)} {_PLURAL[part]}")
    per_named: dict[tuple, set[str]] = {}
    for c in configs:
        per_named.setdefault(tuple(getattr(c, p) for p in PARTS), set()).add(_variant_key(c))
    counts = {len(v) for v in per_named.values()}
    variants = sum(len(v) for v in per_named.values())
    extra = ""
    if counts == {1}:
        pass
    elif len(counts) == 1:
        parts.append(f"{counts.pop()} option and setting combinations")
    else:
        extra = f" ({variants} variants of plugins, options and settings)"
    seeds = {c.seed for c in configs}
    if len(seeds) > 1:
        parts.append(f"{len(seeds)} seeds")
    return (" x ".join(parts) if parts else "1 variant") + extra
