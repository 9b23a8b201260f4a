"""The DCGAN-style generator and discriminator: shapes for 28 x 28 images with 1 and 3
channels (and MNIST's flat shape), the image layout of other shapes, and the contract."""

from __future__ import annotations

import pytest
import torch
from ganbench_plugins.dcgan import dcgan_discriminator, dcgan_generator, image_layout
from torch import nn

from ganbench.testing import assert_plugin_ok

SHAPES = [(1, 28, 28), (3, 28, 28), (784,), (2352,)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_shapes_and_range(shape):
    torch.manual_seed(0)
    G = dcgan_generator(noise_dim=32, data_shape=shape, width=16)
    D = dcgan_discriminator(data_shape=shape, width=16)
    x = G(torch.randn(6, 32))
    assert x.shape == (6, *shape)
    assert x.min() >= 0 and x.max() <= 1  # sigmoid: the data lie in [0, 1]
    logits = D(x)
    assert logits.shape == (6,)
    assert torch.isfinite(logits).all()


def test_the_networks_are_dcgan_style():
    G = dcgan_generator(noise_dim=8, data_shape=(1, 28, 28))
    D = dcgan_discriminator(data_shape=(1, 28, 28))
    kinds = {type(m) for m in G.modules()}
    assert nn.BatchNorm2d in kinds and nn.ConvTranspose2d in kinds
    assert {nn.LeakyReLU, nn.Conv2d} <= {type(m) for m in D.modules()}
    assert nn.BatchNorm2d not in {type(m) for m in D.modules()}  # off by default
    with_bn = dcgan_discriminator(data_shape=(1, 28, 28), batchnorm=True)
    assert nn.BatchNorm2d in {type(m) for m in with_bn.modules()}
    # 28 x 28: a 7 x 7 projection, upsampled twice
    assert G.project.out_features == 2 * 64 * 7 * 7


def test_layouts():
    assert image_layout((784,)) == (1, 28, 28)
    assert image_layout((2352,)) == (3, 28, 28)
    assert image_layout((28, 28)) == (1, 28, 28)
    assert image_layout((3, 28, 28)) == (3, 28, 28)
    assert image_layout((2,)) == (2, 1, 1)
    assert image_layout((1,)) == (1, 1, 1)
    with pytest.raises(ValueError, match="data shapes"):
        image_layout((1, 2, 3, 4))


def test_bad_options_are_one_line_value_errors():
    with pytest.raises(ValueError, match="width"):
        dcgan_generator(noise_dim=4, data_shape=(784,), width=0)
    with pytest.raises(ValueError, match="leak"):
        dcgan_discriminator(data_shape=(784,), leak=1.5)


def test_generator_keeps_the_contract():
    assert_plugin_ok(dcgan_generator, kind="generator", options={"width": 8})


def test_discriminator_keeps_the_contract():
    assert_plugin_ok(dcgan_discriminator, kind="discriminator", options={"width": 8})
    assert_plugin_ok(dcgan_discriminator, kind="discriminator",
                     options={"width": 8, "batchnorm": True})


@pytest.mark.parametrize("group", ["generator", "discriminator"])
def test_check_plugin_command(runner, group):
    from ganbench import plugins
    from ganbench.cli import cli

    if "dcgan" not in {p.name for p in plugins.discover(group)}:
        pytest.skip("dcgan's entry points are not installed (pip install -e .)")
    result = runner.invoke(cli, ["check-plugin", group, "dcgan", "--set", "width=8"])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output
