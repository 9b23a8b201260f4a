"""Run configurations: defaults, validation against the plugins' signatures, run ids.

A run is four plugin names, their options, a seed, and the schedule (``train``, ``noise``,
``optimizer``, ``score``). ``resolve`` fills in every default, so that the same experiment
always has the same fully resolved config and so the same run id. The schedule's settings
are declared, typed and validated in ``ganbench.settings``; a config stores them as plain
dicts (what is saved and hashed) and ``config.settings`` is their typed view.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ganbench import plugins
from ganbench.assignments import (  # the --set parsers: importable from here too
    parse_assignment,
    parse_plugin_assignment,
    parse_value,
)
from ganbench.errors import ConfigError
from ganbench.settings import (
    IF_CHANGED,
    INFO,
    PARTS,
    Settings,
    convert,
    defaults,
    resolve_settings,
)
from ganbench.settings import jsonable as _jsonable

__all__ = ["CHOICES", "ID_IF_CHANGED", "NOT_IN_ID", "PARTS", "SECTIONS", "RunConfig", "Settings", "check_type",
           "parse_assignment", "parse_plugin_assignment", "parse_value", "resolve", "run_id",
           "identity", "with_assignments", "with_defaults"]

# The run's own settings, each with its default, derived from the dataclasses in
# ganbench.settings (where each is declared once). ``--set SECTION.KEY=VALUE`` reaches them.
SECTIONS: dict[str, dict[str, Any]] = defaults()
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    (section, key): info.choices
    for section, infos in INFO.items() for key, info in infos.items() if info.choices
}
# Settings that change no number of the run: left out of the run id.
NOT_IN_ID: frozenset[tuple[str, str]] = frozenset(
    (section, key) for section, infos in INFO.items() for key, info in infos.items()
    if not info.in_id
)
# Settings added after runs were stored: in the run id only when not at their default (and a
# stored config without one means its default). {(section, key): default}
ID_IF_CHANGED: dict[tuple[str, str], Any] = {
    (section, key): info.default for section, infos in INFO.items()
    for key, info in infos.items() if info.in_id == IF_CHANGED
}


def identity(data: dict[str, Any]) -> dict[str, Any]:
    """A config dict as the run id sees it: the settings that change no number left out, and
    those added later (ID_IF_CHANGED) left out where at their default. Works on configs
    stored before any such setting existed (they compare equal to today's at the default)."""
    out = copy.deepcopy(data)
    for section, key in NOT_IN_ID:
        out.get(section, {}).pop(key, None)
    for (section, key), default in ID_IF_CHANGED.items():
        if key in out.get(section, {}) and out[section][key] == default:
            out[section].pop(key)
    return out


def with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A stored config dict with the settings added since it was written (ID_IF_CHANGED) at
    their defaults, which is what it ran with: for tables that compare configs."""
    out = copy.deepcopy(data)
    for (section, key), default in ID_IF_CHANGED.items():
        out.setdefault(section, {}).setdefault(key, copy.deepcopy(default))
    return out


@dataclass
class RunConfig:
    generator: str
    discriminator: str
    loss: str
    dataset: str
    seed: int = 0
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    noise: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=dict)
    score: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        known = {f for f in cls.__dataclass_fields__}
        extra = set(data) - known
        if extra:
            raise ConfigError(
                f"unknown config key(s) {', '.join(sorted(extra))}; known: {', '.join(sorted(known))}"
            )
        return cls(**copy.deepcopy(data))

    @property
    def settings(self) -> Settings:
        """The sections, typed: ``config.settings.train.batch_size``. A view of the dicts as
        they stand (a new one each time; assign to the dicts to change the config): typed and
        checked once the config is resolved."""
        return Settings.from_dicts({name: getattr(self, name) for name in SECTIONS})

    @property
    def run_id(self) -> str:
        """The hash of this config as it stands: resolve() it first for the run's id."""
        return run_id(self)


def run_id(config: RunConfig) -> str:
    """A short hash of the fully resolved config (settings that change no number excluded)."""
    data = identity(config.to_dict())
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def check_type(where: str, value: Any, default: Any, annotation: Any = None) -> Any:
    """A plugin option's ``value`` converted to the kind of its ``default`` (or annotation),
    or a ConfigError; None, and options of no known kind, pass as they are."""
    expected = expected_type(default, annotation)
    if expected is None or value is None:
        return _jsonable(value)
    return convert(where, value, expected)


_EMPTY = object()  # a plugin option without a default


def expected_type(default: Any, annotation: Any) -> type | None:
    """The kind a plugin option takes, from its annotation, else its default's type."""
    names = {"int": int, "float": float, "str": str, "bool": bool, "list": list,
             "tuple": list, "dict": dict}
    if isinstance(annotation, str):
        annotation = names.get(annotation.split("[")[0].strip())
    if annotation in (int, float, str, bool, dict):
        return annotation
    if annotation in (list, tuple):
        return list
    if default is None or default is _EMPTY:
        return None
    for t in (bool, int, float, str, dict):
        if type(default) is t:
            return t
    if isinstance(default, (list, tuple)):
        return list
    return None



def _resolve_options(part: str, name: str, given: dict[str, Any]) -> dict[str, Any]:
    factory = plugins.load(part, name)
    params = plugins.factory_options(factory)
    unknown = set(given) - set(params)
    if unknown and not plugins.accepts_any_option(factory):
        listing = ", ".join(
            n if p.default is p.empty else f"{n}={p.default!r}" for n, p in params.items()
        )
        raise ConfigError(
            f"unknown option(s) {', '.join(sorted(unknown))} for {part} {name!r}; "
            f"its options: {listing or 'none'}"
        )
    out = {}
    for opt, param in params.items():
        default = _EMPTY if param.default is param.empty else param.default
        if opt in given:
            out[opt] = check_type(f"{part} {name!r} option {opt}", given[opt], default,
                                  param.annotation if param.annotation is not param.empty else None)
        elif default is _EMPTY:
            raise ConfigError(f"{part} {name!r} needs option {opt}: add --set {part}.{opt}=VALUE")
        else:
            out[opt] = _jsonable(default)
    for opt in unknown:  # **kwargs factories take them as given
        out[opt] = _jsonable(given[opt])
    return out


def resolve(config: RunConfig) -> RunConfig:
    """The fully resolved config: every plugin found, every option and setting filled in and
    type-checked. Raises ConfigError / PluginError with a message that names the fix."""
    if not isinstance(config.seed, int) or isinstance(config.seed, bool):
        raise ConfigError(f"seed must be an integer, got {config.seed!r}")
    unknown_parts = set(config.options) - set(PARTS)
    if unknown_parts:
        raise ConfigError(
            f"options for unknown part(s) {', '.join(sorted(unknown_parts))}; "
            f"parts: {', '.join(PARTS)}"
        )
    options = {
        part: _resolve_options(part, getattr(config, part), config.options.get(part, {}))
        for part in PARTS
    }
    return RunConfig(
        generator=config.generator,
        discriminator=config.discriminator,
        loss=config.loss,
        dataset=config.dataset,
        seed=config.seed,
        options=options,
        **resolve_settings({name: getattr(config, name) for name in SECTIONS}).to_dicts(),
    )


def with_assignments(config: RunConfig, assignments: list[str]) -> RunConfig:
    """Apply ``--set PART.OPTION=VALUE`` strings to a config (before ``resolve``)."""
    config = copy.deepcopy(config)
    for text in assignments:
        part, option, value = parse_assignment(text)
        if part in PARTS:
            config.options.setdefault(part, {})[option] = value
        elif part == "metric":  # metric.NAME.OPTION=VALUE
            name, _, key = option.partition(".")
            config.score.setdefault("metric_options", {}).setdefault(name, {})[key] = value
        else:
            getattr(config, part)[option] = value
    return config
