"""The evaluation stage: the one place where a generator's samples are drawn and scored.

Every number ganbench reports about a generator comes through here: the final score of a
training run, the checkpoint selection on the validation split, ``ganbench score`` (a stored
run scored again), ``ganbench parzen`` (samples made anywhere), and ``reproduce`` (unfinished
runs, committed generators, the real-data reference). So the protocol is written once:

- which samples: ``draw`` names each draw by its random stream (``ganbench.seeds.SEEDS``);
  a generator is always scored with the ``score`` stream, in eval mode;
- how many, against what: ``Protocol``, read from a run's score settings in one place;
- which numbers: the protocol's metrics, each an object with ``compute(samples, dataset)``
  returning a dict of floats; value ``key`` of metric ``m`` becomes the record column
  ``m_key`` (``m`` itself when ``key == m``, hyphens as underscores; see ``columns``).

Samples reach a metric on the evaluation device; a metric computes there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from ganbench import seeds
from ganbench.train import NoisePrior


class NonFinite(Exception):
    """The generator's samples contain NaN or inf: the run diverged."""

    def __init__(self, bad: int, n: int):
        super().__init__(f"generator samples contain NaN or inf ({bad} of {n})")
        self.bad, self.n = bad, n


@dataclass(frozen=True)
class Protocol:
    """How a generator is scored: ``n_samples`` drawn from G (a metric may ask for its own
    number with an ``n_samples`` attribute), the first ``n_valid`` validation examples (to
    choose hyperparameters such as Parzen's sigma), the first ``n_test`` test examples (None:
    all of them), and the metrics, by name, each with its options."""

    n_samples: int = 10000
    n_valid: int = 1000
    n_test: int | None = None
    metrics: tuple[str, ...] = ("parzen",)
    options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()  # hashable: see options_of

    def options_of(self, name: str) -> dict[str, Any]:
        return dict(dict(self.options).get(name, ()))

    def with_options(self, options: dict[str, dict[str, Any]]) -> Protocol:
        """This protocol with the options of each metric named in ``options`` replaced by
        those given (the others' kept; metrics left without options dropped from the list)."""
        merged = {**{name: dict(opts) for name, opts in self.options}, **options}
        return replace(self, options=tuple(sorted(
            (name, tuple(sorted(opts.items()))) for name, opts in merged.items() if opts)))

    @classmethod
    def from_config(cls, config: Any, *, dataset: Any = None, n_samples: int | None = None,
                    metrics: list[str] | tuple[str, ...] | None = None) -> Protocol:
        """The protocol of a resolved run config. The metrics: ``metrics`` if given, else the
        run's ``score.metrics``, else the dataset's ``default_metrics``, else parzen; with
        ``score.parzen = false`` and no metrics named, the run is not scored (as before metrics
        existed). ``n_samples`` overrides the run's."""
        score = config.settings.score
        if metrics is None:
            metrics = score.metrics
        if metrics is None:
            metrics = (list(getattr(dataset, "default_metrics", None) or ["parzen"])
                       if score.parzen else [])
        options = tuple(sorted((name, tuple(sorted(opts.items())))
                               for name, opts in (score.metric_options or {}).items()))
        return cls(n_samples=n_samples or score.n_samples, n_valid=score.n_valid,
                   n_test=score.n_test, metrics=tuple(dict.fromkeys(metrics)), options=options)


# --- drawing samples ----------------------------------------------------------------------

def generate(generator: nn.Module, noise: dict[str, Any], n: int, *, seed: int,
             device: torch.device, batch_size: int = 1000) -> torch.Tensor:
    """``n`` samples of G in eval mode (no dropout), from a fixed noise stream, on the CPU."""
    prior = NoisePrior(noise["prior"], noise["dim"], noise["scale"], device, seed)
    was_training = generator.training
    generator.eval()
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            out.append(generator(prior.sample(min(batch_size, n - start))).float().cpu())
    generator.train(was_training)
    return torch.cat(out)


def draw(generator: nn.Module, config: Any, stream: str, n: int, device: torch.device) -> torch.Tensor:
    """``n`` samples of a run's generator from the run's random stream ``stream``."""
    return generate(generator, config.noise, n, seed=seeds.seed_for(config.seed, stream),
                    device=device)


