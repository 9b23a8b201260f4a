"""The plugin contract in code, once: what a plugin must be, and the checks that enforce it.

The Protocols below are the contract text of CONTRIBUTING.md, for type checkers and readers.
Plugins are duck-typed: a plugin imports nothing from ganbench, and an object that has the
right attributes and methods keeps the contract whether or not it names these classes.

The structural checks (shapes, types, methods, arities) live here and nowhere else. Each
kind has a ``*_breaches`` function that lists every way an object breaks the contract as
:class:`Breach` values; :mod:`ganbench.testing` (and so ``ganbench check-plugin``) reports all
of them, and the raising checks :func:`check_dataset`, :func:`check_module`,
:func:`check_loss` and :func:`check_models`, which :func:`ganbench.runner.prepare` calls before
training, raise the first as a one-line :class:`PluginError` or :class:`ConfigError`. The
behavioural checks (gradients, determinism, the sign of a loss) stay in ``ganbench.testing``.

This module is longer than 400 lines because it keeps the contract of every plugin kind,
as Protocols and as the checks that enforce them, side by side, so that the two cannot drift.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ganbench.errors import ConfigError, GanbenchError, PluginError

SPLITS = ("train", "valid", "test")

# What each kind of plugin must be, in the words the checks use when they fail.
DATASET = ("an object with `shape` (one sample's shape, a tuple) and `splits` (a mapping of "
           "train, valid, test to float32 tensors of shape (N, *shape))")
GENERATOR = "a torch.nn.Module mapping (N, noise_dim) noise to (N, *data_shape) samples"
DISCRIMINATOR = "a torch.nn.Module mapping (N, *data_shape) data to (N,) logits"
LOSS = ("an object with discriminator_loss(real_logits, fake_logits) and "
        "generator_loss(fake_logits), scalar tensors")


# ---- the contract as Protocols ----


@runtime_checkable
class Dataset(Protocol):
    """What ``factory(**options)`` of a ``ganbench.datasets`` entry point returns.

    ``shape`` is one example's shape, a tuple of positive ints; ``splits`` maps ``"train"``,
    ``"valid"`` and ``"test"`` to float32 tensors of shape ``(N, *shape)`` (N >= 1, finite
    values); images are scaled to [0, 1].

    Optional attributes, read when present (see :class:`MixtureDataset`,
    :class:`FeatureDataset`): ``default_metrics``, the names of the metrics to report on this
    dataset; ``modes`` (a ``(K, d)`` tensor of mixture centres) and ``mode_std`` for
    mixtures; ``features(x)``, a feature extractor for feature-space metrics.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def splits(self) -> Mapping[str, Tensor]: ...


@runtime_checkable
class MixtureDataset(Dataset, Protocol):
    """A dataset drawn from a mixture of Gaussians: ``modes`` is a ``(K, d)`` tensor of the
    centres, ``mode_std`` their standard deviation (mode-counting metrics use them)."""

    @property
    def modes(self) -> Tensor: ...

    @property
    def mode_std(self) -> float: ...


