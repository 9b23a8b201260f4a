"""Checks of the plugin contract, for a plugin's own test suite and ``ganbench check-plugin``.

    from ganbench.testing import assert_plugin_ok

    def test_my_loss_keeps_the_contract():
        assert_plugin_ok(my_loss_factory, kind="loss")      # a factory, before it is installed
        assert_plugin_ok("loss", "my-loss")                  # or an installed entry point

Each ``check_<kind>(factory)`` builds the plugin with its default options (plus ``options``)
and returns a list of :class:`CheckResult`; a check that fails says what the contract expected
and what came back. The checks run under a forked random state: the caller's is untouched.

The structural checks (types, shapes, methods, arities) are :mod:`ganbench.contract`'s, the
same that run before training; this module adds the behavioural ones (finite values,
gradients, determinism, a loss's sign, calling the hooks) over several configurations. It is
longer than 400 lines because those behavioural checks of four kinds of plugin, each with
messages that say what was expected and what came back, belong together in the kit that
plugin authors read; the structural half and its helpers already live in contract.py.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ganbench import contract, plugins
from ganbench.contract import (
    DATASET,
    DISCRIMINATOR,
    GENERATOR,
    LOSS,
    SPLITS,
    describe,
    error_text,
    is_mapping,
    needs_real,
)
from ganbench.errors import PluginError

DATA_SHAPES: tuple[tuple[int, ...], ...] = ((1,), (2,), (784,), (1, 8, 8))
NOISE_DIMS: tuple[int, ...] = (2, 16)
BATCH = 5
EXTREME_LOGITS = (-1e4, 0.0, 1e4)
SIGN_DRAWS = 16  # draws per expected loss in the sign check (a loss may be stochastic)
HARNESS_ARGUMENTS = {
    "generator": ("noise_dim", "data_shape"),
    "discriminator": ("data_shape",),
    "loss": (),
    "dataset": (),
    "metric": (),
}


@dataclass(frozen=True)
class CheckResult:
    """One check of the contract: its name, whether it passed, and what was seen."""

    name: str
    passed: bool
    message: str

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.message}"


def format_results(results: Iterable[CheckResult]) -> str:
    """One line per check, ``PASS name: message`` or ``FAIL name: message``."""
    return "\n".join(str(r) for r in results)


class _Checks:
    """Problems collected per check over several configurations, one result per check."""

    def __init__(self) -> None:
        self.results: list[CheckResult] = []
        self.problems: dict[str, list[str]] = {}

    def add(self, name: str, passed: bool, message: str) -> None:
        self.results.append(CheckResult(name, passed, message))

    def ran(self, name: str) -> None:
        self.problems.setdefault(name, [])

    def problem(self, name: str, message: str) -> None:
        self.problems.setdefault(name, []).append(message)

    def close(self, passed_messages: Mapping[str, str]) -> list[CheckResult]:
        for name, problems in self.problems.items():
            if problems:
                more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
                self.add(name, False, "; ".join(problems[:3]) + more)
            else:
                self.add(name, True, passed_messages.get(name, "ok"))
        return self.results


def _call(factory: Callable, kwargs: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{getattr(factory, '__name__', 'factory')}({args})"


def _check_options(checks: _Checks, factory: Any, kind: str) -> bool:
    """The factory is callable, and its signature names every option with a default."""
    if not callable(factory):
        checks.add("factory", False, f"expected a callable factory, got {describe(factory)}")
        return False
    harness = HARNESS_ARGUMENTS[kind]
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError) as exc:
        checks.add("options", False, f"the factory's signature cannot be read ({error_text(exc)}): "
                                     "options must be introspectable keyword arguments")
        return True
    problems = []
    hidden = [n for n, p in params.items() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if hidden:
        stars = ", ".join(("*" if params[n].kind == params[n].VAR_POSITIONAL else "**") + n
                          for n in hidden)
        problems.append(f"options hidden behind {stars} cannot be listed or type-checked: "
                        "name each option with a default")
    missing = [n for n in harness if n not in params]
    if missing and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        problems.append(f"a {kind} factory is called with {', '.join(h + '=...' for h in harness)}"
                        f" but it does not accept {', '.join(missing)}")
    no_default = [n for n, p in params.items() if p.default is p.empty and n not in harness
                  and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if no_default:
        problems.append(f"option(s) without a default: {', '.join(no_default)}; every option "
                        "needs one so that the plugin can be built from its name alone")
    positional = [n for n, p in params.items() if p.kind == p.POSITIONAL_ONLY]
    if positional:
        problems.append(f"positional-only parameter(s) {', '.join(positional)}: options are "
                        "passed by keyword")
    if problems:
        checks.add("options", False, "; ".join(problems))
    else:
        options = [n for n in params if n not in harness]
        checks.add("options", True, f"options: {', '.join(options) or 'none'}, each with a default")
    return True


def _build(checks: _Checks, factory: Callable, kwargs: dict[str, Any], expected: str,
           where: str = "") -> Any:
    """``factory(**kwargs)``, or None with a ``build`` problem recorded."""
    checks.ran("build")
    try:
        return factory(**kwargs)
    except Exception as exc:
        checks.problem("build", f"{where}expected {_call(factory, kwargs)} to return {expected}, "
                                f"but it raised {error_text(exc)}")
        return None


def _missing_gradients(module: nn.Module) -> list[str]:
    return [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]


def _non_finite_gradients(module: nn.Module) -> list[str]:
    return [n for n, p in module.named_parameters()
            if p.grad is not None and not torch.isfinite(p.grad).all()]


# ---- generators ----

def check_generator(factory: Any, *, options: Mapping[str, Any] | None = None,
                    data_shapes: Iterable[tuple[int, ...]] = DATA_SHAPES,
                    noise_dims: Iterable[int] = NOISE_DIMS) -> list[CheckResult]:
    """Output shapes for several data shapes and noise dims, finite outputs, gradients reaching
    every parameter, determinism under ``torch.manual_seed``."""
    checks = _Checks()
    if not _check_options(checks, factory, "generator"):
        return checks.results
    data_shapes, noise_dims = [tuple(s) for s in data_shapes], list(noise_dims)
    with torch.random.fork_rng(devices=[]):
        for shape in data_shapes:
            for noise_dim in noise_dims:
                kwargs = {"noise_dim": noise_dim, "data_shape": shape, **(options or {})}
                _check_generator_once(checks, factory, kwargs, noise_dim, shape)
    shapes = ", ".join(map(str, data_shapes))
    return checks.close({
        "build": f"built for data shapes {shapes} and noise dims "
                 f"{', '.join(map(str, noise_dims))}",
        "returns a module": "an nn.Module",
        "output shape": "(N, *data_shape) for every data shape and noise dim",
        "finite output": "finite samples",
        "gradients": "gradients reach every parameter, finite",
        "deterministic": "same samples under the same torch.manual_seed",
    })


def _check_generator_once(checks: _Checks, factory: Callable, kwargs: dict[str, Any],
                          noise_dim: int, shape: tuple[int, ...]) -> None:
    where = f"noise_dim={noise_dim}, data_shape={shape}: "
    torch.manual_seed(0)
    G = _build(checks, factory, kwargs, GENERATOR, where)
    if G is None:
        return
    if not _is_module(checks, "generator", G):
        return
    torch.manual_seed(1)
    z = torch.randn(BATCH, noise_dim)
    checks.ran("output shape")
    x, breach = contract.generator_output(G, z, shape)
    if breach is not None:
        checks.problem(breach.check, where + breach.detail)
        return
    checks.ran("finite output")
    if not torch.isfinite(x).all():
        checks.problem("finite output", f"{where}non-finite samples from standard normal noise")
    _check_gradients(checks, G, x, where)

    checks.ran("deterministic")
    try:
        again = []
        for _ in range(2):
            torch.manual_seed(0)
            model = factory(**kwargs)
            torch.manual_seed(1)
            again.append(model(z).detach())
        if not torch.equal(again[0], again[1]):
            checks.problem("deterministic", f"{where}two builds and forward passes under the same "
                                            "torch.manual_seed gave different samples")
    except Exception as exc:
        checks.problem("deterministic", f"{where}rebuilding raised {error_text(exc)}")


def _is_module(checks: _Checks, part: str, obj: Any) -> bool:
    checks.ran("returns a module")
    breach = contract.module_breach(part, obj)
    if breach is not None:
        checks.problem(breach.check, breach.detail)
    return breach is None


def _check_gradients(checks: _Checks, module: nn.Module, out: Tensor, where: str) -> None:
    checks.ran("gradients")
    module.zero_grad(set_to_none=True)
    try:
        (out * torch.randn_like(out)).sum().backward()
    except Exception as exc:
        checks.problem("gradients",
                       f"{where}backward through the output raised {error_text(exc)}")
        return
    missing, bad = _missing_gradients(module), _non_finite_gradients(module)
    if missing:
        checks.problem("gradients", f"{where}no gradient reaches parameter(s) {', '.join(missing)}")
    if bad:
        checks.problem("gradients", f"{where}non-finite gradient in {', '.join(bad)}")
    module.zero_grad(set_to_none=True)


# ---- discriminators ----

def check_discriminator(factory: Any, *, options: Mapping[str, Any] | None = None,
                        data_shapes: Iterable[tuple[int, ...]] = DATA_SHAPES) -> list[CheckResult]:
    """``(N,)`` logits for several data shapes, finite, gradients reaching every parameter,
    deterministic in eval mode under ``torch.manual_seed``."""
    checks = _Checks()
    if not _check_options(checks, factory, "discriminator"):
        return checks.results
    data_shapes = [tuple(s) for s in data_shapes]
    with torch.random.fork_rng(devices=[]):
        for shape in data_shapes:
            _check_discriminator_once(checks, factory, {"data_shape": shape, **(options or {})},
                                      shape)
    return checks.close({
        "build": f"built for data shapes {', '.join(map(str, data_shapes))}",
        "returns a module": "an nn.Module",
        "output shape": "(N,) logits for every data shape",
        "finite output": "finite logits",
        "gradients": "gradients reach every parameter, finite",
        "deterministic": "eval mode: the same logits twice, and under the same torch.manual_seed",
    })


def _check_discriminator_once(checks: _Checks, factory: Callable, kwargs: dict[str, Any],
                              shape: tuple[int, ...]) -> None:
    where = f"data_shape={shape}: "
    torch.manual_seed(0)
    D = _build(checks, factory, kwargs, DISCRIMINATOR, where)
    if D is None:
        return
    if not _is_module(checks, "discriminator", D):
        return
    torch.manual_seed(1)
    x = torch.rand(BATCH, *shape)
    checks.ran("output shape")
    logits, breach = contract.discriminator_output(D, x, shape)
    if breach is not None:
        checks.problem(breach.check, where + breach.detail)
        return
    checks.ran("finite output")
    if not torch.isfinite(logits).all():
        checks.problem("finite output", f"{where}non-finite logits for data in [0, 1]")
    _check_gradients(checks, D, logits, where)

    checks.ran("deterministic")
    try:
        outputs = []
        for _ in range(2):
            torch.manual_seed(0)
            model = factory(**kwargs).eval()
            with torch.no_grad():
                outputs += [model(x), model(x)]
        if not torch.equal(outputs[0], outputs[1]):
            checks.problem("deterministic", f"{where}in eval mode the same data gave different "
                                            "logits twice (dropout or noise left on?)")
        elif not torch.equal(outputs[0], outputs[2]):
            checks.problem("deterministic", f"{where}two builds under the same torch.manual_seed "
                                            "gave different logits")
    except Exception as exc:
        checks.problem("deterministic", f"{where}rebuilding raised {error_text(exc)}")


# ---- losses ----

class _TinyDiscriminator(nn.Module):
    """A small discriminator to call a loss's hooks with."""

    def __init__(self, data_shape: tuple[int, ...]):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(data_shape), 8),
                                 nn.LeakyReLU(0.2), nn.Linear(8, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)


