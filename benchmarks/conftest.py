"""Shared by the benchmarks: a place to keep timings, and a summary of ratios at the end.

OpenMP waits passively here, as in the ``ganbench`` command (``ganbench.compute``): set
before any benchmark module imports torch."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Seconds (minimum, median) per named benchmark, filled in by the benchmarks that want a ratio.
TIMINGS: dict[str, tuple[float, float]] = {}


@pytest.fixture(scope="session")
def timings() -> dict[str, tuple[float, float]]:
    return TIMINGS


def pytest_terminal_summary(terminalreporter) -> None:
    from benchmarks.summary import speed_summary

    speed_summary(terminalreporter, TIMINGS)
    if "metrics_parzen" in TIMINGS and "metrics_all" in TIMINGS:
        one, whole = TIMINGS["metrics_parzen"][0], TIMINGS["metrics_all"][0]
        terminalreporter.write_sep("-", "MNIST metrics on 10,000 samples (target: all <= 2x parzen)")
        terminalreporter.write_line(f"parzen alone {one:.1f} s; the default set {whole:.1f} s: "
                                    f"{whole / one:.2f}x; per metric {TIMINGS.get('metrics_each')}")
        if "metrics_warm" in TIMINGS:  # the next evaluation in the process (ganbench_plugins.kept)
            warm = TIMINGS["metrics_warm"][0]
            terminalreporter.write_line(f"the default set again (warm): {warm:.1f} s: {warm / one:.2f}x")
        if "metrics_disk" in TIMINGS:  # a new process, the dataset-only work on disk
            disk = TIMINGS["metrics_disk"][0]
            terminalreporter.write_line(f"the default set from the disk cache: {disk:.1f} s: "
                                        f"{disk / one:.2f}x")
    if "parzen" not in TIMINGS:
        return
    ours = TIMINGS["parzen"]
    write = terminalreporter.write_line
    terminalreporter.write_sep("-", "Parzen ratios (targets: GEMMs <= 1.5, reference >= 4)")
    write(f"ganbench parzen_log_likelihood: min {ours[0]:.3f} s, median {ours[1]:.3f} s")
    if "gemm" in TIMINGS:
        gemm = TIMINGS["gemm"]
        write(
            f"float32 GEMMs alone: min {gemm[0]:.3f} s, median {gemm[1]:.3f} s; ganbench / GEMMs"
            f" = {ours[0] / gemm[0]:.2f} (min), {ours[1] / gemm[1]:.2f} (median)"
        )
    if "reference" in TIMINGS:
        reference = TIMINGS["reference"][0]
        write(
            f"float64 numpy reference: {reference:.3f} s (one round); reference / ganbench = "
            f"{reference / ours[0]:.2f} (min), {reference / ours[1]:.2f} (median)"
        )
    if "parzen_cuda" in TIMINGS:
        cuda = TIMINGS["parzen_cuda"]
        write(f"ganbench on CUDA: min {cuda[0]:.3f} s, median {cuda[1]:.3f} s (target < 0.2 s)")
