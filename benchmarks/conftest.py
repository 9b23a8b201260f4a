"""Shared by the benchmarks: a place to keep timings, and a summary of ratios at the end."""

from __future__ import annotations

import pytest

# Best (minimum) seconds per named benchmark, filled in by the benchmarks that want a ratio.
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def timings() -> dict[str, float]:
    return TIMINGS


def pytest_terminal_summary(terminalreporter) -> None:
    parzen, gemm, reference = (TIMINGS.get(k) for k in ("parzen", "gemm", "reference"))
    if parzen is None:
        return
    lines = [f"ganbench parzen_log_likelihood: {parzen:.3f} s (min)"]
    if gemm is not None:
        lines.append(f"float32 GEMMs alone: {gemm:.3f} s; ganbench / GEMMs = {parzen / gemm:.2f}")
    if reference is not None:
        lines.append(
            f"float64 numpy reference: {reference:.3f} s; reference / ganbench = "
            f"{reference / parzen:.2f}"
        )
    terminalreporter.write_sep("-", "Parzen ratios (targets: GEMMs <= 1.5, reference >= 4)")
    for line in lines:
        terminalreporter.write_line(line)