def check_loss(factory: Any, *, options: Mapping[str, Any] | None = None) -> list[CheckResult]:
    """Scalar outputs, finite values and gradients at extreme logits, the sign of the
    discriminator's and generator's objectives, and the optional hooks."""
    checks = _Checks()
    if not _check_options(checks, factory, "loss"):
        return checks.results
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        kwargs = dict(options or {})
        loss = _build(checks, factory, kwargs, LOSS)
        if loss is None:
            return checks.close({})
        if not _check_loss_methods(checks, loss):
            return checks.close({"build": "built"})
        _check_loss_values(checks, loss)
        _check_loss_hooks(checks, loss)
    how = ("generator_loss(fake_logits, real_logits=...) (needs_real_for_generator)"
           if needs_real(loss) else "generator_loss(fake_logits)")
    return checks.close({
        "build": "built",
        "methods": f"discriminator_loss(real_logits, fake_logits), {how}",
        "scalar": "both losses are 0-dim tensors",
        "finite at extreme logits": f"finite values and gradients for logits in {EXTREME_LOGITS}",
        "sign": "D's loss prefers telling real from fake to the reverse; G's, fakes rated real",
        "penalty": "penalty(discriminator, real, fake) is a finite scalar",
        "after_discriminator_step": "after_discriminator_step(discriminator) runs",
    })


