"""The run's own settings as typed dataclasses, and the one ``--set`` parser.

Each section (``train``, ``noise``, ``optimizer``, ``score``) is a dataclass: every setting
is declared once, here, with its type, its default, the values it may take, whether it is
part of the run id, and a line of help. The tables the rest of ganbench reads (``SECTIONS``,
``CHOICES``, ``NOT_IN_ID`` in ``ganbench.config``) are derived from these classes, and
``resolve_settings`` is the one place where settings are type-checked and validated.

A ``RunConfig`` keeps storing its sections as plain dicts (what a user gave, then, once
resolved, what is saved and hashed into the run id); ``RunConfig.settings`` is the typed
view, ``config.settings.train.batch_size``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ganbench.errors import ConfigError

PARTS = ("generator", "discriminator", "loss", "dataset")


IF_CHANGED = "if_changed"  # in_id=IF_CHANGED: see ``setting``


def setting(default: Any = None, *, help: str, choices: tuple[str, ...] = (),
            in_id: bool | str = True, factory: Any = None, typed: bool = True) -> Any:
    """A setting's field: its default (or ``factory`` for a list), the values it may take,
    whether it is part of the run id, one line of help; ``typed=False``: its type is
    checked by the section's ``validate`` (with a message of its own), not by its kind.

    ``in_id``: True (hashed into the run id), False (changes no number: left out), or
    ``IF_CHANGED`` for a setting that changes numbers but was added after runs were stored:
    hashed only when it differs from its default, so every stored run keeps its id and a
    config written before the setting existed means its default."""
    metadata = {"choices": tuple(choices), "in_id": in_id, "typed": typed, "help": help}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainSettings:
    SECTION: ClassVar[str] = "train"
    DEFAULT_STEPS: ClassVar[int] = 1000  # when neither steps nor epochs is given

    steps: int | float | None = setting(
        help="generator updates (iterations of Algorithm 1; 1000 if neither this nor epochs)",
        typed=False)
    epochs: int | float | None = setting(
        help="or: passes of the discriminator's minibatches over the training split",
        typed=False)
    batch_size: int = setting(100, help="m: examples per minibatch")
    discriminator_steps: int = setting(1, help="k: discriminator updates per generator update")
    update: str = setting("alternating", choices=("alternating", "simultaneous"),
                          help="Algorithm 1; \"simultaneous\": the original code's update")
    checkpoint_every: int = setting(1000, in_id=False,
                                    help="iterations between checkpoints (not part of the run id)")
    log_every: int = setting(50, in_id=False,
                             help="iterations between loss-curve rows and divergence checks")
    tensorboard: str | None = setting(
        in_id=False, help="a folder for TensorBoard event files, one subfolder per run "
                          "(--tensorboard DIR; needs pip install ganbench[tensorboard])")
    threads: int | None = setting(
        in_id=False, help="torch CPU threads (None: automatic, one unless the model is large "
                          "and cores are free; ganbench.compute); changes no number")
    matmul_precision: str = setting(
        "highest", choices=("highest", "high", "medium"), in_id=IF_CHANGED,
        help="torch's float32 matmul precision while training (\"high\": TF32 on CUDA; "
             "\"medium\": bf16 products on CPU); scoring stays \"highest\"")
    ema: float | None = setting(
        in_id=IF_CHANGED,
        help="decay of an exponential moving average of G's weights, e.g. 0.999 (None: off); "
             "when set, the averaged generator is the one scored, selected and sampled")

    def resolved(self) -> TrainSettings:
        """The budget made canonical: steps or epochs (not both; steps=1000 if neither), and
        whole-number epochs as an int, so that ``--epochs 100`` and ``epochs = 100`` are one
        run id."""
        if self.steps is not None and self.epochs is not None:
            raise ConfigError("give train.steps or train.epochs, not both")
        epochs = self.epochs
        if isinstance(epochs, float) and epochs.is_integer():
            epochs = int(epochs)
        steps = self.DEFAULT_STEPS if self.steps is None and epochs is None else self.steps
        return dataclasses.replace(self, steps=steps, epochs=epochs)

    def validate(self) -> None:
        check_fields(self)
        for key in ("steps", "epochs"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not math.isfinite(value) or value <= 0):
                raise ConfigError(f"train.{key} must be a positive number, got {value!r}")
        if self.discriminator_steps < 1:
            raise ConfigError(
                f"discriminator_steps (k) must be at least 1, got {self.discriminator_steps}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        for key in ("checkpoint_every", "log_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be at least 1, got {getattr(self, key)}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"train.threads must be at least 1 (or unset: automatic), "
                              f"got {self.threads}")
        if self.ema is not None and not 0 < self.ema < 1:
            raise ConfigError(f"train.ema must be a decay between 0 and 1 (exclusive), e.g. "
                              f"0.999, or unset (no EMA), got {self.ema!r}")


@dataclass(frozen=True)
class NoiseSettings:
    SECTION: ClassVar[str] = "noise"

    prior: str = setting("uniform", choices=("uniform", "normal"),
                         help="uniform on [-scale, scale], or normal with std scale")
    dim: int = setting(100, help="dimensions of z")
    scale: float = setting(1.0, help="the prior's half-width (uniform) or std (normal)")

    def validate(self) -> None:
        check_fields(self)
        if self.dim < 1:
            raise ConfigError(f"noise.dim must be at least 1, got {self.dim}")


@dataclass(frozen=True)
class OptimizerSettings:
    SECTION: ClassVar[str] = "optimizer"

    name: str = setting("adam", choices=("adam", "sgd"), help="adam, or sgd (classic momentum)")
    lr: float = setting(2e-4, help="learning rate")
    discriminator_lr: float | None = setting(help="the discriminator's (None: the same as lr)")
    betas: list[float] = setting(factory=lambda: [0.5, 0.999], help="adam's betas")
    momentum: float = setting(0.5, help="sgd: initial momentum")
    momentum_final: float | None = setting(
        help="sgd: momentum reached linearly at momentum_saturate_epoch (None: constant)")
    momentum_start_epoch: int = setting(1, help="sgd: the epoch the momentum ramp starts")
    momentum_saturate_epoch: int = setting(250, help="sgd: the epoch momentum_final is reached")
    lr_decay: float = setting(
        1.0, help="lr divided by this after every minibatch (the original: 1.000004)")
    lr_min: float = setting(0.0, help="the decayed lr's floor")
    weight_decay: float = setting(0.0, help="L2 penalty on the weights")

    def validate(self) -> None:
        check_fields(self)
        if self.lr <= 0:
            raise ConfigError(f"optimizer.lr must be positive, got {self.lr}")
        if self.lr_decay <= 0:
            raise ConfigError("optimizer.lr_decay must be positive (1.0 for a constant lr)")


@dataclass(frozen=True)
class ScoreSettings:
    SECTION: ClassVar[str] = "score"

    parzen: bool = setting(True, help="score the run (Parzen-window log-likelihood)")
    n_samples: int = setting(10000, help="kernel centres drawn from G")
    n_valid: int = setting(1000, help="validation points used to choose sigma")
    n_test: int | None = setting(help="test points scored (None: the whole test split)")
    select: str = setting("last", choices=("last", "valid"),
                          help="or \"valid\": keep the checkpoint with the best validation Parzen")
    select_every: int | None = setting(
        help="iterations between validation scores (None: checkpoint_every)")
    patience: int | None = setting(
        help="select=\"valid\": stop after this many scores without improvement (None: never)")
    metrics: list | None = setting(
        in_id=False, help="metrics to report, by name (None: the dataset's default_metrics, "
                          "else parzen); they change no number of training, so a finished "
                          "run is scored for a metric it lacks without retraining")
    metric_options: dict = setting(
        factory=dict, in_id=False,
        help="options of each metric, {name: {option: value}} (--set metric.NAME.OPTION=V)")

    def validate(self, train: TrainSettings | None = None) -> None:
        """With ``train``: also that selection falls on its checkpoints."""
        check_fields(self)
        every = self.select_every
        if train is not None and every is not None and (
                every < 1 or every % train.checkpoint_every):
            raise ConfigError(
                f"score.select_every ({every}) must be a multiple of train.checkpoint_every "
                f"({train.checkpoint_every}): selection happens at checkpoints"
            )


SECTION_TYPES: dict[str, type] = {
    cls.SECTION: cls for cls in (TrainSettings, NoiseSettings, OptimizerSettings, ScoreSettings)
}


@dataclass(frozen=True)
class Settings:
    """All four sections, typed."""

    train: TrainSettings = field(default_factory=TrainSettings)
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    score: ScoreSettings = field(default_factory=ScoreSettings)

    @classmethod
    def from_dicts(cls, sections: Mapping[str, Mapping[str, Any] | None]) -> Settings:
        """A typed view of section dicts as they stand (defaults for keys not given, nothing
        checked but the names): ``resolve_settings`` is the checked route."""
        out = {}
        for name, kind in SECTION_TYPES.items():
            given = _section_table(name, sections.get(name))
            _check_known(name, given)
            out[name] = kind(**given)
        return cls(**out)

    def to_dicts(self) -> dict[str, dict[str, Any]]:
        """The sections as a RunConfig stores them (fields in declaration order)."""
        return {name: jsonable(dataclasses.asdict(getattr(self, name))) for name in SECTION_TYPES}


# ---- what each field declares, as tables -----------------------------------------------------


@dataclass(frozen=True)
class SettingInfo:
    """One setting as its field declares it; ``kind``: bool, int, float (any number), str,
    list or dict; ``optional``: None is a value of its own (the default)."""

    where: str  # section.name
    default: Any
    kind: type | None
    optional: bool
    choices: tuple[str, ...]
    in_id: bool | str
    typed: bool
    help: str


def _info(cls: type) -> dict[str, SettingInfo]:
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields(cls):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        kind, optional = _kind(hints[f.name])
        out[f.name] = SettingInfo(f"{cls.SECTION}.{f.name}", default, kind, optional,
                                  **f.metadata)
    return out


def _kind(annotation: Any) -> tuple[type | None, bool]:
    """``int | None`` -> (int, True); ``list[float]`` -> (list, False); ``int | float``:
    float (any number)."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) \
        or typing.get_origin(annotation) is typing.Union else (annotation,)
    optional = type(None) in args
    kinds = {typing.get_origin(a) or a for a in args if a is not type(None)}
    if kinds == {int, float}:
        return float, optional
    kind = kinds.pop() if len(kinds) == 1 else None
    return (list if kind is tuple else kind), optional


