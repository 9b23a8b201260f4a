"""Run configurations: defaults, validation against the plugins' signatures, run ids.

A run is four plugin names, their options, a seed, and the schedule (``train``, ``noise``,
``optimizer``, ``score``). ``resolve`` fills in every default, so that the same experiment
always has the same fully resolved config and so the same run id.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ganbench import plugins
from ganbench.errors import ConfigError

PARTS = ("generator", "discriminator", "loss", "dataset")

# The run's own settings, each with its default. ``--set SECTION.KEY=VALUE`` reaches them.
SECTIONS: dict[str, dict[str, Any]] = {
    "train": {
        "steps": None,  # generator updates (iterations of Algorithm 1); or:
        "epochs": None,  # passes of the discriminator's minibatches over the training split
        "batch_size": 100,  # m
        "discriminator_steps": 1,  # k
        "update": "alternating",  # Algorithm 1; "simultaneous": the original code's update
        "checkpoint_every": 1000,  # iterations between checkpoints (not part of the run id)
        "log_every": 50,  # iterations between loss-curve rows and divergence checks
    },
    "noise": {
        "prior": "uniform",  # uniform on [-scale, scale], or normal with std scale
        "dim": 100,
        "scale": 1.0,
    },
    "optimizer": {
        "name": "adam",  # or "sgd" (classic momentum)
        "lr": 2e-4,
        "discriminator_lr": None,  # None: the same as lr
        "betas": [0.5, 0.999],  # adam
        "momentum": 0.5,  # sgd: initial momentum
        "momentum_final": None,  # sgd: momentum reached linearly at momentum_saturate_epoch
        "momentum_start_epoch": 1,
        "momentum_saturate_epoch": 250,
        "lr_decay": 1.0,  # lr divided by this after every minibatch (the original: 1.000004)
        "lr_min": 0.0,
        "weight_decay": 0.0,
    },
    "score": {
        "parzen": True,
        "n_samples": 10000,  # kernel centres drawn from G
        "n_valid": 1000,  # validation points used to choose sigma
        "n_test": None,  # None: the whole test split
        "select": "last",  # or "valid": keep the checkpoint with the best validation Parzen
        "select_every": None,  # iterations between validation scores (None: checkpoint_every)
        "patience": None,  # select="valid": stop after this many scores without improvement
    },
}
CHOICES = {
    ("train", "update"): ("alternating", "simultaneous"),
    ("noise", "prior"): ("uniform", "normal"),
    ("optimizer", "name"): ("adam", "sgd"),
    ("score", "select"): ("last", "valid"),
}
# Settings that change no number of the run: left out of the run id.
NOT_IN_ID = {("train", "checkpoint_every"), ("train", "log_every")}


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
    def run_id(self) -> str:
        """The hash of this config as it stands: resolve() it first for the run's id."""
        return run_id(self)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def run_id(config: RunConfig) -> str:
    """A short hash of the fully resolved config (settings that change no number excluded)."""
    data = config.to_dict()
    for section, key in NOT_IN_ID:
        data.get(section, {}).pop(key, None)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON where it parses (numbers, lists, true/false/null), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignment(text: str) -> tuple[str, str, Any]:
    """``PART.OPTION=VALUE`` -> (part, option, value)."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(
            f"--set {text!r} is not PART.OPTION=VALUE (e.g. generator.hidden=[256,256] "
            f"or optimizer.lr=0.01)"
        )
    lhs, value = text.split("=", 1)
    part, option = lhs.split(".", 1)
    valid = (*PARTS, *SECTIONS)
    if part not in valid:
        raise ConfigError(f"--set {text!r}: unknown part {part!r}; use one of {', '.join(valid)}")
    return part, option, parse_value(value)


def check_type(where: str, value: Any, default: Any, annotation: Any = None) -> Any:
    """``value`` converted to the kind of ``default`` (or annotation), or a ConfigError."""
    expected = _expected_type(default, annotation)
    if expected is None or value is None:
        return _jsonable(value)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        list: isinstance(value, (list, tuple)),
        dict: isinstance(value, dict),
    }[expected]
    if not ok:
        raise ConfigError(
            f"{where} must be {_TYPE_WORDS[expected]}, got {value!r} ({type(value).__name__})"
        )
    if expected is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
    return _jsonable(value)


_TYPE_WORDS = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list, e.g. [256,256]",
    dict: "a table",
}


def _expected_type(default: Any, annotation: Any) -> type | None:
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


_EMPTY = object()


def _resolve_section(name: str, given: dict[str, Any]) -> dict[str, Any]:
    defaults = SECTIONS[name]
    unknown = set(given) - set(defaults)
    if unknown:
        raise ConfigError(
            f"unknown {name} setting(s) {', '.join(sorted(unknown))}; "
            f"{name} settings: {', '.join(defaults)}"
        )
    out = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        if key in given:
            if default is None:
                value = _jsonable(value)
            else:
                value = check_type(f"{name}.{key}", value, default)
        choices = CHOICES.get((name, key))
        if choices and value not in choices:
            raise ConfigError(f"{name}.{key} must be one of {', '.join(choices)}, got {value!r}")
        out[key] = value
    return out


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
    resolved = RunConfig(
        generator=config.generator,
        discriminator=config.discriminator,
        loss=config.loss,
        dataset=config.dataset,
        seed=config.seed,
        options=options,
        **{name: _resolve_section(name, getattr(config, name) or {}) for name in SECTIONS},
    )
    train = resolved.train
    if train["steps"] is not None and train["epochs"] is not None:
        raise ConfigError("give train.steps or train.epochs, not both")
    if isinstance(train["epochs"], float) and train["epochs"].is_integer():
        train["epochs"] = int(train["epochs"])  # --epochs 100 and epochs = 100: one run id
    if train["steps"] is None and train["epochs"] is None:
        train["steps"] = 1000
    for key in ("steps", "epochs"):
        if train[key] is not None and (not isinstance(train[key], (int, float)) or train[key] <= 0):
            raise ConfigError(f"train.{key} must be a positive number, got {train[key]!r}")
    if train["discriminator_steps"] < 1:
        raise ConfigError(
            f"discriminator_steps (k) must be at least 1, got {train['discriminator_steps']}"
        )
    if train["batch_size"] < 1:
        raise ConfigError(f"batch_size must be at least 1, got {train['batch_size']}")
    for key in ("checkpoint_every", "log_every"):
        if train[key] < 1:
            raise ConfigError(f"train.{key} must be at least 1, got {train[key]}")
    every = resolved.score["select_every"]
    if every is not None and (every < 1 or every % train["checkpoint_every"]):
        raise ConfigError(
            f"score.select_every ({every}) must be a multiple of train.checkpoint_every "
            f"({train['checkpoint_every']}): selection happens at checkpoints"
        )
    if resolved.noise["dim"] < 1:
        raise ConfigError(f"noise.dim must be at least 1, got {resolved.noise['dim']}")
    if resolved.optimizer["lr"] <= 0:
        raise ConfigError(f"optimizer.lr must be positive, got {resolved.optimizer['lr']}")
    if resolved.optimizer["lr_decay"] <= 0:
        raise ConfigError("optimizer.lr_decay must be positive (1.0 for a constant lr)")
    return resolved


def with_assignments(config: RunConfig, assignments: list[str]) -> RunConfig:
    """Apply ``--set PART.OPTION=VALUE`` strings to a config (before ``resolve``)."""
    config = copy.deepcopy(config)
    for text in assignments:
        part, option, value = parse_assignment(text)
        if part in PARTS:
            config.options.setdefault(part, {})[option] = value
        else:
            getattr(config, part)[option] = value
    return config