def _generator_loss(loss: Any, fake: Tensor, real: Tensor) -> Any:
    if needs_real(loss):
        return loss.generator_loss(fake, real_logits=real)
    return loss.generator_loss(fake)


def _check_loss_methods(checks: _Checks, loss: Any) -> bool:
    checks.ran("methods")
    breaches = contract.loss_method_breaches(loss)
    for breach in breaches:
        checks.problem(breach.check, breach.detail)
    return not breaches


def _losses(checks: _Checks, loss: Any, real: Tensor, fake: Tensor, check: str,
            where: str) -> tuple[Any, Any] | None:
    try:
        return loss.discriminator_loss(real, fake), _generator_loss(loss, fake, real)
    except Exception as exc:
        checks.problem(check, f"{where}raised {error_text(exc)}")
        return None


def _check_loss_values(checks: _Checks, loss: Any) -> None:
    torch.manual_seed(1)
    checks.ran("scalar")
    out = _losses(checks, loss, torch.randn(BATCH), torch.randn(BATCH), "scalar",
                  "on standard normal logits: ")
    if out is None:
        return
    for method, value in zip(("discriminator_loss", "generator_loss"), out):
        if not isinstance(value, Tensor) or value.dim() != 0:
            checks.problem("scalar", f"expected {method} to return a 0-dim tensor (a scalar to "
                                     f"minimise, e.g. .mean() over the batch), got {describe(value)}")
    if checks.problems["scalar"]:
        return

    check = "finite at extreme logits"
    checks.ran(check)
    batches = [[v] * BATCH for v in EXTREME_LOGITS] + [[-1e4, 0.0, 1e4, -1e4, 1e4]]
    for r in batches:
        for f in batches:
            real = torch.tensor(r, requires_grad=True)
            fake = torch.tensor(f, requires_grad=True)
            where = f"real logits {r[:3]}..., fake logits {f[:3]}...: "
            out = _losses(checks, loss, real, fake, check, where)
            if out is None:
                continue
            d, g = out
            if not (torch.isfinite(d) and torch.isfinite(g)):
                checks.problem(check, f"{where}losses {d.item()}, {g.item()} are not finite "
                                      "(use softplus forms, not log(sigmoid))")
                continue
            for method, value, inputs in (("discriminator_loss", d, [real, fake]),
                                          ("generator_loss", g, [fake])):
                if not value.requires_grad:
                    checks.problem(check, f"{method} has no gradient w.r.t. the logits "
                                          "(detached, or computed through .item()?)")
                    continue
                grads = torch.autograd.grad(value, inputs, allow_unused=True)
                if any(gr is None for gr in grads):
                    which = "real and fake" if len(inputs) == 2 else "fake"
                    checks.problem(check, f"{method} does not depend on the {which} logits")
                elif not all(torch.isfinite(gr).all() for gr in grads):
                    checks.problem(check, f"{where}{method} has non-finite gradients")
        if len(checks.problems[check]) > 3:
            break

    # What the contract promises, and no more: D's loss prefers telling real from fake to the
    # reverse, and G's loss prefers fakes rated real to fakes rated fake. (Not that a small
    # step from some point helps: targets need not be 0 and 1, and may be soft.) A loss may be
    # stochastic (targets drawn each call): each value is the mean over SIGN_DRAWS calls, the
    # i-th call of every value under the same RNG state (common random numbers).
    checks.ran("sign")
    ones, zeros = torch.ones(BATCH), torch.zeros(BATCH)

    def expected(fn: Any) -> float:
        total = 0.0
        for draw in range(SIGN_DRAWS):
            torch.manual_seed(1000 + draw)
            total += float(fn())
        return total / SIGN_DRAWS

    with torch.no_grad():
        try:
            d_right = expected(lambda: loss.discriminator_loss(ones, -ones))
            d_reverse = expected(lambda: loss.discriminator_loss(-ones, ones))
            g_right = expected(lambda: _generator_loss(loss, ones, zeros))
            g_reverse = expected(lambda: _generator_loss(loss, -ones, zeros))
        except Exception as exc:
            checks.problem("sign", f"raised {error_text(exc)}")
            return
    if not d_right < d_reverse:
        checks.problem("sign", "discriminator_loss (minimised) should be lower when D tells real "
                               "from fake (real logits +1, fake -1) than for the reverse (real "
                               f"-1, fake +1), but {d_right:.4g} vs {d_reverse:.4g}")
    if not g_right < g_reverse:
        checks.problem("sign", "generator_loss (minimised) should be lower when the fakes are "
                               "rated real (fake logits +1) than fake (-1), real logits 0, but "
                               f"{g_right:.4g} vs {g_reverse:.4g}")


