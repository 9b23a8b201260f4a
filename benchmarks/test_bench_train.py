"""Per-step overhead (issue 20, item 2): ganbench's training against the bare PyTorch loop of
``benchmarks/loops.py`` (the same modules, optimizers, updates and data sampling), on one
thread, the two taking turns round by round (``loops.Interleaved``: a shared machine's load
falls on both alike). Targets: the toy run at most 1.1x the bare loop; the paper's step no
slower than it.

- toy: the README's ring-2d example (64-64 MLPs, 2,000 steps, Adam), ganbench's whole
  training stage as ``ganbench train`` runs it (config.json, the record, checkpoints every
  1,000 steps, the loss curve, divergence checks);
- paper: the paper preset's MNIST networks (alternating, k = 1), 30 steps on the CPU (500 on
  CUDA), ganbench's Trainer (an epoch's one checkpoint is 1/500 of its steps);
- pacgan: the pacgan preset's step for packs 1 and 4 (issue 21), 200 steps, ganbench's whole
  training stage against a bare loop of simultaneous updates. Measured (AMD EPYC, 2 cores,
  the other one busy, torch 2.14, one thread, CPU ms/step, min of 3 interleaved rounds of
  200 steps): see the pacgan preset's header.

The benchmark's own time is a round of both; the ratios are in extra_info and the summary.

    make bench    # or: pytest benchmarks/test_bench_train.py --benchmark-only -o addopts=""
"""

from __future__ import annotations

import pytest
import torch

from benchmarks import loops
from ganbench.runner import prepare

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_toy_overhead(benchmark, timings):
    torch.set_num_threads(1)
    exp = prepare(loops.toy_config(threads=1))
    turns = loops.Interleaved({"bare": lambda: loops.bare_loop(exp, loops.TOY_STEPS),
                               "ganbench": lambda: loops.ganbench_stage(exp)})
    loops.bare_loop(exp, 20)  # warm-up: the first optimizer step imports torch._dynamo
    benchmark.pedantic(turns, rounds=5, iterations=1)
    ratio = turns.ratio("ganbench", "bare")
    benchmark.extra_info.update(steps=loops.TOY_STEPS, threads=1, seconds=turns.results,
                                ratio=ratio, **loops.machine())
    timings["toy_bare"], timings["toy_ganbench"] = turns.best("bare"), turns.best("ganbench")
    timings["toy_ratio"] = ratio


@pytest.mark.parametrize("device", DEVICES)
def test_paper_overhead(benchmark, device, timings):
    torch.set_num_threads(1)
    exp = loops.paper_experiment("alternating")
    steps = 30 if device == "cpu" else 500
    turns = loops.Interleaved({"bare": lambda: loops.bare_loop(exp, steps, device),
                               "ganbench": lambda: loops.ganbench_loop(exp, steps, device)})
    loops.ganbench_loop(exp, 3, device)  # warm-up
    benchmark.pedantic(turns, rounds=5, iterations=1)
    ratio = turns.ratio("ganbench", "bare")
    benchmark.extra_info.update(steps=steps, threads=1, seconds=turns.results, ratio=ratio,
                                **loops.machine())
    timings[f"paper_bare_{device}"] = turns.best("bare", steps)
    timings[f"paper_ganbench_{device}"] = turns.best("ganbench", steps)
    timings[f"paper_ratio_{device}"] = ratio


@pytest.mark.parametrize("pack", [1, 4])
def test_pacgan_overhead(benchmark, pack, timings):
    torch.set_num_threads(1)
    steps = 200  # the stage's record and final checkpoint: a fixed cost, kept small
    exp = prepare(loops.pacgan_config(pack, steps))
    turns = loops.Interleaved({"bare": lambda: loops.bare_simultaneous_loop(exp, steps),
                               "ganbench": lambda: loops.ganbench_stage(exp)})
    loops.bare_simultaneous_loop(exp, 3)  # warm-up
    benchmark.pedantic(turns, rounds=3, iterations=1)
    ratio = turns.ratio("ganbench", "bare")
    benchmark.extra_info.update(steps=steps, pack=pack, threads=1, seconds=turns.results,
                                ratio=ratio, **loops.machine())
    timings[f"pacgan{pack}_bare"] = turns.best("bare", steps)
    timings[f"pacgan{pack}_ganbench"] = turns.best("ganbench", steps)
    timings[f"pacgan{pack}_ratio"] = ratio
