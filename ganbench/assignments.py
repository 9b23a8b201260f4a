"""The one ``--set`` parser: ``PART.OPTION=VALUE`` for train, sweep and score (PART a plugin
part, a settings section, or ``metric.NAME``), and ``OPTION=VALUE`` for one plugin
(``check-plugin``). Values parse as JSON where they can, else as strings."""

from __future__ import annotations

import json
from typing import Any

from ganbench.errors import ConfigError
from ganbench.settings import PARTS, SECTION_TYPES

__all__ = ["parse_assignment", "parse_plugin_assignment", "parse_value"]


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON where it parses (numbers, lists, true/false/null), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignment(text: str) -> tuple[str, str, Any]:
    """``--set PART.OPTION=VALUE`` (train, sweep, score) -> (part, option, value); PART is a
    plugin part (generator, ...) or a settings section (train, ...)."""
    lhs, _, value = text.partition("=")
    part, _, option = (s.strip() for s in lhs.partition("."))
    if "=" not in text or not option:
        raise ConfigError(
            f"--set {text!r} is not PART.OPTION=VALUE (e.g. generator.hidden=[256,256] "
            f"or optimizer.lr=0.01)"
        )
    valid = (*PARTS, *SECTION_TYPES, "metric")
    if part not in valid:
        raise ConfigError(f"--set {text!r}: unknown part {part!r}; use one of {', '.join(valid)}")
    if part == "metric" and not all(option.partition(".")[::2]):
        raise ConfigError(f"--set {text!r} is not metric.NAME.OPTION=VALUE "
                          f"(e.g. metric.fid.n_real=5000)")
    return part, option, parse_value(value)


def parse_plugin_assignment(text: str, part: str) -> tuple[str, Any]:
    """``--set`` for one plugin (``check-plugin``): ``OPTION=VALUE``, or ``PART.OPTION=VALUE``
    as ``train --set`` writes it, -> (option, value). ``part`` is the plugin's kind
    (``"loss"``) or its entry-point group (``"ganbench.losses"``); a PART prefix must name it.
    Values parse as in ``parse_assignment`` (JSON where they parse, else a string)."""
    from ganbench.plugins import GROUPS

    kind = next((k for k, group in GROUPS.items() if part in (k, group)), part)
    lhs, sep, value = text.partition("=")
    prefix, dot, option = lhs.strip().rpartition(".")
    option = option.strip()
    if not sep or not option:
        raise ConfigError(f"--set {text!r} is not OPTION=VALUE (or {kind}.OPTION=VALUE, "
                          f"e.g. hidden=[256,256])")
    if dot and prefix.strip() not in (kind, GROUPS.get(kind)):
        raise ConfigError(f"--set {text!r}: only {kind} options apply here; write OPTION=VALUE "
                          f"or {kind}.OPTION=VALUE")
    return option, parse_value(value)
