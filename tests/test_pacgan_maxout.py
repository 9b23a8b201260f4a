"""PacGAN's maxout gradient (``pacgan._PiecesMax``, the backward made fast for issue 21)
against independent references: a float64 numpy gradient with ties written out, torch's own
``amax`` gradient bit for bit (the numbers every stored PacGAN run was trained with), and
finite differences for the first and second derivatives (R1 differentiates D twice)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ganbench_plugins import pacgan


def _with_ties(n: int, units: int, pieces: int, dtype: torch.dtype) -> torch.Tensor:
    """Random pieces, with two-way ties at the maximum in some units, all pieces equal in
    others, and a tie below the maximum (which must get no gradient)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, units, pieces, generator=gen, dtype=dtype)
    top = x.amax(dim=2)
    x[:, 0, 1] = x[:, 0, pieces - 1] = top[:, 0] + 1  # two-way tie at the maximum
    x[:, 1] = 0.5  # every piece equal
    x[:, 2, 0] = x[:, 2, 1] = x[:, 2].amin(dim=1) - 1  # a tie at the minimum
    return x


def _numpy_gradient(x: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """d(sum grad * max over pieces)/dx, unit by unit: the unit's gradient shared equally by
    the pieces equal to its maximum (torch's amax convention), zero for the others."""
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        for u in range(x.shape[1]):
            best = x[i, u].max()
            winners = [k for k in range(x.shape[2]) if x[i, u, k] == best]
            for k in winners:
                out[i, u, k] = grad[i, u] / len(winners)
    return out


def test_the_gradient_is_shared_equally_by_tied_maxima_float64():
    x = _with_ties(7, 5, 5, torch.float64).requires_grad_(True)
    grad = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = pacgan._PiecesMax.apply(x)
    np.testing.assert_array_equal(out.detach().numpy(), x.detach().numpy().max(axis=2))
    (got,) = torch.autograd.grad(out, x, grad)
    want = _numpy_gradient(x.detach().numpy(), grad.numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-15, atol=0)
    assert (got[:, 0, 1] != 0).all() and (got[:, 2, 0] == 0).all()  # the ties were there


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32 if t.dtype == torch.float32 else torch.int64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_values_and_gradients_are_torchs_amax_bit_for_bit(dtype):
    x = _with_ties(100, 200, 5, dtype)
    x[3, 7, 2] = float("nan")  # a non-finite piece: the same NaNs as torch's
    grad = torch.randn(100, 200, dtype=dtype, generator=torch.Generator().manual_seed(2))
    mine, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_mine, out_theirs = pacgan._PiecesMax.apply(mine), theirs.amax(dim=2)
    assert torch.equal(_bits(out_mine), _bits(out_theirs))
    (g_mine,) = torch.autograd.grad(out_mine, mine, grad)
    (g_theirs,) = torch.autograd.grad(out_theirs, theirs, grad)
    assert g_mine.shape == x.shape and g_mine.is_contiguous()
    assert torch.equal(_bits(g_mine), _bits(g_theirs))


def test_first_and_second_derivatives_match_finite_differences():
    x = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pacgan._PiecesMax.apply, (x,))
    assert torch.autograd.gradgradcheck(pacgan._PiecesMax.apply, (x,))


def _reference_logits(D: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """PacGAN's maxout discriminator from its parameters, with torch's amax: linear, view
    (N, units, pieces), max over pieces, for each maxout layer; then the linear logit."""
    h = x.flatten(1)
    for layer in [m for m in D.modules() if isinstance(m, pacgan.Maxout)]:
        h = F.linear(h, layer.linear.weight, layer.linear.bias)
        h = h.view(len(h), layer.units, layer.pieces).amax(dim=2)
    last = [m for m in D.modules() if isinstance(m, torch.nn.Linear)][-1]
    return F.linear(h, last.weight, last.bias).squeeze(1)


@pytest.mark.parametrize("pack", [1, 3])
def test_the_discriminators_loss_gradients_are_those_of_amax_bit_for_bit(pack):
    torch.manual_seed(pack)
    D = pacgan.MaxoutDiscriminator(2 * pack, 200, 3, 5, 0.02)
    x = torch.randn(100, 2 * pack, requires_grad=True)
    got = torch.autograd.grad(F.softplus(-D(x)).mean(), [x, *D.parameters()])
    want = torch.autograd.grad(F.softplus(-_reference_logits(D, x)).mean(), [x, *D.parameters()])
    assert all(torch.equal(_bits(a), _bits(b)) for a, b in zip(got, want, strict=True))