INFO: dict[str, dict[str, SettingInfo]] = {name: _info(cls) for name, cls in SECTION_TYPES.items()}


def defaults() -> dict[str, dict[str, Any]]:
    """Every section's defaults (fresh lists each call)."""
    return Settings().to_dicts()


# ---- values: type checks, parsing ------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Tuples as lists, keys as strings: what a config holds once it went through JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
              list: "a list, e.g. [256,256]", dict: "a table"}


def convert(where: str, value: Any, kind: type, *, to_float: bool = True) -> Any:
    """``value`` checked to be of ``kind`` (and finite, for a number), as JSON holds it; an
    int given for a float is made a float with ``to_float``. A ConfigError otherwise."""
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        list: isinstance(value, (list, tuple)),
        dict: isinstance(value, dict),
    }[kind]
    if not ok:
        raise ConfigError(
            f"{where} must be {TYPE_WORDS[kind]}, got {value!r} ({type(value).__name__})")
    if kind is float:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{where} must be a finite number, got {number!r}")
        if to_float:
            value = number
    return jsonable(value)


def _check_value(info: SettingInfo, value: Any, *, convert_float: bool) -> Any:
    if value is None:
        if info.optional or info.kind is None:
            return None
        raise ConfigError(f"{info.where} must be {TYPE_WORDS[info.kind]}, got None (NoneType)")
    if not info.typed or info.kind is None:
        return jsonable(value)
    # An int given for a setting whose default is None stays an int: stored run ids hash it so.
    return convert(info.where, value, info.kind, to_float=convert_float and not info.optional)


