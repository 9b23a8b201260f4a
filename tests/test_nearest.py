"""``true_pairs`` (memorisation's candidate pairs, read eight bytes at a time) against
``nonzero``."""

from __future__ import annotations

import pytest
import torch
from ganbench_plugins.nearest import true_pairs


@pytest.mark.parametrize("shape", [(7, 64), (5, 61), (1, 8), (30, 4000)])
@pytest.mark.parametrize("density", [0.0, 0.003, 0.2, 1.0])
def test_true_pairs_are_nonzeros_pairs_in_order(shape, density):
    g = torch.Generator().manual_seed(shape[1])
    mask = torch.rand(shape, generator=g) < density
    rows, cols = true_pairs(mask)
    expected_rows, expected_cols = mask.nonzero(as_tuple=True)
    assert torch.equal(rows, expected_rows) and torch.equal(cols, expected_cols)
    for view in (mask[1:], mask[:, 1:], mask[:, 3:]):  # views at offsets, non-contiguous too
        if view.numel():
            got = true_pairs(view)
            want = view.nonzero(as_tuple=True)
            assert got is not None and all(torch.equal(a, b) for a, b in zip(got, want))
    assert true_pairs(mask, most=len(expected_rows) - 1) is None or len(expected_rows) == 0
