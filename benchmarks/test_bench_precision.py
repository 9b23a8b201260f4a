"""``train.matmul_precision`` (issue 20, item 3): the paper's step at each of torch's float32
matmul precisions ("highest", "high", "medium"), both update modes, one CPU thread (and on
CUDA where there is one), and the matrix product behind it (100x1200 @ 1200x1200) in
GFLOP/s with its largest error against float64. An epoch is 500 steps at either update.

    pytest benchmarks/test_bench_precision.py --benchmark-only -o addopts=""
"""

from __future__ import annotations

import pytest
import torch

from benchmarks import loops
from ganbench import compute

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", compute.PRECISIONS)
def test_gemm(benchmark, precision, device, timings):
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    a, w = torch.randn(100, 1200, generator=g), torch.randn(1200, 1200, generator=g)
    exact = a.double() @ w.double()
    a, w = a.to(device), w.to(device)
    reps = 20 if device == "cpu" else 2000

    def products():
        for _ in range(reps):
            out = a @ w
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    with compute.matmul_precision(precision):
        error = float((products().double().cpu() - exact).abs().max())
        benchmark.pedantic(products, rounds=7, iterations=1)
    gflops = 2 * 100 * 1200 * 1200 * reps / benchmark.stats.stats.min / 1e9
    benchmark.extra_info.update(gflops=round(gflops, 1), max_error_vs_float64=error,
                                **loops.machine())
    timings[f"gemm_{precision}_{device}"] = (gflops, error)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("update", ["simultaneous", "alternating"])
@pytest.mark.parametrize("precision", compute.PRECISIONS)
def test_paper_step_precision(benchmark, precision, update, device, timings):
    torch.set_num_threads(1)
    exp = loops.paper_experiment(update, matmul_precision=precision)
    steps = 20 if device == "cpu" else 500
    loops.ganbench_loop(exp, 3, device)  # warm-up
    seconds = []
    benchmark.pedantic(lambda: seconds.append(loops.ganbench_loop(exp, steps, device)),
                       rounds=3, iterations=1)
    per_step = min(seconds) / steps
    benchmark.extra_info.update(steps=steps, loop_seconds=seconds,
                                epoch_seconds=round(500 * per_step, 2), **loops.machine())
    timings[f"precision_{precision}_{update}_{device}"] = (per_step,
                                                           sorted(seconds)[1] / steps)
