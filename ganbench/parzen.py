"""Gaussian Parzen-window log-likelihood, the paper's evaluation (Breuleux et al.'s procedure).

``parzen_log_density`` is the estimator: log p(x) under an isotropic Gaussian kernel of width
sigma at each sample of G. ``parzen_log_likelihood`` is the procedure around it: choose sigma on
the validation points, then report the mean and standard error over the test points.

Squared distances come from float32 GEMMs, blockwise, with a streaming logsumexp; one distance
block serves every sigma of the grid. Accuracy is kept by centring the data before the GEMM and
by recomputing each point's nearest-kernel distance exactly in float64 (see ``_log_density``).

This module is longer than 400 lines because the estimator and its fast kernel (blocking,
the float32 GEMM, the exact float64 correction) are one piece of numerical code, tested as one
against a float64 reference; sample files are read by ``ganbench.samples_file``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from ganbench.errors import DataError
from ganbench.samples_file import load_samples  # re-exported: the file reader lives there

__all__ = [
    "DEFAULT_SIGMAS",
    "ParzenResult",
    "load_samples",
    "parzen_log_density",
    "parzen_log_likelihood",
]

DEFAULT_SIGMAS: np.ndarray = np.logspace(-1, 0, 10)
"""The sigma grid of Goodfellow et al.'s ``parzen_ll.py``: 0.1 ... 1.0, ten values."""

# Working memory for one block (exponents, point copies) when not on CUDA. 128 MB gives blocks
# of 1,000 to 2,300 points against 10,000 centres: the float32 GEMM runs as fast as one big
# product on a 2-core CPU, and there are few blocks, so few operations (each costs a thread
# wake-up, which is slow on a busy CPU), while it stays small next to the data itself.
_CPU_BUDGET_BYTES = 128 * 2**20
# Fewer points per block than this starves the GEMM; with many centres, split the centres instead.
_MIN_POINTS_PER_BLOCK = 256
# Data spanning more than this could overflow float32 in the norms and products of the GEMM.
_FLOAT32_SAFE = 1e15
_LOG2E = math.log2(math.e)


@dataclass(frozen=True, eq=False)
class ParzenResult:
    """The outcome of the Parzen-window procedure, in nats.

    ``sigma`` is the chosen kernel width, ``mean`` and ``stderr`` are over the test points,
    ``valid_scores`` maps every sigma tried to its mean validation log-likelihood.
    """

    sigma: float
    mean: float
    stderr: float
    test_log_likelihoods: np.ndarray
    valid_scores: dict[float, float]
    n_samples: int
    n_valid: int
    n_test: int

    def to_record(self) -> dict[str, float | int]:
        """Plain Python numbers for a results table."""
        return {
            "parzen_mean": float(self.mean),
            "parzen_stderr": float(self.stderr),
            "parzen_sigma": float(self.sigma),
            "parzen_n_samples": int(self.n_samples),
            "parzen_n_valid": int(self.n_valid),
            "parzen_n_test": int(self.n_test),
        }


# "auto": Silverman's rule-of-thumb width for the validation examples, two decades below
# to one above it, 16 widths (a factor of 1.58 apart).
AUTO_SPAN = (-2.0, 1.0, 16)
AUTO_RULE = ("h * logspace(-2, 1, 16), h = Silverman's rule on the validation examples: "
             "mean per-coordinate std * (4 / ((d + 2) n_samples)) ** (1 / (d + 4))")


def auto_sigmas(valid: np.ndarray | torch.Tensor, n_centres: int) -> np.ndarray:
    """A Parzen grid scaled to the data (``sigmas="auto"``). Silverman's rule of thumb,
    h = s (4 / ((d + 2) n)) ** (1 / (d + 4)) with s the mean per-coordinate standard deviation
    of the validation examples (never the samples: every generator faces the same grid) and
    n the number of kernel centres, is the width that minimises the mean integrated squared
    error for Gaussian data. It overestimates for a mixture of narrow modes (PacGAN's ring:
    h = 0.15 for modes of std 0.01), hence two decades below it; one above for heavy-tailed
    data. Whichever width wins, the record says whether it was an edge of the grid."""
    values = _as_matrix("valid", valid).values.double()
    if values.shape[0] < 2:
        raise DataError("sigmas=\"auto\" needs at least 2 validation examples")
    d = values.shape[1]
    spread = float(values.std(dim=0).mean())
    if not spread > 0:
        raise DataError("sigmas=\"auto\": the validation examples do not vary; give sigmas")
    h = spread * (4.0 / ((d + 2) * max(1, n_centres))) ** (1.0 / (d + 4))
    return h * np.logspace(*AUTO_SPAN[:2], int(AUTO_SPAN[2]))


