"""Entry-point discovery: find plugins lazily, report broken ones, never let one stop the others.

Groups: ``ganbench.generators``, ``ganbench.discriminators``, ``ganbench.losses``, ``ganbench.metrics``,
``ganbench.datasets``. Each entry point names a factory called with keyword options.
Nothing is imported until a plugin is listed with its status or used.
"""

from __future__ import annotations

import difflib
import inspect
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ganbench.errors import PluginError

GROUPS = {
    "generator": "ganbench.generators",
    "discriminator": "ganbench.discriminators",
    "loss": "ganbench.losses",
    "dataset": "ganbench.datasets",
    "metric": "ganbench.metrics",
}


@dataclass(frozen=True)
class PluginInfo:
    """One entry point: where it came from, without importing it."""

    group: str  # the entry-point group, e.g. "ganbench.losses"
    name: str
    value: str  # "module:attribute"
    distribution: str
    version: str

    @property
    def kind(self) -> str:
        return next(k for k, g in GROUPS.items() if g == self.group)

    @property
    def qualified_name(self) -> str:
        return f"{self.distribution}:{self.name}"


_cache: dict[tuple[str, str], Any] = {}


def _group(kind_or_group: str) -> str:
    if kind_or_group in GROUPS:
        return GROUPS[kind_or_group]
    if kind_or_group in GROUPS.values():
        return kind_or_group
    raise PluginError(
        f"unknown plugin group {kind_or_group!r}; use one of {', '.join(GROUPS)}"
    )


_discovered: dict[tuple[str, ...], list[PluginInfo]] = {}
_discovered_on: list[tuple] = [()]  # the _path_state the entries of _discovered were found on


def _path_state() -> tuple:
    """sys.path with each entry's modification time: a distribution installed or removed
    changes its folder's, which is the test importlib.metadata's own directory cache uses."""
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, None))
    return tuple(state)


def discover(kind: str | None = None) -> list[PluginInfo]:
    """All registered plugins (of one kind or group if given), sorted, without importing any.
    Cached until sys.path or a folder on it changes (reading every distribution's metadata
    took 20 ms a call, a fifth of a toy run's CPU time in a sweep's worker)."""
    groups = [_group(kind)] if kind else list(GROUPS.values())
    state = _path_state()
    if state != _discovered_on[0]:
        _discovered.clear()
        _discovered_on[0] = state
    if tuple(groups) not in _discovered:
        _discovered[tuple(groups)] = _discover(groups)
    return list(_discovered[tuple(groups)])


def _discover(groups: list[str]) -> list[PluginInfo]:
    found: set[PluginInfo] = set()
    for group in groups:
        for ep in metadata.entry_points(group=group):
            dist = ep.dist
            found.add(
                PluginInfo(
                    group=group,
                    name=ep.name,
                    value=ep.value,
                    distribution=dist.metadata["Name"] if dist else "unknown",
                    version=dist.version if dist else "unknown",
                )
            )
    return sorted(found, key=lambda p: (p.group, p.name, p.distribution))


def _import(info: PluginInfo) -> Any:
    key = (info.group, info.qualified_name)
    if key not in _cache:
        ep = metadata.EntryPoint(name=info.name, value=info.value, group=info.group)
        try:
            obj = ep.load()
        except Exception as exc:  # any import failure of someone else's code
            raise PluginError(
                f"{info.kind} plugin {info.name!r} from {info.distribution} "
                f"{info.version} is broken: cannot import {info.value}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not callable(obj):
            raise PluginError(
                f"{info.kind} plugin {info.name!r} from {info.distribution} is broken: "
                f"{info.value} is a {type(obj).__name__}, not a callable factory"
            )
        _cache[key] = obj
    return _cache[key]


def status(info: PluginInfo) -> str:
    """``ok``, or ``broken: <reason>``; imports the plugin."""
    try:
        _import(info)
    except PluginError as exc:
        return f"broken: {str(exc).split(' is broken: ', 1)[-1]}"
    return "ok"


def find(kind: str, name: str) -> PluginInfo:
    """The plugin called ``name`` (or ``distribution:name``) of a kind, with a helpful error."""
    group = _group(kind)
    kind = next(k for k, g in GROUPS.items() if g == group)
    candidates = discover(group)
    dist_name = None
    if ":" in name:
        dist_name, name = name.split(":", 1)
    matches = [p for p in candidates if p.name == name]
    if dist_name is not None:
        matches = [
            p for p in matches if _norm(p.distribution) == _norm(dist_name)
        ]
    if not matches:
        available = sorted({p.name for p in candidates})
        close = difflib.get_close_matches(name, available, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        plural = kind + ("es" if kind.endswith("s") else "s")
        raise PluginError(
            f"unknown {kind} {name!r}{hint}; available {plural}: {', '.join(available) or 'none'}"
        )
    if len(matches) > 1:
        names = ", ".join(p.qualified_name for p in matches)
        raise PluginError(
            f"{kind} {name!r} is registered by several distributions; name one of: {names}"
        )
    return matches[0]


def _norm(dist: str) -> str:
    return dist.lower().replace("_", "-")


def load(kind: str, name: str) -> Any:
    """The factory of a plugin, imported on first use."""
    return _import(find(kind, name))


def factory_options(factory: Any) -> dict[str, inspect.Parameter]:
    """The keyword options a factory accepts (its signature), minus the harness's own."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}
    return {
        n: p
        for n, p in sig.parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        and n not in ("noise_dim", "data_shape")
    }


def accepts_any_option(factory: Any) -> bool:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return True
    return any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def clear_cache() -> None:
    _cache.clear()
    _discovered.clear()
