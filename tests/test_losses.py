"""The loss zoo against hand computation: values and gradients w.r.t. the logits, written out
in float64 numpy; saturation; extreme logits; the gradient penalty's per-example norm; weight
clipping; R1."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ganbench_plugins import losses
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ganbench import plugins

NAMES = ["minimax", "non-saturating", "wasserstein", "wasserstein-gp", "hinge",
         "least-squares", "relativistic", "relativistic-average"]


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


# Each case: (D loss, dD/dr, dD/df, G loss, dG/df, dG/dr) as functions of numpy r, f.
# N and M are the numbers of real and fake logits. dG/dr is None where G ignores r.
def _cases():
    def n(a):
        return len(a)

    return {
        "minimax": (
            lambda r, f: softplus(-r).mean() + softplus(f).mean(),
            lambda r, f: -sigmoid(-r) / n(r),
            lambda r, f: sigmoid(f) / n(f),
            lambda r, f: -softplus(f).mean(),
            lambda r, f: -sigmoid(f) / n(f),
            None,
        ),
        "non-saturating": (
            lambda r, f: softplus(-r).mean() + softplus(f).mean(),
            lambda r, f: -sigmoid(-r) / n(r),
            lambda r, f: sigmoid(f) / n(f),
            lambda r, f: softplus(-f).mean(),
            lambda r, f: -sigmoid(-f) / n(f),
            None,
        ),
        "wasserstein": (
            lambda r, f: f.mean() - r.mean(),
            lambda r, f: -np.ones_like(r) / n(r),
            lambda r, f: np.ones_like(f) / n(f),
            lambda r, f: -f.mean(),
            lambda r, f: -np.ones_like(f) / n(f),
            None,
        ),
        "hinge": (
            lambda r, f: np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(),
            lambda r, f: -1.0 * (r < 1) / n(r),
            lambda r, f: 1.0 * (f > -1) / n(f),
            lambda r, f: -f.mean(),
            lambda r, f: -np.ones_like(f) / n(f),
            None,
        ),
        "least-squares": (
            lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean(),
            lambda r, f: (r - 1) / n(r),
            lambda r, f: f / n(f),
            lambda r, f: 0.5 * ((f - 1) ** 2).mean(),
            lambda r, f: (f - 1) / n(f),
            None,
        ),
        "relativistic": (  # pairs r_i with f_i
            lambda r, f: softplus(-(r - f)).mean(),
            lambda r, f: -sigmoid(-(r - f)) / n(r),
            lambda r, f: sigmoid(-(r - f)) / n(r),
            lambda r, f: softplus(-(f - r)).mean(),
            lambda r, f: -sigmoid(-(f - r)) / n(f),
            lambda r, f: sigmoid(-(f - r)) / n(f),
        ),
        "relativistic-average": (
            # softplus(mean f - r_i) averaged + softplus(f_j - mean r) averaged
            lambda r, f: softplus(f.mean() - r).mean() + softplus(f - r.mean()).mean(),
            lambda r, f: -sigmoid(f.mean() - r) / n(r) - sigmoid(f - r.mean()).sum() / (n(f) * n(r)),
            lambda r, f: sigmoid(f.mean() - r).sum() / (n(r) * n(f)) + sigmoid(f - r.mean()) / n(f),
            # G: the same with r and f swapped
            lambda r, f: softplus(r.mean() - f).mean() + softplus(r - f.mean()).mean(),
            lambda r, f: -sigmoid(r.mean() - f) / n(f) - sigmoid(r - f.mean()).sum() / (n(r) * n(f)),
            lambda r, f: sigmoid(r.mean() - f).sum() / (n(f) * n(r)) + sigmoid(r - f.mean()) / n(r),
        ),
    }


CASES = _cases()
CASES["wasserstein-gp"] = CASES["wasserstein"]

R = np.array([0.3, -1.2, 2.5, 0.05])
F_SAME = np.array([-0.7, 1.1, -2.0, 0.4])
F_OTHER = np.array([-0.7, 1.1, -0.2])  # a different batch size where the loss allows it


def _generator_loss(loss, fake, real):
    if getattr(loss, "needs_real_for_generator", False):
        return loss.generator_loss(fake, real_logits=real)
    return loss.generator_loss(fake)


@pytest.mark.parametrize("name", NAMES)
def test_values_and_gradients_against_hand_computation(name):
    d_value, d_dr, d_df, g_value, g_df, g_dr = CASES[name]
    loss = plugins.load("loss", name)()
    fakes = [F_SAME] if name == "relativistic" else [F_SAME, F_OTHER]
    for f in fakes:
        real = torch.tensor(R, requires_grad=True)
        fake = torch.tensor(f, requires_grad=True)
        d = loss.discriminator_loss(real, fake)
        assert d.shape == () and d.dtype == torch.float64
        d.backward()
        np.testing.assert_allclose(d.item(), d_value(R, f), rtol=1e-12)
        np.testing.assert_allclose(real.grad.numpy(), d_dr(R, f), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(fake.grad.numpy(), d_df(R, f), rtol=1e-12, atol=1e-15)

        real = torch.tensor(R, requires_grad=True)
        fake = torch.tensor(f, requires_grad=True)
        g = _generator_loss(loss, fake, real)
        assert g.shape == ()
        g.backward()
        np.testing.assert_allclose(g.item(), g_value(R, f), rtol=1e-12)
        np.testing.assert_allclose(fake.grad.numpy(), g_df(R, f), rtol=1e-12, atol=1e-15)
        if g_dr is None:
            assert real.grad is None
        else:
            np.testing.assert_allclose(real.grad.numpy(), g_dr(R, f), rtol=1e-12, atol=1e-15)


def test_discriminator_scale_is_kept():
    r, f = torch.tensor(R), torch.tensor(F_SAME)
    for factory in (losses.minimax, losses.non_saturating):
        half = factory(discriminator_scale=0.5).discriminator_loss(r, f)
        assert half.item() == pytest.approx(0.5 * factory().discriminator_loss(r, f).item())
    assert isinstance(losses.minimax(), losses.Minimax)
    assert isinstance(losses.non_saturating(0.5), losses.NonSaturating)
    assert losses.Minimax(0.5).discriminator_scale == 0.5


def test_saturation_minimax_vanishes_non_saturating_does_not():
    n = 8
    fake = torch.full((n,), -20.0, requires_grad=True)  # D(G(z)) = sigmoid(-20) ~ 2e-9
    losses.minimax().generator_loss(fake).backward()
    assert fake.grad.abs().max() < 1e-6
    fake = torch.full((n,), -20.0, requires_grad=True)
    losses.non_saturating().generator_loss(fake).backward()
    torch.testing.assert_close(fake.grad, torch.full((n,), -1.0 / n))


EXTREMES = [-1e4, 0.0, 1e4]


@pytest.mark.parametrize("name", NAMES)
def test_extreme_logits_give_finite_values_and_gradients(name):
    loss = plugins.load("loss", name)()
    mixed = [-1e4, 0.0, 1e4, -1e4]
    batches = [[a] * 4 for a in EXTREMES] + [mixed, mixed[::-1]]
    for r in batches:
        for f in batches:
            real = torch.tensor(r, requires_grad=True)
            fake = torch.tensor(f, requires_grad=True)
            d = loss.discriminator_loss(real, fake)
            g = _generator_loss(loss, fake, real)
            grads = torch.autograd.grad(d + g, [real, fake])
            assert torch.isfinite(d) and torch.isfinite(g), (r, f, d, g)
            assert all(torch.isfinite(x).all() for x in grads), (r, f, grads)


logit = st.floats(-1e4, 1e4, width=32)


@settings(max_examples=40, deadline=None)
@given(pairs=st.lists(st.tuples(logit, logit), min_size=1, max_size=6), shift=st.floats(-50, 50))
def test_property_finite_everywhere_and_relativistic_losses_see_only_differences(pairs, shift):
    real, fake = torch.tensor(pairs, dtype=torch.float64).T  # same size, for pairing
    for name in NAMES:
        loss = plugins.load("loss", name)()
        assert torch.isfinite(loss.discriminator_loss(real, fake))
        assert torch.isfinite(_generator_loss(loss, fake, real))
    for name in ("relativistic", "relativistic-average", "wasserstein"):
        loss = plugins.load("loss", name)()
        torch.testing.assert_close(loss.discriminator_loss(real + shift, fake + shift),
                                   loss.discriminator_loss(real, fake), rtol=1e-9, atol=1e-6)


def test_losses_that_need_real_logits_for_the_generator_say_so():
    for name in NAMES:
        loss = plugins.load("loss", name)()
        wanted = name.startswith("relativistic")
        assert getattr(loss, "needs_real_for_generator", False) is wanted
        if wanted:
            with pytest.raises(ValueError, match="generator_loss needs real_logits"):
                loss.generator_loss(torch.zeros(3))
    with pytest.raises(ValueError, match="same shape"):
        losses.relativistic().discriminator_loss(torch.zeros(4), torch.zeros(3))
    with pytest.raises(ValueError, match="same shape"):  # (N,) - (N, 1) would broadcast
        losses.relativistic().generator_loss(torch.zeros(4, 1), real_logits=torch.zeros(4))


# ---- gradient penalty ----


class PerExampleLinear(nn.Module):
    """D(x)_n = <W_n, x_n>: linear, with a different input gradient W_n for each example."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight.clone())

    def forward(self, x):
        return (self.weight * x).flatten(1).sum(dim=1)