def parzen_log_likelihood(
    samples: np.ndarray | torch.Tensor,
    valid: np.ndarray | torch.Tensor,
    test: np.ndarray | torch.Tensor,
    sigmas: Sequence[float] | np.ndarray | None = None,
    *,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
) -> ParzenResult:
    """Fit a Parzen window to ``samples``, choose sigma on ``valid``, score ``test``.

    Arrays are shaped ``(N, ...)`` and flattened per point. ``sigmas=None`` means
    ``DEFAULT_SIGMAS``. The standard error is ``std / sqrt(n_test)`` (ddof=0), as the original.
    """
    centres = _as_matrix("samples", samples)
    valid_m = _as_matrix("valid", valid)
    test_m = _as_matrix("test", test)
    _check_same_dim("valid", valid_m, centres)
    _check_same_dim("test", test_m, centres)
    n_test = test_m.values.shape[0]
    if n_test < 2:
        raise DataError(f"test has {n_test} point; the standard error needs at least 2 test points")
    grid = _as_sigmas(sigmas)
    kernels = _Kernels(centres, _resolve_device(device, centres.values), others=(valid_m, test_m))

    valid_ll = _log_density(valid_m.values, kernels, grid, batch_size)
    scores = valid_ll.mean(dim=1).cpu().numpy()
    # The first maximum, as numpy.argmax in the original.
    best = int(np.argmax(scores))
    # Only the chosen sigma is needed on the (larger) test set.
    test_ll = _log_density(test_m.values, kernels, grid[best : best + 1], batch_size)
    test_ll = test_ll[0].cpu().numpy()
    test_ll.setflags(write=False)
    return ParzenResult(
        sigma=float(grid[best]),
        mean=float(test_ll.mean()),
        stderr=float(test_ll.std() / math.sqrt(test_ll.shape[0])),
        test_log_likelihoods=test_ll,
        valid_scores={float(s): float(v) for s, v in zip(grid, scores)},
        n_samples=int(centres.values.shape[0]),
        n_valid=int(valid_m.values.shape[0]),
        n_test=int(n_test),
    )


def parzen_log_density(
    points: np.ndarray | torch.Tensor,
    centres: np.ndarray | torch.Tensor,
    sigmas: Sequence[float] | np.ndarray,
    *,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
) -> torch.Tensor:
    """log p(x) of each point under the Parzen window on ``centres``, for every sigma.

    Returns a float64 tensor of shape ``(len(sigmas), n_points)`` on the compute device
    (``device``; by default the device of ``centres`` when it is a tensor, else the CPU).
    ``batch_size`` fixes the points per block; by default blocks fit a memory budget (a quarter
    of free CUDA memory, or 128 MB on CPU), with the centres split too when they are many.
    """
    centres_m = _as_matrix("centres", centres)
    points_m = _as_matrix("points", points)
    _check_same_dim("points", points_m, centres_m, reference_name="centres")
    grid = _as_sigmas(sigmas)
    kernels = _Kernels(centres_m, _resolve_device(device, centres_m.values), others=(points_m,))
    return _log_density(points_m.values, kernels, grid, batch_size)


class _Data(NamedTuple):
    """A validated input: its ``(N, d)`` values and global range."""

    values: torch.Tensor
    low: float
    high: float


