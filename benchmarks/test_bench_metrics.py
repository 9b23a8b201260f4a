"""The default MNIST metric set on 10,000 samples against Parzen alone (issue: metrics;
target on the CPU: the whole set at most 2x Parzen's time). The samples are 10,000 training
images (a memoriser): every metric then has real work to do. One round each, one thread."""

from __future__ import annotations

import time

import pytest
import torch

from ganbench import evaluate, plugins

N = 10_000


@pytest.fixture(scope="module")
def mnist():
    try:
        return plugins.load("dataset", "mnist")()
    except Exception as exc:  # no MNIST here: nothing to measure
        pytest.skip(f"MNIST not available: {exc}")


def _score(dataset, metrics: tuple[str, ...]) -> dict[str, float]:
    protocol = evaluate.Protocol(n_samples=N, n_valid=1000, metrics=metrics)
    samples = dataset.splits["train"][:N]
    return evaluate.score_samples(samples, dataset, protocol, torch.device("cpu"))


def test_parzen_alone(benchmark, mnist, timings):
    torch.set_num_threads(1)
    values = benchmark.pedantic(_score, args=(mnist, ("parzen",)), rounds=1, iterations=1)
    timings["metrics_parzen"] = (benchmark.stats.stats.min, benchmark.stats.stats.median)
    assert values["parzen_mean"] > 200


def test_the_default_mnist_metric_set(benchmark, mnist, timings):
    torch.set_num_threads(1)
    metrics = tuple(mnist.default_metrics)
    started = time.perf_counter()
    values = benchmark.pedantic(_score, args=(mnist, metrics), rounds=1, iterations=1)
    timings["metrics_all"] = (time.perf_counter() - started,) * 2
    per_metric = {k: v for k, v in values.items() if k.endswith("_seconds")}
    print("\nseconds per metric:", per_metric)
    timings["metrics_each"] = per_metric
    assert values["memorisation_near_copies"] == 1.0  # the samples are training images