W = np.array([
    [[0.1, -0.2, 0.3, 0.0], [0.4, 0.1, -0.1, 0.2], [0.0, 0.3, 0.2, -0.4]],
    [[1.0, -0.5, 0.8, 0.3], [0.2, 0.9, -0.7, 0.6], [0.5, -0.3, 0.4, 1.1]],
])  # (N=2, C=3, W=4): ||W_0|| < 1 < ||W_1||


def test_gradient_penalty_norm_is_per_example_over_all_dims():
    torch.manual_seed(0)
    real, fake = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 3, 4, dtype=torch.float64)
    D = PerExampleLinear(torch.tensor(W))
    penalty = losses.wasserstein_gp(gp_weight=10.0).penalty(D, real, fake)

    per_example = np.sqrt((W**2).sum(axis=(1, 2)))  # one norm per example, over C and W
    expected = 10.0 * ((per_example - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(expected, rel=1e-12)
    # The usual mistakes give other numbers.
    per_pixel = 10.0 * ((np.abs(W) - 1) ** 2).mean()
    whole_batch = 10.0 * (np.sqrt((W**2).sum()) - 1) ** 2
    per_channel_only = 10.0 * ((np.sqrt((W**2).sum(axis=1)) - 1) ** 2).mean()  # norm(dim=1)
    for wrong in (per_pixel, whole_batch, per_channel_only):
        assert abs(wrong - expected) > 0.1

    # create_graph: the penalty trains D, d/dW_n = 10 * 2 (||W_n|| - 1) W_n / ||W_n|| / N
    penalty.backward()
    grad = 10.0 * 2 * (per_example - 1)[:, None, None] * W / per_example[:, None, None] / 2
    np.testing.assert_allclose(D.weight.grad.numpy(), grad, rtol=1e-10)


class Recorder(nn.Module):
    def forward(self, x):
        self.seen = x.detach().clone()
        return x.flatten(1).sum(dim=1)


def test_gradient_penalty_interpolates_with_one_coefficient_per_example():
    torch.manual_seed(1)
    real = torch.randn(64, 3, 4, 5, dtype=torch.float64)
    fake = torch.randn(64, 3, 4, 5, dtype=torch.float64)
    D = Recorder()
    losses.gradient_penalty(D, real, fake)
    alpha = ((D.seen - fake) / (real - fake)).flatten(1)  # x_hat = a real + (1 - a) fake
    torch.testing.assert_close(alpha, alpha[:, :1].expand_as(alpha))  # constant over dims
    assert ((alpha >= 0) & (alpha <= 1)).all()
    assert alpha[:, 0].std() > 0.1  # and drawn afresh for each example


def test_gradient_penalty_leaves_the_data_alone_and_wgan_gp_does_not_clip():
    real = torch.randn(4, 2)
    fake = torch.randn(4, 2, requires_grad=True)
    losses.wasserstein_gp().penalty(nn.Linear(2, 1), real, fake).sum().backward()
    assert fake.grad is None and not real.requires_grad
    assert not hasattr(losses.wasserstein_gp(), "after_discriminator_step")


# ---- weight clipping ----


def test_weight_clipping_clips_every_parameter():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(3, 5), nn.LayerNorm(5), nn.PReLU(), nn.Linear(5, 1))
    with torch.no_grad():
        for p in D.parameters():
            p.copy_(torch.randn_like(p) * 0.05)  # some inside [-0.02, 0.02], most outside
    before = [p.detach().clone() for p in D.parameters()]
    losses.wasserstein(clip=0.02).after_discriminator_step(D)
    for old, p in zip(before, D.parameters()):
        assert p.abs().max() <= 0.02
        torch.testing.assert_close(p.detach(), old.clamp(-0.02, 0.02), rtol=0, atol=0)
        assert p.requires_grad and p.grad is None
    assert len(before) == 7  # 2 Linear weights and biases, LayerNorm's 2, PReLU's 1


@pytest.mark.parametrize("call", [lambda: losses.wasserstein(clip=0),
                                  lambda: losses.wasserstein(clip=-0.1),
                                  lambda: losses.wasserstein_gp(gp_weight=-1),
                                  lambda: losses.hinge(r1_gamma=-1),
                                  lambda: losses.minimax(r1_gamma=float("nan"))])
def test_bad_options_fail_at_construction(call):
    with pytest.raises(ValueError, match="must be"):
        call()


# ---- R1 ----


class TanhD(nn.Module):
    """D(x)_n = sum W * tanh(x_n): grad_x D = W (1 - tanh(x)^2), different per example."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(weight.clone())

    def forward(self, x):
        return (self.weight * torch.tanh(x)).flatten(1).sum(dim=1)


@pytest.mark.parametrize("name", NAMES)
def test_r1_against_hand_computation_on_every_loss(name):
    torch.manual_seed(0)
    real = torch.randn(3, 2, 4, dtype=torch.float64)
    fake = torch.full((3, 2, 4), float("nan"), dtype=torch.float64)  # R1 ignores fakes
    weight = torch.randn(2, 4, dtype=torch.float64)
    factory = plugins.load("loss", name)
    if name == "wasserstein-gp":
        factory = lambda r1_gamma: losses.wasserstein_gp(gp_weight=0.0, r1_gamma=r1_gamma)  # noqa: E731
    loss = factory(r1_gamma=4.0)
    value = loss.penalty(TanhD(weight), real, fake)

    x, w = real.numpy(), weight.numpy()
    grad = w * (1 - np.tanh(x) ** 2)  # (3, 2, 4)
    expected = 4.0 / 2 * (grad**2).sum(axis=(1, 2)).mean()
    assert value.shape == ()
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_r1_trains_the_discriminator_and_is_off_by_default():
    D = PerExampleLinear(torch.tensor(W))
    real = torch.zeros(2, 3, 4, dtype=torch.float64)
    r1 = losses.hinge(r1_gamma=3.0).penalty(D, real, real)
    assert r1.item() == pytest.approx(3.0 / 2 * (W**2).sum(axis=(1, 2)).mean())
    r1.backward()  # d/dW_n [gamma/2 mean ||W_n||^2] = gamma W_n / N
    np.testing.assert_allclose(D.weight.grad.numpy(), 3.0 * W / 2, rtol=1e-12)

    class Untouchable(nn.Module):
        def forward(self, x):
            raise AssertionError("R1 off must not run D")

    for name in NAMES:
        if name != "wasserstein-gp":
            off = plugins.load("loss", name)().penalty(Untouchable(), real, real)
            assert off.item() == 0.0 and off.shape == ()


def test_wgan_gp_adds_r1_to_its_own_penalty():
    D = PerExampleLinear(torch.tensor(W))
    real, fake = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 3, 4, dtype=torch.float64)
    both = losses.wasserstein_gp(gp_weight=10.0, r1_gamma=2.0).penalty(D, real, fake)
    norms = np.sqrt((W**2).sum(axis=(1, 2)))
    assert both.item() == pytest.approx(10 * ((norms - 1) ** 2).mean() + (norms**2).mean())


def test_every_factory_lists_its_options_with_defaults():
    expected = {
        "minimax": {"discriminator_scale": 1.0, "r1_gamma": 0.0},
        "non-saturating": {"discriminator_scale": 1.0, "r1_gamma": 0.0},
        "wasserstein": {"clip": 0.01, "r1_gamma": 0.0},
        "wasserstein-gp": {"gp_weight": 10.0, "r1_gamma": 0.0},
        "hinge": {"r1_gamma": 0.0},
        "least-squares": {"r1_gamma": 0.0},
        "relativistic": {"r1_gamma": 0.0},
        "relativistic-average": {"r1_gamma": 0.0},
    }
    for name, options in expected.items():
        params = plugins.factory_options(plugins.load("loss", name))
        assert {k: p.default for k, p in params.items()} == options
    assert math.isclose(losses.wasserstein().clip, 0.01)
