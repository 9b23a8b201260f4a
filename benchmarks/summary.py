"""The terminal summary of the speed benchmarks (issue 20): ratios against their targets."""

from __future__ import annotations

from typing import Any


def speed_summary(reporter: Any, t: dict[str, tuple]) -> None:
    write = reporter.write_line
    def ratios(r: dict[str, float]) -> str:
        return (f"{r['min_wall']:.2f}x of the minima (CPU time {r['min_cpu']:.2f}x), median "
                f"of the rounds' ratios {r['median_paired_wall']:.2f}x")

    if "toy_ratio" in t:
        reporter.write_sep("-", "training overhead, one thread (targets: toy <= 1.1x, paper <= 1x)")
        write(f"toy run, 2,000 steps: bare {t['toy_bare'][0]:.2f} s, ganbench "
              f"{t['toy_ganbench'][0]:.2f} s (min): {ratios(t['toy_ratio'])}")
    for device in ("cpu", "cuda"):
        if f"paper_ratio_{device}" in t:
            bare, ours = t[f"paper_bare_{device}"], t[f"paper_ganbench_{device}"]
            write(f"paper step on {device}: bare {bare[0] * 1e3:.1f} ms, ganbench "
                  f"{ours[0] * 1e3:.1f} ms (min): {ratios(t[f'paper_ratio_{device}'])}")
    for pack in (1, 2, 3, 4):
        if f"pacgan{pack}_ratio" in t:
            bare, ours = t[f"pacgan{pack}_bare"], t[f"pacgan{pack}_ganbench"]
            write(f"pacgan step, pack {pack}: bare {bare[0] * 1e3:.1f} ms, ganbench "
                  f"{ours[0] * 1e3:.1f} ms (min): {ratios(t[f'pacgan{pack}_ratio'])}")
    rows = sorted(k for k in t if k.startswith(("toy_threads_", "paper_threads_")))
    if rows:
        reporter.write_sep("-", "threads (target: toy default <= 1.1x bare 1-thread, idle and busy)")
        for key in rows:
            per_step, median, chosen = t[key]
            write(f"{key}: {per_step * 1e3:.2f} ms/step (median {median * 1e3:.2f}), "
                  f"threads chosen {chosen}")
        for condition in ("idle", "busy"):
            bare = t.get(f"toy_threads_bare-1-thread_{condition}")
            default = t.get(f"toy_threads_ganbench-default_{condition}")
            if bare and default:
                write(f"toy default / bare 1-thread, {condition}: {default[0] / bare[0]:.2f}x")
    gemms = sorted(k for k in t if k.startswith("gemm_"))
    steps = sorted(k for k in t if k.startswith("precision_"))
    if gemms or steps:
        reporter.write_sep("-", "matmul precision (100x1200 @ 1200x1200; the paper's step)")
        for key in gemms:
            write(f"{key}: {t[key][0]:.0f} GFLOP/s, max error vs float64 {t[key][1]:.2g}")
        for key in steps:
            write(f"{key}: {t[key][0] * 1e3:.1f} ms/step, {500 * t[key][0]:.1f} s/epoch")
