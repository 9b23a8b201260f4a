"""The block-minima helpers of the distance searches (``metrics_features``: ``row_argmin``,
``pairs_below``) against torch's ``argmin`` and ``nonzero`` over the whole matrix."""

from __future__ import annotations

import math

import pytest
import torch
from ganbench_plugins.metrics_features import BLOCK, block_minima, padded, pairs_below, row_argmin


def _matrix(rows: int, cols: int, seed: int, ties: bool) -> torch.Tensor:
    """``rows x padded(cols)``, the padding +inf as the searches pad; with ``ties``, values
    from a few levels, so that rows' minima repeat across and inside blocks."""
    g = torch.Generator().manual_seed(seed)
    m = torch.full((rows, padded(cols)), math.inf)
    values = torch.randint(0, 5, (rows, cols), generator=g).float() if ties else \
        torch.randn(rows, cols, generator=g)
    m[:, :cols] = values
    return m


@pytest.mark.parametrize("cols", [1, 63, 64, 65, 1000])
@pytest.mark.parametrize("ties", [False, True])
def test_row_argmin_is_argmin_first_minimum_included(cols, ties):
    m = _matrix(9, cols, cols, ties)
    assert m.shape[1] % BLOCK == 0
    assert torch.equal(row_argmin(m, block_minima(m)), m.argmin(1))


@pytest.mark.parametrize("cols", [1, 63, 64, 65, 1000])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("level", [-3.0, -1.0, 0.0, 2.0, 10.0])
def test_pairs_below_are_nonzeros_pairs_in_order(cols, ties, level):
    m = _matrix(11, cols, 7 * cols, ties)
    limit = level + torch.linspace(-0.5, 0.5, len(m))  # a different limit for each row
    expected = (m < limit[:, None]).nonzero(as_tuple=True)
    got = pairs_below(m, block_minima(m), limit)
    assert got is not None and all(torch.equal(a, b) for a, b in zip(got, expected))
    assert (got[1] < cols).all()  # never a padding column
    n = len(expected[0])
    assert pairs_below(m, block_minima(m), limit, most=n) is not None
    if n:
        assert pairs_below(m, block_minima(m), limit, most=n - 1) is None
        blocks = int((block_minima(m) < limit[:, None]).sum())
        assert pairs_below(m, block_minima(m), limit, most_blocks=blocks) is not None
        assert pairs_below(m, block_minima(m), limit, most_blocks=blocks - 1) is None


def test_block_minima_are_the_blocks_minima():
    m = _matrix(5, 300, 3, False)
    expected = torch.stack([m[:, b * BLOCK:(b + 1) * BLOCK].min(1).values
                            for b in range(m.shape[1] // BLOCK)], 1)
    assert torch.equal(block_minima(m), expected)