def _as_matrix(name: str, x: object) -> _Data:
    """``x`` as an ``(N, d)`` tensor (no copy), after checking that it can be scored."""
    if isinstance(x, torch.Tensor):
        tensor = x.detach()
    else:
        array = np.asarray(x)
        if array.dtype.kind not in "biuf":
            raise DataError(
                f"{name} has dtype {array.dtype}; pass a numeric array or tensor of shape (N, ...)"
            )
        with warnings.catch_warnings():
            # Read-only arrays (memory maps, frozen results) are fine: nothing here writes.
            warnings.simplefilter("ignore", UserWarning)
            tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_complex():
        raise DataError(f"{name} is complex; pass real-valued data")
    if tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8)
    if tensor.ndim == 0:
        raise DataError(f"{name} is a scalar; pass an array of shape (N, ...) with N points")
    if tensor.numel() == 0:
        raise DataError(
            f"{name} is empty (shape {tuple(tensor.shape)}); pass at least one point with at "
            "least one value"
        )
    # One pass gives the range (for the float32 overflow check) and, as NaN and inf propagate
    # through min and max, whether everything is finite.
    low, high = (float(v) for v in torch.aminmax(tensor))
    if not (math.isfinite(low) and math.isfinite(high)):
        n_nan = int(torch.isnan(tensor).sum())
        n_inf = int(torch.isinf(tensor).sum())
        raise DataError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite values (of {tensor.numel()}); "
            "remove or replace them before estimating the Parzen log-likelihood"
        )
    return _Data(tensor.reshape(tensor.shape[0], -1), low, high)


def _check_same_dim(
    name: str, data: _Data, reference: _Data, *, reference_name: str = "samples"
) -> None:
    d, d_ref = data.values.shape[1], reference.values.shape[1]
    if d != d_ref:
        raise DataError(
            f"{name} has {d} values per point but {reference_name} have {d_ref}; {name} must be "
            f"shaped like the {reference_name} (N, ...) with the same values per point"
        )


def _as_sigmas(sigmas: Sequence[float] | np.ndarray | None) -> np.ndarray:
    if sigmas is None:
        return DEFAULT_SIGMAS.copy()
    try:
        grid = np.atleast_1d(np.asarray(sigmas, dtype=np.float64)).ravel()
    except (TypeError, ValueError) as exc:
        raise DataError(f"sigmas must be numbers, got {sigmas!r}") from exc
    if grid.size == 0:
        raise DataError("sigmas is empty; pass at least one sigma, e.g. numpy.logspace(-1, 0, 10)")
    for i, value in enumerate(grid):
        if not (math.isfinite(value) and value > 0):
            raise DataError(
                f"sigmas[{i}] is {value!r}; every sigma must be a positive finite number "
                "(the default grid is numpy.logspace(-1, 0, 10))"
            )
    return grid


def _resolve_device(device: str | torch.device | None, centres: torch.Tensor) -> torch.device:
    target = centres.device if device is None else torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise DataError(f"device {str(target)!r} is not available here; pass device='cpu'")
    return target


@contextlib.contextmanager
def _ieee_float32_matmul(device: torch.device) -> Iterator[None]:
    # A caller may have allowed TF32/bf16 matmuls for training; a 10-bit mantissa would cost
    # whole nats here, so the GEMMs run in IEEE float32 whatever the global setting.
    backend = torch.backends.cuda.matmul if device.type == "cuda" else torch.backends.mkldnn.matmul
    previous = backend.fp32_precision
    if previous == "ieee":
        yield
        return
    backend.fp32_precision = "ieee"
    try:
        yield
    finally:
        backend.fp32_precision = previous