def _check_loss_hooks(checks: _Checks, loss: Any) -> None:
    shape = (2, 3, 3)
    torch.manual_seed(2)
    D = _TinyDiscriminator(shape)
    real, fake = torch.rand(BATCH, *shape), torch.rand(BATCH, *shape)
    breaches = {b.check: b for b in contract.hook_breaches(loss)}

    penalty = getattr(loss, "penalty", None)
    if penalty is not None:
        checks.ran("penalty")
        if "penalty" in breaches:
            checks.problem("penalty", breaches["penalty"].detail)
        else:
            try:
                value = penalty(D, real, fake)
                if not isinstance(value, Tensor) or value.dim() != 0:
                    checks.problem("penalty", f"expected a 0-dim tensor added to the "
                                              f"discriminator's loss, got {describe(value)}")
                elif not torch.isfinite(value):
                    checks.problem("penalty", f"non-finite penalty {value.item()}")
                elif value.requires_grad:
                    value.backward()
                    if bad := _non_finite_gradients(D):
                        checks.problem("penalty", f"non-finite gradients in {', '.join(bad)}")
            except Exception as exc:
                checks.problem("penalty", "penalty(discriminator, real, fake) raised "
                                          f"{error_text(exc)}")

    after = getattr(loss, "after_discriminator_step", None)
    if after is not None:
        name = "after_discriminator_step"
        checks.ran(name)
        if name in breaches:
            checks.problem(name, breaches[name].detail)
        else:
            try:
                after(D)
                if any(not torch.isfinite(p).all() for p in D.parameters()):
                    checks.problem(name, "left non-finite discriminator parameters")
            except Exception as exc:
                checks.problem(name, "after_discriminator_step(discriminator) raised "
                                     f"{error_text(exc)}")