def check_finite(samples: torch.Tensor) -> None:
    finite = torch.isfinite(samples)
    if not finite.all():
        bad = int((~finite).any(dim=tuple(range(1, samples.dim()))).sum())
        raise NonFinite(bad, len(samples))


# --- metrics ------------------------------------------------------------------------------

class ParzenMetric:
    """The paper's Gaussian Parzen-window log-likelihood of the test examples: sigma chosen on
    the validation examples from a grid. Keys: mean, stderr (over test examples), sigma,
    sigma_at_edge (1 when the chosen sigma is the grid's smallest or largest: the best width
    may lie outside it, and the score is then a bound, not the estimator's value), n_samples,
    n_valid, n_test.

    ``sigmas``: ``"paper"`` (the default: the paper's grid, numpy.logspace(-1, 0, 10), made for
    MNIST's pixel scale), ``"auto"`` (a grid scaled to the data, for low-dimensional data
    whose scale is not MNIST's: ``ganbench.parzen.auto_sigmas``), or, from Python, a list of
    widths (a run's settings take the two names)."""

    name = "parzen"
    higher_is_better = {"mean": True}

    def __init__(self, n_valid: int = 1000, n_test: int | None = None,
                 sigmas: str | list[float] = "paper"):
        from ganbench.errors import DataError
        from ganbench.parzen import _as_sigmas

        if isinstance(sigmas, bool):
            raise ValueError(f"sigmas must be \"paper\", \"auto\" or positive widths, got "
                             f"{sigmas!r}")
        if isinstance(sigmas, str):
            if sigmas not in ("paper", "auto"):
                raise ValueError(f"sigmas must be \"paper\", \"auto\" or a list of positive "
                                 f"widths, got {sigmas!r}")
        else:
            try:
                grid = _as_sigmas(sigmas)
            except DataError as exc:
                raise ValueError(f"sigmas must be \"paper\", \"auto\" or positive widths: "
                                 f"{exc}") from None
            sigmas = [float(x) for x in grid]
        self.n_valid, self.n_test, self.sigmas = n_valid, n_test, sigmas

    def settings(self) -> dict[str, Any]:
        from ganbench.parzen import AUTO_RULE, DEFAULT_SIGMAS

        if self.sigmas == "auto":
            grid: Any = {"auto": AUTO_RULE}
        elif self.sigmas == "paper":
            grid = [float(s) for s in DEFAULT_SIGMAS]
        else:
            grid = list(self.sigmas)
        return {"n_valid": self.n_valid, "n_test": self.n_test, "sigmas": grid}

    def compares_with(self) -> dict[str, int | None]:
        """The examples it reads (``ganbench.references``): validation and test."""
        return {"valid": self.n_valid, "test": self.n_test}

    def compute(self, samples: torch.Tensor, dataset: Any) -> dict[str, float]:
        from ganbench.parzen import parzen_log_likelihood

        splits = dataset.splits
        valid = splits["valid"][: self.n_valid]
        test = splits["test"] if self.n_test is None else splits["test"][: self.n_test]
        grid = self.grid(valid, len(samples))
        result = parzen_log_likelihood(samples, valid, test, grid, device=samples.device)
        values = {k.removeprefix("parzen_"): v for k, v in result.to_record().items()}
        # an end of a grid of several widths (a single width given is a choice, not a bound)
        edges = (float(min(grid)), float(max(grid))) if len(grid) > 1 else ()
        values["sigma_at_edge"] = float(result.sigma in edges)
        return values

    def grid(self, valid: torch.Tensor, n_centres: int) -> Any:
        """The widths tried: the paper's, ``auto_sigmas`` of ``valid``, or those given."""
        from ganbench.parzen import DEFAULT_SIGMAS, auto_sigmas

        if self.sigmas == "auto":
            return auto_sigmas(valid, n_centres=n_centres)
        return DEFAULT_SIGMAS if self.sigmas == "paper" else self.sigmas


