"""The paper's MNIST networks: shapes, the original code's initialisation, output bias, dropout
placement and maxout arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ganbench_plugins.paper import Maxout, paper_mnist_discriminator, paper_mnist_generator
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

SHAPES = [(784,), (1, 28, 28)]


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("shape", SHAPES)
def test_generator_shapes_and_layers(shape):
    g = paper_mnist_generator(noise_dim=100, data_shape=shape)
    out = g(torch.rand(7, 100))
    assert out.shape == (7, *shape)
    assert ((out > 0) & (out < 1)).all()  # sigmoid output
    sizes = [(m.in_features, m.out_features) for m in linears(g)]
    assert sizes == [(100, 1200), (1200, 1200), (1200, 784)]
    kinds = [type(m) for m in g.net]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.Sigmoid]


@pytest.mark.parametrize("shape", SHAPES)
def test_discriminator_shapes_and_layers(shape):
    d = paper_mnist_discriminator(data_shape=shape)
    assert d(torch.rand(7, *shape)).shape == (7,)
    maxouts = [m for m in d.modules() if isinstance(m, Maxout)]
    assert [(m.linear.in_features, m.units, m.pieces) for m in maxouts] == [
        (784, 240, 5),
        (240, 240, 5),
    ]
    assert (d.net.y.in_features, d.net.y.out_features) == (240, 1)


def test_other_sizes_follow_the_options():
    g = paper_mnist_generator(noise_dim=3, data_shape=(2, 5), hidden=[8])
    assert g(torch.rand(4, 3)).shape == (4, 2, 5)
    d = paper_mnist_discriminator(data_shape=(2, 5), units=[6, 4, 3], pieces=2)
    assert d(torch.rand(4, 2, 5)).shape == (4,)
    assert [m.units for m in d.modules() if isinstance(m, Maxout)] == [6, 4, 3]


def assert_spread_uniform(weight: torch.Tensor, r: float):
    w = weight.detach().flatten()
    assert w.abs().max() <= r
    # spread over the whole range, roughly uniformly (std of U[-r, r] is r / sqrt(3))
    assert w.max() > 0.95 * r and w.min() < -0.95 * r
    assert w.std().item() == pytest.approx(r / math.sqrt(3), rel=0.1)
    assert abs(w.mean().item()) < 0.1 * r


@pytest.mark.parametrize(
    "build, r",
    [
        (lambda **kw: paper_mnist_generator(noise_dim=100, data_shape=(784,), **kw), 0.05),
        (lambda **kw: paper_mnist_discriminator(data_shape=(784,), **kw), 0.005),
    ],
    ids=["generator", "discriminator"],
)
def test_initialisation_uniform_weights_zero_biases(build, r):
    torch.manual_seed(0)
    model = build()
    for layer in linears(model):
        assert_spread_uniform(layer.weight, r)
        assert (layer.bias == 0).all()
    other = build(init_range=0.3)
    for layer in linears(other):
        assert_spread_uniform(layer.weight, 0.3)


def test_output_bias_is_logit_of_mean_pixel():
    g = paper_mnist_generator(noise_dim=10, data_shape=(784,), output_bias_mean=0.1307)
    bias = g.net.y.bias
    assert torch.allclose(torch.sigmoid(bias), torch.full((784,), 0.1307), atol=1e-6)
    assert all((layer.bias == 0).all() for layer in linears(g)[:-1])
    # with zero weights the untrained generator would output the mean exactly
    with torch.no_grad():
        g.net.y.weight.zero_()
    assert torch.allclose(g(torch.rand(2, 10)), torch.full((2, 784), 0.1307), atol=1e-6)


def test_output_bias_none_is_zero():
    g = paper_mnist_generator(noise_dim=10, data_shape=(784,))
    assert (g.net.y.bias == 0).all()


@pytest.mark.parametrize("mean, expected", [(0.0, 1e-7), (1.0, 1 - 1e-7), (1e-9, 1e-7)])
def test_output_bias_is_clipped_at_both_ends(mean, expected):
    g = paper_mnist_generator(noise_dim=10, data_shape=(4,), output_bias_mean=mean)
    bias = g.net.y.bias.double()
    assert torch.isfinite(bias).all()
    assert torch.allclose(
        bias, torch.full((4,), math.log(expected / (1 - expected))).double(), rtol=1e-6
    )


def test_output_bias_per_pixel():
    means = [0.0, 0.25, 0.5, 1.0, 0.75, 0.1]
    g = paper_mnist_generator(noise_dim=10, data_shape=(1, 2, 3), output_bias_mean=means)
    clipped = np.clip(means, 1e-7, 1 - 1e-7)
    expected = np.log(clipped / (1 - clipped))
    assert np.allclose(g.net.y.bias.detach().numpy(), expected, rtol=1e-6)


@given(st.floats(min_value=0.0, max_value=1.0))
@settings(max_examples=50, deadline=None)
def test_output_bias_property(mean):
    g = paper_mnist_generator(noise_dim=2, data_shape=(3,), hidden=[2], output_bias_mean=mean)
    got = torch.sigmoid(g.net.y.bias.double())
    clipped = min(max(mean, 1e-7), 1 - 1e-7)
    assert torch.allclose(got, torch.full((3,), clipped, dtype=torch.float64), rtol=1e-5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), [0.5, 0.5], "mean"])
def test_output_bias_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="output_bias_mean"):
        paper_mnist_generator(noise_dim=10, data_shape=(784,), output_bias_mean=bad)


@pytest.mark.parametrize(
    "factory, kwargs, match",
    [
        (paper_mnist_generator, dict(noise_dim=0, data_shape=(784,)), "noise_dim"),
        (paper_mnist_generator, dict(noise_dim=10, data_shape=(784,), init_range=0), "init_range"),
        (paper_mnist_generator, dict(noise_dim=10, data_shape=(784,), hidden=[0]), "hidden"),
        (paper_mnist_discriminator, dict(data_shape=(784,), input_keep=0.0), "input_keep"),
        (paper_mnist_discriminator, dict(data_shape=(784,), hidden_keep=1.5), "hidden_keep"),
        (paper_mnist_discriminator, dict(data_shape=(784,), pieces=0), "pieces"),
        (paper_mnist_discriminator, dict(data_shape=(784,), units="240"), "units"),
        (paper_mnist_discriminator, dict(data_shape=()), "data_shape"),
    ],
)
def test_bad_options_raise_value_error(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_dropout_sits_on_each_layer_input_with_the_paper_rates():
    d = paper_mnist_discriminator(data_shape=(784,))
    seq = list(d.net)
    kinds = [type(m) for m in seq]
    assert kinds == [nn.Dropout, Maxout, nn.Dropout, Maxout, nn.Dropout, nn.Linear]
    assert [m.p for m in seq if isinstance(m, nn.Dropout)] == pytest.approx([0.2, 0.5, 0.5])


def test_dropout_rates_measured_on_layer_inputs():
    torch.manual_seed(0)
    d = paper_mnist_discriminator(data_shape=(784,))
    seen = {}

    def record(name):
        def hook(module, inputs):
            seen[name] = inputs[0].detach().clone()

        return hook

    for name in ("h0", "h1", "y"):
        getattr(d.net, name).register_forward_pre_hook(record(name))
    d.train()
    x = torch.ones(200, 784)
    d(x)
    first = seen["h0"]
    # inverted dropout: each input is 0 with probability 0.2, else 1 / 0.8
    assert first.unique().tolist() == pytest.approx([0.0, 1.25])
    assert (first == 0).float().mean().item() == pytest.approx(0.2, abs=0.01)
    for name in ("h1", "y"):
        # the hidden layers' inputs: half of them dropped
        dropped = (seen[name] == 0).float().mean().item()
        assert dropped == pytest.approx(0.5, abs=0.03), name

    d.eval()
    d(x)
    assert torch.equal(seen["h0"], x)


def test_train_mode_is_random_eval_mode_deterministic():
    torch.manual_seed(0)
    d = paper_mnist_discriminator(data_shape=(1, 28, 28))
    x = torch.rand(16, 1, 28, 28)
    d.train()
    assert not torch.equal(d(x), d(x))
    d.eval()
    assert torch.equal(d(x), d(x))


def test_keep_one_disables_dropout():
    d = paper_mnist_discriminator(data_shape=(784,), input_keep=1.0, hidden_keep=1.0)
    x = torch.rand(8, 784)
    d.train()
    assert torch.equal(d(x), d(x))


def test_maxout_by_hand():
    m = Maxout(in_features=2, units=2, pieces=3)
    with torch.no_grad():
        # unit 0 takes rows 0..2, unit 1 rows 3..5 (pylearn2's grouping)
        m.linear.weight.copy_(torch.tensor([[1, 0], [0, 1], [1, 1], [-1, 0], [0, -1], [2, -1]]))
        m.linear.bias.copy_(torch.tensor([0.0, 0.5, -1.0, 0.0, 0.0, 0.0]))
    x = torch.tensor([[1.0, 2.0], [-3.0, 0.5]])
    # row 1: pieces (1, 2.5, 2) -> 2.5; (-1, -2, 0) -> 0
    # row 2: pieces (-3, 1, -3.5) -> 1; (3, -0.5, -6.5) -> 3
    assert torch.equal(m(x), torch.tensor([[2.5, 0.0], [1.0, 3.0]]))


@given(
    units=st.integers(1, 4),
    pieces=st.integers(1, 4),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=30, deadline=None)
def test_maxout_matches_numpy(units, pieces, n, seed):
    torch.manual_seed(seed)
    m = Maxout(in_features=3, units=units, pieces=pieces)
    x = torch.randn(n, 3)
    w = m.linear.weight.detach().numpy().astype(np.float64)
    b = m.linear.bias.detach().numpy().astype(np.float64)
    z = x.numpy().astype(np.float64) @ w.T + b
    expected = np.stack(
        [z[:, u * pieces : (u + 1) * pieces].max(axis=1) for u in range(units)], axis=1
    )
    assert np.allclose(m(x).detach().numpy(), expected, atol=1e-5)