class _Kernels:
    """The centres prepared once for every block: centred, cast for the GEMM, with norms."""

    def __init__(self, centres: _Data, device: torch.device, others: Sequence[_Data] = ()) -> None:
        raw = centres.values
        n, d = raw.shape
        # Data so spread out that products would overflow float32 gets float64 GEMMs.
        low = min(x.low for x in (centres, *others))
        high = max(x.high for x in (centres, *others))
        self.dtype = torch.float32 if high - low < _FLOAT32_SAFE else torch.float64
        step = max(1, (64 * 2**20) // (8 * d))  # chunks of at most 64 MB in float64
        total = torch.zeros(d, dtype=torch.float64, device=device)
        for start in range(0, n, step):
            total += raw[start : start + step].to(device).sum(dim=0, dtype=self.dtype)
        # Centring makes the GEMM translation invariant: ||x||^2 - 2 x.mu + ||mu||^2 cancels
        # catastrophically in float32 for data far from the origin (e.g. everything + 1000).
        # Any shift will do, so take the mean rounded to the GEMM's precision: float32 data are
        # then centred exactly as in float64, by one rounding.
        self.shift = (total / n).to(self.dtype)
        # Rows [mu - shift, ||mu - shift||^2 - their mean, zeros]: one GEMM with points as rows
        # [2c (x - shift), -c, zeros] gives c (2 x.mu - ||mu||^2) with no extra pass to add the
        # norms. The zeros align rows for the BLAS; less the mean norm, the exponents are small
        # and so is their float32 rounding.
        self.width = -(-(d + 1) // 16) * 16
        self.augmented = torch.zeros(n, self.width, dtype=self.dtype, device=device)
        sq_norms = torch.empty(n, dtype=torch.float64, device=device)
        wide = torch.empty(min(step, n), d, dtype=torch.float64, device=device)
        for start in range(0, n, step):
            chunk = self.augmented[start : start + step, :d]
            self.centre(raw[start : start + step].to(device), out=chunk)
            # In float64 from the rounded values, so that the norms match what the GEMM sees.
            squares = wide[: chunk.shape[0]].copy_(chunk).square_()
            torch.sum(squares, dim=1, out=sq_norms[start : start + step])
        self.augmented[:, d] = sq_norms - sq_norms.mean()
        self.raw = raw
        self.device = device
        self.n, self.d = n, d

    def centre(self, block: torch.Tensor, *, out: torch.Tensor) -> torch.Tensor:
        """``block - shift`` rounded once into ``out`` (in the GEMM's dtype)."""
        if block.dtype == out.dtype:
            return torch.sub(block, self.shift, out=out)
        return out.copy_(block.to(torch.float64) - self.shift)


def _log_density(
    points: torch.Tensor, kernels: _Kernels, sigmas: np.ndarray, batch_size: int | None
) -> torch.Tensor:
    """The estimator on validated inputs: ``(len(sigmas), n_points)`` float64."""
    device, n_centres, d, dtype = kernels.device, kernels.n, kernels.d, kernels.dtype
    n_points = points.shape[0]
    # One buffer of exponents per block, and one of terms when there are several sigmas.
    pair_bytes = kernels.augmented.element_size() * (1 if len(sigmas) == 1 else 2)
    point_block, centre_block = _block_sizes(n_points, n_centres, d, pair_bytes, device, batch_size)
    # The GEMM yields exponents in base 2 for the first sigma, e = -c d2 + (a constant per point)
    # = c (2 x.mu - ||mu||^2) + ..., with c = log2(e) / (2 sigma^2), as exp2 is ~3x faster than
    # exp on CPU; the other sigmas scale e.
    scale = _LOG2E / (2.0 * float(sigmas[0]) ** 2)
    ratios = [float(sigmas[0] / s) ** 2 for s in sigmas]
    ratio_column = torch.tensor(ratios, dtype=dtype, device=device)[:, None]
    inv_two_var = torch.tensor(1.0 / (2.0 * sigmas**2), dtype=torch.float64, device=device)
    log_norm = torch.tensor(
        -math.log(n_centres) - d * np.log(sigmas * math.sqrt(2.0 * math.pi)),
        dtype=torch.float64,
        device=device,
    )
    on_cpu = device.type != "cuda"
    # Per point and sigma: the sum of exp2(exponent - the point's largest exponent); per point:
    # the centre with the largest exponent and its exact squared distance.
    sums = torch.empty(len(sigmas), n_points, dtype=dtype, device=device)
    nearest_idx = torch.empty(n_points, dtype=torch.long, device=device)
    # Buffers reused by every block: fresh memory each time would cost page faults.
    exponents = torch.empty(point_block * centre_block, dtype=dtype, device=device)
    terms = torch.empty(
        point_block * centre_block if len(sigmas) > 1 else 0, dtype=dtype, device=device
    )
    x_augmented = torch.zeros(point_block, kernels.width, dtype=dtype, device=device)
    x_augmented[:, d] = -scale  # see _Kernels.augmented

    with _ieee_float32_matmul(device), torch.no_grad():
        for start in range(0, n_points, point_block):
            block = points[start : start + point_block].to(device)
            b = block.shape[0]
            x = x_augmented[:b]
            kernels.centre(block, out=x[:, :d]).mul_(2.0 * scale)
            block_sums = sums[:, start : start + b]
            for c0 in range(0, n_centres, centre_block):
                nc = min(centre_block, n_centres - c0)
                e = exponents[: b * nc].view(b, nc)
                torch.mm(x, kernels.augmented[c0 : c0 + nc].T, out=e)
                block_max, block_idx = _row_max(e, on_cpu)
                if c0 == 0:
                    run_max, run_idx = block_max, block_idx
                else:  # a streaming logsumexp: rescale what was summed to the new maximum
                    new_max = torch.maximum(run_max, block_max)
                    block_sums *= torch.exp2(ratio_column * (run_max - new_max))
                    run_idx = torch.where(block_max > run_max, block_idx + c0, run_idx)
                    run_max = new_max
                # e - maximum <= 0 exactly, and 0 for the nearest centre: nothing overflows,
                # far kernels underflow harmlessly to 0 (max-subtraction, shared by all sigmas).
                e.sub_(run_max[:, None])
                for k, ratio in enumerate(ratios):
                    if len(ratios) == 1:
                        term = e.exp2_()  # nothing else needs the exponents
                    elif ratio == 1.0:
                        term = torch.exp2(e, out=terms[: e.numel()].view(b, nc))
                    else:
                        term = torch.mul(e, ratio, out=terms[: e.numel()].view(b, nc)).exp2_()
                    if c0 == 0:
                        torch.sum(term, dim=1, out=block_sums[k])
                    else:
                        block_sums[k] += term.sum(dim=1)
            nearest_idx[start : start + b] = run_idx
        d2_min = _exact_sq_distances(points, kernels, nearest_idx, scratch=exponents)
    # Log-likelihoods from the sums and the exact leading terms, in float64.
    return sums.double().log_().add_(log_norm[:, None]).sub_(inv_two_var[:, None] * d2_min)


def _exact_sq_distances(
    points: torch.Tensor, kernels: _Kernels, index: torch.Tensor, *, scratch: torch.Tensor
) -> torch.Tensor:
    """float64 ||x_i - mu_index[i]||^2 from the raw data, in few large operations.

    ``scratch`` is a flat buffer to reuse for the differences (fresh memory costs page faults).
    """
    # The leading term of each logsumexp exactly: float32 error is left only in the relative
    # weights of the other kernels.
    device = kernels.device
    n, d = points.shape
    step = min(n, scratch.numel() * scratch.element_size() // (8 * d))
    if step > 0:
        wide = scratch.view(torch.uint8)[: step * d * 8].view(torch.float64).view(step, d)
    else:
        step = 1
        wide = torch.empty(step, d, dtype=torch.float64, device=device)
    out = torch.empty(n, dtype=torch.float64, device=device)
    for start in range(0, n, step):
        rows = index[start : start + step].to(kernels.raw.device)
        diff = wide[: rows.shape[0]].copy_(points[start : start + step])
        diff.sub_(kernels.raw[rows].to(device)).square_()
        torch.sum(diff, dim=1, out=out[start : start + step])
    return out


def _row_max(e: torch.Tensor, on_cpu: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row maximum and its column index."""
    b, n = e.shape
    width = _chunk_width(n)
    if not on_cpu or width == 0:
        values, index = e.max(dim=1)
        return values, index
    # On CPU torch.max(dim) with indices is ~6x slower than amax: take the maximum of each chunk
    # of columns, then look for the index inside the winning chunk only.
    chunks = e.view(b, n // width, width)
    values, chunk = chunks.amax(dim=2).max(dim=1)
    inner = chunks[torch.arange(b, device=e.device), chunk].argmax(dim=1)
    return values, chunk * width + inner


def _chunk_width(n: int) -> int:
    """A divisor of ``n`` near 256 (0 if none): the columns per chunk in ``_row_max``."""
    for width in (*range(256, 1025), *range(255, 63, -1)):
        if n % width == 0 and n >= 4 * width:
            return width
    return 0


def _block_sizes(
    n_points: int,
    n_centres: int,
    d: int,
    pair_bytes: int,
    device: torch.device,
    batch_size: int | None,
) -> tuple[int, int]:
    """Points and centres per block so that one block's buffers fit the memory budget.

    ``pair_bytes`` is the memory per (point, centre) pair of a block.
    """
    if batch_size is not None and (
        isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1
    ):
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free // 4  # leave room for the caller's tensors
    else:
        budget = _CPU_BUDGET_BYTES
    # Per point in a block: copies of it (at most 24 bytes a value), and its pairs.
    per_point = 24 * d
    if batch_size is not None:
        points = int(batch_size)
    else:
        points = budget // (pair_bytes * n_centres + per_point)
        points = max(points, _MIN_POINTS_PER_BLOCK)
    points = max(1, min(points, n_points))
    centres = max(1, (budget - per_point * points) // (pair_bytes * points))
    return points, min(centres, n_centres)