def _check_choice(info: SettingInfo, value: Any) -> None:
    if info.choices and value not in info.choices:
        raise ConfigError(
            f"{info.where} must be one of {', '.join(info.choices)}, got {value!r}")


def check_fields(section: Any) -> None:
    """Every field of a section object of its declared kind and among its choices."""
    for name, info in INFO[section.SECTION].items():
        value = getattr(section, name)
        _check_value(info, value, convert_float=False)
        _check_choice(info, value)


def _section_table(name: str, given: Any) -> Mapping[str, Any]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise ConfigError(f"{name} must be a table of settings, got {given!r}")
    return given


def _check_known(name: str, given: Mapping[str, Any]) -> None:
    unknown = set(given) - set(INFO[name])
    if unknown:
        raise ConfigError(
            f"unknown {name} setting(s) {', '.join(sorted(map(str, unknown)))}; "
            f"{name} settings: {', '.join(INFO[name])}"
        )


def parse_section(name: str, given: Mapping[str, Any] | None) -> Any:
    """One section from what was given: names known, values of their kind (ints given for
    floats made floats), among their choices, defaults for the rest. Not yet validated."""
    given = _section_table(name, given)
    _check_known(name, given)
    values = {}
    for key, info in INFO[name].items():
        value = _check_value(info, given[key], convert_float=True) if key in given \
            else jsonable(info.default)
        _check_choice(info, value)
        values[key] = value
    return SECTION_TYPES[name](**values)


def validate(settings: Settings) -> None:
    """Every section's checks, and those across sections (selection at checkpoints)."""
    for name in SECTION_TYPES:
        check_fields(getattr(settings, name))
    settings.train.validate()
    settings.score.validate(settings.train)
    settings.noise.validate()
    settings.optimizer.validate()


def resolve_settings(sections: Mapping[str, Mapping[str, Any] | None]) -> Settings:
    """The four sections from what was given (``{"train": {...}, ...}``, any may be left
    out): parsed, the budget made canonical, validated. A ConfigError names the fix."""
    parsed = {name: parse_section(name, sections.get(name)) for name in SECTION_TYPES}
    parsed["train"] = parsed["train"].resolved()
    settings = Settings(**parsed)
    validate(settings)
    return settings