# ---- datasets ----

def check_dataset(factory: Any, *, options: Mapping[str, Any] | None = None) -> list[CheckResult]:
    """``shape`` a tuple; ``splits`` train/valid/test float32 tensors of shape (N, *shape),
    finite."""
    checks = _Checks()
    if not _check_options(checks, factory, "dataset"):
        return checks.results
    with torch.random.fork_rng(devices=[]):
        data = _build(checks, factory, dict(options or {}), DATASET)
    if data is None:
        return checks.close({})
    shape: Any = getattr(data, "shape", None)
    splits: Any = getattr(data, "splits", None)
    checks.ran("shape")
    checks.ran("splits")
    for breach in contract.dataset_breaches(data):
        checks.problem(breach.check, breach.detail)
    if not is_mapping(splits):
        return checks.close({"build": "built", "shape": f"shape {shape}"})
    sizes = ", ".join(f"{s} {len(splits[s])}" for s in SPLITS
                      if s in splits.keys() and isinstance(splits[s], Tensor) and splits[s].dim())
    return checks.close({
        "build": "built",
        "shape": f"shape {shape}",
        "splits": f"float32, finite, (N, *{shape}): {sizes}",
    })


class _ProbeData:
    """A small dataset a metric is tried on: 2-D points around 4 modes (with ``modes`` and
    ``mode_std``), or 8x8 images in [0, 1] (no feature extractor)."""

    def __init__(self, kind: str) -> None:
        g = torch.Generator().manual_seed(0)
        if kind == "mixture":
            self.modes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
            self.mode_std = 0.05
            self.shape = (2,)
            make = lambda n: (self.modes[torch.randint(0, 4, (n,), generator=g)]  # noqa: E731
                              + self.mode_std * torch.randn(n, 2, generator=g))
        else:
            self.shape = (1, 8, 8)
            make = lambda n: torch.rand(n, 1, 8, 8, generator=g)  # noqa: E731
        self.splits = {"train": make(400), "valid": make(200), "test": make(200)}
        self.kind = kind