def build_metric(name: str, protocol: Protocol) -> Any:
    """The metric plugin ``name`` with its options (checked against its factory's signature);
    the Parzen metric takes ``n_valid`` / ``n_test`` from the protocol unless given."""
    from ganbench import config as cfg
    from ganbench import plugins

    given = protocol.options_of(name)
    if name == "parzen":
        given = {"n_valid": protocol.n_valid, "n_test": protocol.n_test, **given}
    options = cfg._resolve_options("metric", name, given)
    factory = plugins.load("metric", name)
    try:
        return factory(**options)
    except Exception as exc:
        from ganbench.errors import PluginError

        raise PluginError(f"metric {name!r} could not be built: {exc}") from exc


def check_metrics(protocol: Protocol, dataset: Any, dataset_name: str) -> None:
    """Before anything is trained: every metric exists, takes its options and applies to the
    dataset; else a one-line ConfigError / PluginError."""
    from ganbench.errors import ConfigError

    for name in protocol.metrics:
        metric = build_metric(name, protocol)
        applies = getattr(metric, "applies_to", None)
        reason = applies(dataset) if callable(applies) else None
        if reason:
            raise ConfigError(f"metric {name!r} does not apply to dataset {dataset_name!r}: "
                              f"{reason}")


def _provenance(name: str) -> dict[str, str]:
    from ganbench import plugins

    info = plugins.find("metric", name)
    return {"distribution": info.distribution, "version": info.version}


def columns(metric: str, values: dict[str, Any]) -> dict[str, Any]:
    """Record columns of one metric's values: ``m_key``, or ``m`` for the key ``m``."""
    stem = metric.replace("-", "_")
    return {(stem if key.replace("-", "_") == stem else f"{stem}_{key}".replace("-", "_")): value
            for key, value in values.items()}


# --- the stage ----------------------------------------------------------------------------

class MemoisedDataset:
    """The dataset as the metrics of one ``score_samples`` call see it: ``features(x)``,
    ``classify(x)`` and ``classify_channels(x)`` (those the dataset has) are computed once per
    tensor and then answered from a cache; every other attribute is the dataset's own.

    A tensor is known by where its data lies and how it is laid out (data pointer, shape,
    strides, dtype, device) and by its version counter (an in-place change makes it new). Views
    of the same data, such as ``samples[:n][i:i + batch]`` or ``splits["test"][:n_real]`` taken
    again by the next metric, are the same tensor. The cache keeps each input alive, so its
    memory cannot be reused for another tensor while the cache lives: it is valid for one
    evaluation and is dropped with it. Answers are copies: a caller may change them.

    A dataset with ``features_and_classify(x) -> (features, probabilities)`` answers both
    ``features(x)`` and ``classify(x)`` from that one call (one forward pass of its network)."""

    CACHED = ("features", "classify", "classify_channels")
    PAIRED = ("features", "classify")  # answered together by features_and_classify

    def __init__(self, dataset: Any):
        self._dataset = dataset
        self._memo: dict[tuple, tuple[torch.Tensor, Any]] = {}
        self._wrapped: dict[str, Any] = {}
        self._calls: dict[str, int] = {}  # the dataset's own calls, by method

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(proxy, MnistDataset) holds
        return type(self._dataset)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            if "_dataset" not in self.__dict__:  # not initialised (copy, pickle)
                raise AttributeError(name)
            return getattr(self.__dict__["_dataset"], name)
        value = getattr(self._dataset, name)
        if name in self.CACHED and callable(value):
            if name not in self._wrapped:
                self._wrapped[name] = self._memoised(name, value)
            return self._wrapped[name]
        return value

    def _memoised(self, name: str, fn: Any) -> Any:
        both = getattr(self._dataset, "features_and_classify", None)
        paired = name in self.PAIRED and callable(both)
        source = "features_and_classify" if paired else name

        def call(x: Any) -> Any:
            if not isinstance(x, torch.Tensor) or x.is_inference():  # no version counter
                return fn(x)
            key = (source, x.data_ptr(), tuple(x.shape), x.stride(), x.dtype, str(x.device),
                   x._version)
            if key not in self._memo:
                self._calls[source] = self._calls.get(source, 0) + 1
                self._memo[key] = (x, both(x) if paired else fn(x))
            out = self._memo[key][1]
            if paired:
                out = out[self.PAIRED.index(name)]
            return out.clone() if isinstance(out, torch.Tensor) else out
        call.__name__ = call.__qualname__ = name
        call.__doc__ = getattr(fn, "__doc__", None)
        return call


