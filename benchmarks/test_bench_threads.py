"""The thread policy (issue 20, item 1): one and two torch threads against the automatic
choice (``train.threads`` unset, ``ganbench.compute``), for the toy and the paper's step, on
the machine as it is ("idle") and with a busy loop in another process taking one core
("busy"). The cases of one condition take turns round by round (``loops.Interleaved``).
Target: the toy run with default flags at most 1.1x the bare one-thread loop, in both
conditions; for the paper's step, the default close to the better of 1 and 2 threads.

The benchmarks' process waits passively in OpenMP, as ``ganbench`` itself does
(``benchmarks/conftest.py``); the process starts with torch's threads at the core count, as a
fresh ``ganbench train`` does. "idle" is only as idle as the machine is: extra_info has the
load average at the start of each measurement.

    pytest benchmarks/test_bench_threads.py --benchmark-only -o addopts=""
"""

from __future__ import annotations

import pytest
import torch

from benchmarks import loops
from ganbench import compute
from ganbench.runner import prepare

CONDITIONS = ["idle", "busy"]
TWO_THREAD_TOY_STEPS = 300  # two threads on a busy machine are slow: fewer steps


def _toy_case(threads: int | None, steps: int):
    exp = prepare(loops.toy_config(steps=steps, **({"threads": threads} if threads else {})))
    return lambda: loops.ganbench_stage(exp)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_toy_threads(benchmark, condition, timings):
    torch.set_num_threads(compute.cpu_cores())  # what a fresh process has
    bare_exp = prepare(loops.toy_config(threads=1))

    def bare():
        with compute.torch_threads(1):
            return loops.bare_loop(bare_exp, loops.TOY_STEPS)

    turns = loops.Interleaved({"bare-1-thread": bare,
                               "ganbench-default": _toy_case(None, loops.TOY_STEPS),
                               "ganbench-2-threads": _toy_case(2, TWO_THREAD_TOY_STEPS)})
    info = loops.machine()
    with loops.busy_core(condition == "busy"):
        chosen = compute.threads_for_run(prepare(loops.toy_config()), "cpu")
        loops.bare_loop(bare_exp, 20)  # warm-up
        benchmark.pedantic(turns, rounds=3, iterations=1)
    steps = {"bare-1-thread": loops.TOY_STEPS, "ganbench-default": loops.TOY_STEPS,
             "ganbench-2-threads": TWO_THREAD_TOY_STEPS}
    benchmark.extra_info.update(seconds=turns.results, steps=steps, threads_chosen=chosen,
                                ratio=turns.ratio("ganbench-default", "bare-1-thread"), **info)
    for name, n in steps.items():
        threads = {"bare-1-thread": 1, "ganbench-2-threads": 2}.get(name, chosen)
        timings[f"toy_threads_{name}_{condition}"] = (*turns.best(name, n), threads)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_paper_threads(benchmark, condition, timings):
    steps = 20
    torch.set_num_threads(compute.cpu_cores())
    info = loops.machine()
    with loops.busy_core(condition == "busy"):
        cases, chosen = {}, {}
        for label, threads in (("1-thread", 1), ("2-threads", 2), ("default", None)):
            exp = loops.paper_experiment("alternating",
                                         **({"threads": threads} if threads else {}))
            chosen[label] = compute.threads_for_run(exp, "cpu")  # as a run decides, at start

            def case(exp=exp, n=chosen[label]):
                with compute.torch_threads(n):
                    return loops.ganbench_loop(exp, steps)
            cases[label] = case
        turns = loops.Interleaved(cases)
        loops.ganbench_loop(exp, 2)  # warm-up
        benchmark.pedantic(turns, rounds=3, iterations=1)
    benchmark.extra_info.update(seconds=turns.results, steps=steps, threads_chosen=chosen,
                                **info)
    for label in cases:
        timings[f"paper_threads_{label}_{condition}"] = (*turns.best(label, steps),
                                                         chosen[label])