def check_metric(factory: Any, *, options: Mapping[str, Any] | None = None) -> list[CheckResult]:
    """``compute(samples, dataset)`` returns a dict of finite floats, the same twice;
    ``higher_is_better`` maps (some of) its keys to booleans; ``applies_to``, when present,
    returns None or a reason. Tried on a 2-D mixture and on small images, where it applies."""
    checks = _Checks()
    if not _check_options(checks, factory, "metric"):
        return checks.results
    metric = _build(checks, factory, dict(options or {}), "an object with compute(samples, "
                    "dataset) -> dict[str, float] and higher_is_better")
    if metric is None:
        return checks.close({})
    checks.ran("methods")
    if not callable(getattr(metric, "compute", None)):
        checks.problem("methods", f"{describe(metric)} has no compute(samples, dataset) method")
        return checks.close({})
    hib = getattr(metric, "higher_is_better", None)
    if not isinstance(hib, Mapping) or not all(isinstance(k, str) and isinstance(v, bool)
                                               for k, v in hib.items()):
        checks.problem("methods", f"higher_is_better must map value names to True/False, got "
                                  f"{hib!r}")
    checks.ran("compute")
    tried = []
    for kind in ("mixture", "images"):
        data = _ProbeData(kind)
        applies = getattr(metric, "applies_to", None)
        reason = applies(data) if callable(applies) else None
        if reason is not None and not isinstance(reason, str):
            checks.problem("compute", f"applies_to must return None or a reason, got {reason!r}")
            continue
        if reason:
            tried.append(f"{kind}: does not apply ({reason})")
            continue
        samples = data.splits["test"]
        try:
            with torch.random.fork_rng(devices=[]):
                first = metric.compute(samples, data)
            with torch.random.fork_rng(devices=[]):
                second = metric.compute(samples, data)
        except Exception as exc:
            checks.problem("compute", f"compute on {kind} raised {error_text(exc)}")
            continue
        if not isinstance(first, Mapping) or not first:
            checks.problem("compute", f"compute on {kind} returned {describe(first)}, "
                                      f"expected a non-empty dict of floats")
            continue
        bad = [k for k, v in first.items() if not isinstance(k, str)
               or not isinstance(v, (int, float)) or not math.isfinite(float(v))]
        if bad:
            checks.problem("compute", f"compute on {kind}: values not finite numbers: {bad}")
        if first != second:
            checks.problem("compute", f"compute on {kind} gave different values on the same "
                                      f"samples (fix its random seed)")
        if isinstance(hib, Mapping) and set(hib) - set(first):
            checks.problem("compute", f"higher_is_better names {sorted(set(hib) - set(first))}, "
                                      f"which compute does not return")
        tried.append(f"{kind}: {', '.join(f'{k}={float(v):.4g}' for k, v in first.items())}")
    return checks.close({"build": "built", "methods": "compute, higher_is_better",
                         "compute": "; ".join(tried) or "applies to neither probe dataset"})