def score_samples(samples: torch.Tensor, dataset: Any, protocol: Protocol,
                  device: torch.device) -> dict[str, Any]:
    """Every metric of the protocol on ``samples`` (each on its first ``n`` samples, ``n`` its
    own ``n_samples`` or the protocol's): record columns, each metric's seconds
    (``<metric>_seconds``), and under ``metrics`` each metric's settings and provenance.

    The metrics share one ``MemoisedDataset``: features and class probabilities of the same
    samples (and the same real examples) are computed once, by the first metric needing them,
    whose seconds include that work."""
    return _score(samples, dataset, protocol, build_metrics(protocol), device)


def build_metrics(protocol: Protocol) -> dict[str, Any]:
    """The protocol's metric objects, by name, each built once per evaluation."""
    return {name: build_metric(name, protocol) for name in protocol.metrics}


def _score(samples: torch.Tensor, dataset: Any, protocol: Protocol, metrics: dict[str, Any],
           device: torch.device) -> dict[str, Any]:
    samples = samples.to(device)
    dataset = MemoisedDataset(dataset)
    record: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for name, metric in metrics.items():
        n = min(_wanted(metric, protocol), len(samples))
        started = time.perf_counter()
        record.update(columns(name, metric.compute(samples[:n], dataset)))
        seconds = round(time.perf_counter() - started, 3)
        record[f"{name.replace('-', '_')}_seconds"] = seconds
        described = metric.settings() if callable(getattr(metric, "settings", None)) else {}
        settings[name] = {"n_samples": n, **_provenance(name), "settings": described,
                          "higher_is_better": dict(getattr(metric, "higher_is_better", {})),
                          "options": protocol.options_of(name)}  # as given: for references
    if settings:
        record["metrics"] = settings
    return record


def _wanted(metric: Any, protocol: Protocol) -> int:
    """How many samples a metric takes: its own ``n_samples``, else the protocol's."""
    return int(getattr(metric, "n_samples", None) or protocol.n_samples)


def evaluate(generator: nn.Module, config: Any, dataset: Any, device: torch.device,
             protocol: Protocol | None = None) -> dict[str, Any]:
    """Score a run's generator: draw the protocol's samples from the ``score`` stream (one
    draw; each metric takes its first n) and run its metrics. Raises NonFinite when the
    samples are not all finite."""
    protocol = protocol or Protocol.from_config(config, dataset=dataset)
    if not protocol.metrics:
        return {}
    metrics = build_metrics(protocol)
    # never fewer than the protocol's n: a metric's first n samples are then the same draw
    # whichever other metrics run beside it
    n = max([protocol.n_samples] + [_wanted(metric, protocol) for metric in metrics.values()])
    samples = draw(generator, config, "score", n, device)
    check_finite(samples)
    return _score(samples, dataset, protocol, metrics, device)


def validation_score(generator: nn.Module, config: Any, dataset: Any,
                     device: torch.device) -> dict[str, float] | None:
    """The checkpoint-selection score (never the test split): the Parzen log-likelihood of the
    first ``n_valid`` validation examples at the best sigma of the parzen metric's grid (the
    paper's unless ``metric.parzen.sigmas`` says otherwise), from the same samples as the
    final score. None when the samples are not finite."""
    from ganbench.parzen import parzen_log_density

    protocol = Protocol.from_config(config)
    samples = draw(generator, config, "score", protocol.n_samples, device)
    if not torch.isfinite(samples).all():
        return None
    valid = dataset.splits["valid"][: protocol.n_valid]
    sigmas = ParzenMetric(sigmas=protocol.options_of("parzen").get("sigmas", "paper")).grid(
        valid, len(samples))
    means = parzen_log_density(valid, samples, sigmas, device=device).mean(dim=1)
    best = int(means.argmax())
    return {"parzen_valid": float(means[best]), "sigma": float(sigmas[best])}