@runtime_checkable
class FeatureDataset(Dataset, Protocol):
    """A dataset with a feature extractor for feature-space metrics: ``features(x)`` maps
    ``(N, *shape)`` data or samples to ``(N, d)`` features."""

    def features(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class DatasetWithMetrics(Dataset, Protocol):
    """A dataset that names the metrics to report on it by default (metric plugin names)."""

    @property
    def default_metrics(self) -> Sequence[str]: ...


@runtime_checkable
class Generator(Protocol):
    """What ``factory(noise_dim=..., data_shape=..., **options)`` of a ``ganbench.generators``
    entry point returns: a ``torch.nn.Module`` mapping ``(N, noise_dim)`` noise to
    ``(N, *data_shape)`` samples. Its randomness (dropout, noise) comes from torch's global
    generator, which ganbench seeds and checkpoints. It must be an ``nn.Module``
    (:func:`check_module`); the members listed are those the harness relies on."""

    def __call__(self, z: Tensor) -> Tensor: ...

    def parameters(self, recurse: bool = True) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


@runtime_checkable
class Discriminator(Protocol):
    """What ``factory(data_shape=..., **options)`` of a ``ganbench.discriminators`` entry point
    returns: a ``torch.nn.Module`` mapping ``(N, *data_shape)`` data to ``(N,)`` **logits**
    (no sigmoid). Its randomness comes from torch's global generator. It must be an
    ``nn.Module`` (:func:`check_module`); the members listed are those the harness relies on."""

    def __call__(self, x: Tensor) -> Tensor: ...

    def parameters(self, recurse: bool = True) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


@runtime_checkable
class Loss(Protocol):
    """What ``factory(**options)`` of a ``ganbench.losses`` entry point returns.

    ``discriminator_loss(real_logits, fake_logits)`` and ``generator_loss(fake_logits)`` take
    ``(N,)`` logits and return scalar (0-dim) tensors to **minimise**. A loss may be
    stochastic and may use soft targets.

    Optional hooks, called when present (see :class:`LossWithPenalty`,
    :class:`LossWithStepHook`, :class:`RelativisticLoss`): ``penalty(discriminator, real,
    fake)``, a scalar added to D's loss on every D step (``fake`` is detached);
    ``after_discriminator_step(discriminator)``, called after every D optimizer step; and
    ``needs_real_for_generator = True`` with ``generator_loss(fake_logits, real_logits=None)``.
    """

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor: ...

    def generator_loss(self, fake_logits: Tensor) -> Tensor: ...


@runtime_checkable
class LossWithPenalty(Loss, Protocol):
    """A loss whose ``penalty(discriminator, real, fake)`` is added to D's loss on every D
    step (gradient penalties, R1); ``fake`` is detached."""

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor: ...


@runtime_checkable
class LossWithStepHook(Loss, Protocol):
    """A loss called with ``after_discriminator_step(discriminator)`` after every D optimizer
    step (weight clipping)."""

    def after_discriminator_step(self, discriminator: nn.Module) -> None: ...


@runtime_checkable
class RelativisticLoss(Loss, Protocol):
    """A loss whose generator objective needs D's logits on real data: it sets
    ``needs_real_for_generator = True`` and the trainer calls
    ``generator_loss(fake_logits, real_logits=D(real))`` with a fresh real minibatch."""

    needs_real_for_generator: bool

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class Metric(Protocol):
    """What ``factory(**options)`` of a ``ganbench.metrics`` entry point returns.

    ``compute(samples, dataset)`` scores a generator's ``(N, *shape)`` samples against a
    dataset and returns named values, ``dict[str, float]``; ``higher_is_better`` maps each of
    those names to whether a higher value is better. Value ``key`` of metric ``m`` becomes the
    results column ``m_key`` (``m`` when ``key == m``). A metric may decline a dataset with a
    reason (see :class:`SelectiveMetric`).
    """

    @property
    def higher_is_better(self) -> Mapping[str, bool]: ...

    def compute(self, samples: Tensor, dataset: Dataset) -> dict[str, float]: ...


@runtime_checkable
class SelectiveMetric(Metric, Protocol):
    """A metric that applies to some datasets only: ``applies_to(dataset)`` returns None when
    it applies, else the reason it does not (e.g. "needs `modes`: not a mixture")."""

    def applies_to(self, dataset: Dataset) -> str | None: ...


PROTOCOLS: dict[str, type] = {
    "dataset": Dataset,
    "generator": Generator,
    "discriminator": Discriminator,
    "loss": Loss,
    "metric": Metric,
}


# ---- breaches ----


@dataclass(frozen=True)
class Breach:
    """One way a plugin object breaks the contract.

    ``check`` names the ``ganbench.testing`` check it fails, ``detail`` says what the contract
    expected and what came back (for check results), and ``line`` is the one-line error,
    naming the plugin, that stops a run before training (raised as ``error``)."""

    check: str
    detail: str
    line: str
    error: type[GanbenchError] = PluginError
    cause: BaseException | None = None

    def raise_(self) -> NoReturn:
        exc = self.error(self.line)
        if self.cause is not None:
            raise exc from self.cause
        raise exc


def describe(obj: Any) -> str:
    """``a tensor of shape (5, 2) (torch.float32)``, ``a dict``: what came back, briefly."""
    if isinstance(obj, Tensor):
        return f"a tensor of shape {tuple(obj.shape)} ({obj.dtype})"
    return f"a {type(obj).__name__}"


def error_text(exc: BaseException) -> str:
    """``ValueError: first line of the message``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _raised(exc: BaseException) -> str:  # the pre-training errors' form of the same
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def binds(method: Callable, *args: Any, **kwargs: Any) -> str | None:
    """None if ``method`` can be called with these arguments, else why not."""
    try:
        inspect.signature(method).bind(*args, **kwargs)
    except TypeError as exc:
        return str(exc)
    except ValueError:  # no signature to read (a builtin): assume it fits
        pass
    return None


def _raise_first(breaches: Sequence[Breach]) -> None:
    if breaches:
        breaches[0].raise_()


# ---- datasets ----


def is_mapping(splits: Any) -> bool:
    """A Mapping, or duck-typed as one (``keys()`` and ``[]``)."""
    return isinstance(splits, Mapping) or (hasattr(splits, "keys")
                                           and hasattr(splits, "__getitem__"))


def dataset_breaches(dataset: Any, name: str = "dataset") -> list[Breach]:
    """Every breach of the dataset contract: ``shape`` a tuple of positive ints, ``splits`` a
    mapping with train, valid and test, each a float32 tensor of shape ``(N, *shape)``,
    N >= 1, finite. At most one breach per split."""
    shape: Any = getattr(dataset, "shape", None)
    splits: Any = getattr(dataset, "splits", None)
    malformed = (f"dataset {name!r} broke the contract: expected an object with `shape` (a tuple) "
                 f"and `splits` (a mapping), got {type(dataset).__name__}")
    out = []
    if not (isinstance(shape, tuple) and all(isinstance(d, int) and d > 0 for d in shape)):
        out.append(Breach("shape", f"expected `shape` a tuple of positive ints, got {shape!r} "
                                   f"from {describe(dataset)}",
                          malformed if not isinstance(shape, tuple) else
                          f"dataset {name!r} broke the contract: `shape` must be a tuple of "
                          f"positive ints, got {shape!r}"))
    if not is_mapping(splits):
        out.append(Breach("splits", f"expected {DATASET}; got {describe(dataset)} whose `splits` "
                                    f"is {describe(splits)}", malformed))
        return sorted(out, key=lambda b: b.line != malformed)  # raised first: as it always was
    keys = list(splits.keys())
    for split in SPLITS:
        if split not in keys:
            out.append(Breach("splits", f"no {split!r} split (keys: {', '.join(map(str, keys))})",
                              f"dataset {name!r} has no {split!r} split (it needs train, valid, "
                              "test)"))
            continue
        x = splits[split]
        wrong = (f"dataset {name!r} split {split!r} must be a tensor of shape (N, *{shape}), got "
                 f"{tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")
        if not isinstance(x, Tensor):
            out.append(Breach("splits", f"{split!r} is {describe(x)}, expected a float32 tensor",
                              wrong))
        elif isinstance(shape, tuple) and (x.dim() == 0 or tuple(x.shape[1:]) != shape):
            out.append(Breach("splits", f"{split!r} has shape {tuple(x.shape)}, expected "
                                        f"(N, *{shape}) with N >= 1", wrong))
        elif x.dim() == 0 or len(x) == 0:
            out.append(Breach("splits", f"{split!r} has shape {tuple(x.shape)}, expected "
                                        f"(N, *{shape}) with N >= 1",
                              f"dataset {name!r} split {split!r} is empty; each of train, valid "
                              "and test needs at least one example"))
        elif x.dtype != torch.float32:
            out.append(Breach("splits", f"{split!r} is {x.dtype}, expected torch.float32",
                              f"dataset {name!r} split {split!r} is {x.dtype}; the contract is "
                              "float32 tensors (convert with .float())"))
        elif not torch.isfinite(x).all():
            out.append(Breach("splits", f"{split!r} holds non-finite values",
                              f"dataset {name!r} split {split!r} holds NaN or inf values"))
    return out


def check_dataset(name: str, dataset: Any) -> tuple[int, ...]:
    """The dataset's ``shape``, or the first breach of its contract raised as a PluginError."""
    _raise_first(dataset_breaches(dataset, name))
    return dataset.shape


# ---- generators and discriminators ----


def module_breach(part: str, obj: Any, name: str | None = None) -> Breach | None:
    """None if the generator's or discriminator's factory returned an ``nn.Module``."""
    if isinstance(obj, nn.Module):
        return None
    expected = GENERATOR if part == "generator" else DISCRIMINATOR
    return Breach("returns a module", f"expected {expected}, got {describe(obj)}",
                  f"{part} {name or part!r} broke the contract: its factory must return a "
                  f"torch.nn.Module, got {type(obj).__name__}")


def check_module(part: str, name: str, obj: Any) -> nn.Module:
    """``obj`` if it is an ``nn.Module``, else a PluginError naming the ``part`` and plugin."""
    breach = module_breach(part, obj, name)
    if breach is not None:
        breach.raise_()
    return obj


def generator_output(G: Any, z: Tensor, shape: tuple[int, ...], *, name: str = "generator",
                     dataset: str = "dataset") -> tuple[Any, Breach | None]:
    """``G(z)`` and None, or what came back and the breach: G raised, or its samples are not
    a tensor of shape ``(len(z), *shape)``."""
    try:
        x = G(z)
    except Exception as exc:
        return None, Breach("output shape",
                            f"noise of shape {tuple(z.shape)} raised {error_text(exc)}",
                            f"generator {name!r} failed on noise of shape {tuple(z.shape)}: "
                            f"{_raised(exc)}", cause=exc)
    if isinstance(x, Tensor) and tuple(x.shape) == (len(z), *shape):
        return x, None
    got: Any = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
    return x, Breach("output shape",
                     f"expected samples of shape {(len(z), *shape)} from noise of shape "
                     f"{tuple(z.shape)}, got {describe(x)}",
                     f"generator {name!r} makes samples of shape "
                     f"{got[1:] if isinstance(got, tuple) else got}, but dataset {dataset!r} has "
                     f"shape {shape}; choose a generator (or its options) that outputs {shape}",
                     ConfigError)


def discriminator_output(D: Any, x: Tensor, shape: tuple[int, ...], *,
                         name: str = "discriminator") -> tuple[Any, Breach | None]:
    """``D(x)`` and None, or what came back and the breach: D raised, or its logits are not a
    tensor of shape ``(len(x),)``."""
    n = len(x)
    try:
        logits = D(x)
    except Exception as exc:
        return None, Breach("output shape",
                            f"data of shape {tuple(x.shape)} raised {error_text(exc)}",
                            f"discriminator {name!r} failed on data of shape ({n}, *{shape}): "
                            f"{_raised(exc)}", cause=exc)
    if isinstance(logits, Tensor) and tuple(logits.shape) == (n,):
        return logits, None
    hint = (" (squeeze the last dimension)"
            if isinstance(logits, Tensor) and tuple(logits.shape) == (n, 1) else "")
    got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
    return logits, Breach("output shape",
                          f"expected logits of shape ({n},) from data of shape {tuple(x.shape)}, "
                          f"got {describe(logits)}{hint}",
                          f"discriminator {name!r} returned {got} for {n} examples; the contract "
                          "is (N,) logits (squeeze the last dimension, no sigmoid)", ConfigError)


def check_models(G: Any, D: Any, shape: tuple[int, ...], *, noise_dim: int,
                 generator: str = "generator", discriminator: str = "discriminator",
                 dataset: str = "dataset") -> None:
    """G and D fit each other and the data: one forward pass of two samples from zero noise,
    G's to ``(2, *shape)`` and D's to ``(2,)`` logits, under a forked random state and without
    gradients, so that no random stream of the run moves. Raises the first breach."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        x, breach = generator_output(G, torch.zeros(2, noise_dim), shape, name=generator,
                                     dataset=dataset)
        if breach is None:
            _, breach = discriminator_output(D, x, shape, name=discriminator)
    if breach is not None:
        breach.raise_()


# ---- losses ----


def needs_real(loss: Any) -> bool:
    """Whether the trainer calls ``generator_loss(fake_logits, real_logits=...)``."""
    return bool(getattr(loss, "needs_real_for_generator", False))


def loss_method_breaches(loss: Any, name: str = "loss") -> list[Breach]:
    """Both methods are there and callable as the trainer calls them: with
    ``needs_real_for_generator`` true, ``generator_loss(fake_logits, real_logits=...)``."""
    missing = [m for m in ("discriminator_loss", "generator_loss")
               if not callable(getattr(loss, m, None))]
    if missing:
        return [Breach("methods", f"expected {LOSS}; got {describe(loss)} without "
                                  f"{' or '.join(m + '(...)' for m in missing)}",
                       f"loss {name!r} broke the contract: it has no {missing[0]}(...) method")]
    r, f = object(), object()  # placeholders: only the arity is checked
    problems = []
    if why := binds(loss.discriminator_loss, r, f):
        problems.append(f"discriminator_loss(real_logits, fake_logits) cannot be called: {why}")
    if needs_real(loss):
        if why := binds(loss.generator_loss, f, real_logits=r):
            problems.append("needs_real_for_generator is true, so generator_loss(fake_logits, "
                            f"real_logits=...) must work: {why}")
    elif why := binds(loss.generator_loss, f):
        problems.append(f"generator_loss(fake_logits) cannot be called: {why}")
    return [Breach("methods", p, f"loss {name!r} broke the contract: {p}") for p in problems]


def hook_breaches(loss: Any, name: str = "loss") -> list[Breach]:
    """The optional hooks, where present (not None), are methods of the right arity:
    ``penalty(discriminator, real, fake)``, ``after_discriminator_step(discriminator)``."""
    out = []
    for hook, args in (("penalty", ("discriminator", "real", "fake")),
                       ("after_discriminator_step", ("discriminator",))):
        method = getattr(loss, hook, None)
        if method is None:
            continue
        if not callable(method):
            detail = (f"expected penalty to be a method, got {describe(method)}"
                      if hook == "penalty" else f"expected a method, got {describe(method)}")
            out.append(Breach(hook, detail, f"loss {name!r} broke the contract: {hook} must be a "
                                            f"method {hook}({', '.join(args)}), got "
                                            f"{type(method).__name__}"))
        elif why := binds(method, *(object() for _ in args)):
            detail = f"expected {hook}({', '.join(args)}): {why}"
            out.append(Breach(hook, detail, f"loss {name!r} broke the contract: {detail}"))
    return out


def check_loss(name: str, loss: Any) -> Any:
    """``loss`` if its methods and hooks keep the contract, else the first breach raised as a
    PluginError."""
    _raise_first(loss_method_breaches(loss, name) or hook_breaches(loss, name))
    return loss


# ---- metrics ----
# The metric group's structural checks belong here when metric plugins arrive, in the same
# form: ``metric_breaches(metric, name)`` (``compute`` callable as ``compute(samples,
# dataset)``, ``higher_is_better`` a mapping of names to bools, ``applies_to`` callable with
# one argument where present) and ``check_metric(name, metric)`` raising the first;
# ``ganbench.testing`` then adds the behavioural ones (values are finite floats whose names
# are all in ``higher_is_better``; declining returns a reason string).