# ---- by name ----

CHECKS: dict[str, Callable[..., list[CheckResult]]] = {
    "generator": check_generator,
    "discriminator": check_discriminator,
    "loss": check_loss,
    "dataset": check_dataset,
    "metric": check_metric,
}


def _kind(kind: str) -> str:
    for k, group in plugins.GROUPS.items():  # loss, ganbench.losses, losses
        if kind in (k, group, group.rpartition(".")[2]) and k in CHECKS:
            return k
    choices = ", ".join(f"{k} ({plugins.GROUPS[k]})" for k in CHECKS)
    raise PluginError(f"cannot check plugins of kind {kind!r}; kinds: {choices}")


def check_plugin(kind: str, name: str, *, options: Mapping[str, Any] | None = None
                 ) -> list[CheckResult]:
    """Check an installed plugin by kind (``"loss"`` or ``"ganbench.losses"``, ...) and name.

    An unknown kind or name raises PluginError (a usage error); a plugin that cannot be
    imported is a failed ``import`` check. ``options`` are checked as ``train --set`` checks
    them (names against the factory's signature, values of each option's type; ints given
    for floats made floats): a bad one raises ConfigError, with train's wording."""
    kind = _kind(kind)
    info = plugins.find(kind, name)
    try:
        factory = plugins.load(kind, f"{info.distribution}:{info.name}")
    except PluginError as exc:
        return [CheckResult("import", False, str(exc))]
    if options:
        from ganbench import config as cfg  # the checks train applies (config.resolve)

        checked = cfg._resolve_options(kind, name, dict(options))
        options = {key: checked[key] for key in options}
    where = f"{info.value} from {info.distribution} {info.version}"
    return [CheckResult("import", True, where), *CHECKS[kind](factory, options=options)]


def assert_plugin_ok(kind_or_factory: str | Callable, name: str | None = None, *,
                     kind: str | None = None, options: Mapping[str, Any] | None = None
                     ) -> list[CheckResult]:
    """Raise AssertionError listing every failed check; return the results otherwise.

    ``assert_plugin_ok("loss", "hinge")`` checks an installed plugin;
    ``assert_plugin_ok(factory, kind="loss")`` checks a factory directly."""
    if isinstance(kind_or_factory, str):
        if name is None:
            raise TypeError("give a name: assert_plugin_ok(kind, name), "
                            "or assert_plugin_ok(factory, kind=...)")
        label = f"{kind_or_factory} {name!r}"
        results = check_plugin(kind_or_factory, name, options=options)
    else:
        if kind is None:
            raise TypeError("give the kind: assert_plugin_ok(factory, kind='loss'), one of "
                            f"{', '.join(CHECKS)}")
        label = f"{_kind(kind)} {getattr(kind_or_factory, '__name__', repr(kind_or_factory))}"
        results = CHECKS[_kind(kind)](kind_or_factory, options=options)
    failed = [r for r in results if not r.passed]
    if failed:
        lines = "\n".join(f"  {r.name}: {r.message}" for r in failed)
        raise AssertionError(f"{label} fails {len(failed)} of {len(results)} contract "
                             f"checks:\n{lines}")
    return results
