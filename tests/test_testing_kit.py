"""The plugin author's kit: every built-in plugin passes, deliberately broken plugins fail with
a message that says what the contract expected and what came back."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from ganbench_plugins import losses, mlp, toy
from torch import nn

from ganbench import plugins, testing
from ganbench.errors import PluginError
from ganbench.testing import (
    CheckResult,
    assert_plugin_ok,
    check_dataset,
    check_discriminator,
    check_generator,
    check_loss,
    check_plugin,
)

BUILT_IN = [("loss", name) for name in (
    "minimax", "non-saturating", "wasserstein", "wasserstein-gp", "hinge", "least-squares",
    "relativistic", "relativistic-average")] + [
    ("generator", "mlp"), ("discriminator", "mlp"), ("dataset", "gaussian-1d"),
    ("dataset", "ring-2d")]


@pytest.mark.parametrize("kind, name", BUILT_IN)
def test_every_built_in_plugin_passes(kind, name):
    results = check_plugin(kind, name)
    assert all(isinstance(r, CheckResult) for r in results)
    assert [r for r in results if not r.passed] == []
    assert results[0].name == "import" and "from ganbench" in results[0].message
    assert {"options", "build"} <= {r.name for r in results}


def test_group_names_are_kinds_too_and_bad_names_are_usage_errors():
    assert [r.name for r in check_plugin("ganbench.losses", "hinge")] == [
        r.name for r in check_plugin("loss", "hinge")]
    # the short plural, as `ganbench plugins` prints the group (issue 19: it was refused)
    assert [r.name for r in check_plugin("losses", "hinge")] == [
        r.name for r in check_plugin("loss", "hinge")]
    with pytest.raises(PluginError, match="cannot check plugins of kind 'lossez'"):
        check_plugin("lossez", "hinge")
    with pytest.raises(PluginError, match="did you mean 'hinge'"):
        check_plugin("loss", "hinje")


def test_losses_with_their_options_and_hooks_exercised():
    assert_plugin_ok(losses.wasserstein_gp, kind="loss", options={"r1_gamma": 10.0})
    assert_plugin_ok(losses.relativistic_average, kind="loss", options={"r1_gamma": 1.0})
    names = {r.name for r in check_loss(losses.wasserstein)}
    assert {"penalty", "after_discriminator_step", "sign"} <= names
    assert_plugin_ok(mlp.mlp_discriminator, kind="discriminator", options={"dropout": 0.5})


def test_the_callers_random_state_is_left_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    check_generator(mlp.mlp_generator, data_shapes=[(2,)])
    check_loss(losses.wasserstein_gp)
    assert torch.equal(torch.get_rng_state(), state)


def failed(results: list[CheckResult]) -> dict[str, str]:
    return {r.name: r.message for r in results if not r.passed}


# ---- broken losses ----


class Good:
    def discriminator_loss(self, real_logits, fake_logits):
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def generator_loss(self, fake_logits):
        return F.softplus(-fake_logits).mean()


def as_factory(cls):
    def factory():
        return cls()
    factory.__name__ = f"make_{cls.__name__.lower()}"
    return factory


def test_a_good_third_party_loss_passes():
    assert failed(check_loss(as_factory(Good))) == {}


def test_a_loss_factory_that_raises():
    def broken(scale: float = 1.0):
        raise ValueError("scale is not set up")

    msg = failed(check_loss(broken))["build"]
    assert "expected broken() to return an object with discriminator_loss(real_logits, " in msg
    assert "but it raised ValueError: scale is not set up" in msg


def test_a_loss_lacking_generator_loss():
    class NoGenerator:
        def discriminator_loss(self, real_logits, fake_logits):
            return (fake_logits - real_logits).mean()

    msg = failed(check_loss(as_factory(NoGenerator)))["methods"]
    assert "expected an object with discriminator_loss(real_logits, fake_logits) and " \
           "generator_loss(fake_logits)" in msg
    assert "got a NoGenerator without generator_loss(...)" in msg
    # a dict is not a loss either
    msg = failed(check_loss(lambda: {"discriminator_loss": None}))["methods"]
    assert "got a dict without discriminator_loss(...) or generator_loss(...)" in msg


def test_unstable_log_sigmoid_loss_fails_at_extreme_logits():
    class LogSigmoid(Good):
        def discriminator_loss(self, real_logits, fake_logits):
            return -(torch.log(torch.sigmoid(real_logits)).mean()
                     + torch.log(1 - torch.sigmoid(fake_logits)).mean())

    problems = failed(check_loss(as_factory(LogSigmoid)))
    assert set(problems) == {"finite at extreme logits"}
    assert "not finite (use softplus forms, not log(sigmoid))" in problems[
        "finite at extreme logits"]


def test_wrong_signs_are_caught():
    class Backwards(Good):  # D maximising instead of minimising
        def discriminator_loss(self, real_logits, fake_logits):
            return -super().discriminator_loss(real_logits, fake_logits)

    msg = failed(check_loss(as_factory(Backwards)))["sign"]
    assert "discriminator_loss (minimised) should be lower when D tells real from fake" in msg

    class GeneratorBackwards(Good):
        def generator_loss(self, fake_logits):
            return -super().generator_loss(fake_logits)

    msg = failed(check_loss(as_factory(GeneratorBackwards)))["sign"]
    assert "generator_loss (minimised) should be lower when the fakes are rated real" in msg


class SoftLabelLeastSquares:
    """Least squares with soft targets drawn each call (real in [0.7, 1.2], fake in
    [0, 0.3]), as label-smoothing GAN codes do: a valid loss (the issue's false alarm)."""

    def discriminator_loss(self, real_logits, fake_logits):
        real_target = torch.empty_like(real_logits).uniform_(0.7, 1.2)
        fake_target = torch.empty_like(fake_logits).uniform_(0.0, 0.3)
        return 0.5 * ((real_logits - real_target) ** 2).mean() + 0.5 * (
            (fake_logits - fake_target) ** 2).mean()

    def generator_loss(self, fake_logits):
        target = torch.empty_like(fake_logits).uniform_(0.7, 1.2)
        return 0.5 * ((fake_logits - target) ** 2).mean()


def test_a_loss_with_soft_targets_drawn_each_call_passes_the_sign_check():
    """The old check (one draw per value, a step of 0.25 from logits -0.25 / 0.25) failed it
    (0.6806 -> 0.7007); the contract's comparison does not. With D's targets swapped, it
    still fails."""
    assert "sign" not in failed(check_loss(as_factory(SoftLabelLeastSquares)))

    class SwappedTargets(SoftLabelLeastSquares):
        def discriminator_loss(self, real_logits, fake_logits):
            return super().discriminator_loss(fake_logits, real_logits)

    msg = failed(check_loss(as_factory(SwappedTargets)))["sign"]
    assert "should be lower when D tells real from fake" in msg


def test_non_scalar_and_detached_losses():
    class PerExample(Good):
        def generator_loss(self, fake_logits):
            return F.softplus(-fake_logits)  # forgot the mean

    msg = failed(check_loss(as_factory(PerExample)))["scalar"]
    assert "expected generator_loss to return a 0-dim tensor" in msg
    assert "got a tensor of shape (5,)" in msg

    class Detached(Good):
        def discriminator_loss(self, real_logits, fake_logits):
            return torch.tensor(super().discriminator_loss(real_logits, fake_logits).item())

    msg = failed(check_loss(as_factory(Detached)))["finite at extreme logits"]
    assert "discriminator_loss has no gradient w.r.t. the logits" in msg

    class IgnoresReal(Good):
        def discriminator_loss(self, real_logits, fake_logits):
            return F.softplus(fake_logits).mean()

    problems = failed(check_loss(as_factory(IgnoresReal)))
    assert "does not depend on the real and fake logits" in problems["finite at extreme logits"]


def test_hooks_with_the_wrong_arity_or_values():
    class BadHooks(Good):
        def penalty(self, discriminator):  # should be (discriminator, real, fake)
            return torch.zeros(())

        def after_discriminator_step(self):  # should be (discriminator)
            pass

    problems = failed(check_loss(as_factory(BadHooks)))
    assert problems["penalty"].startswith("expected penalty(discriminator, real, fake): ")
    assert "too many positional arguments" in problems["penalty"]
    assert problems["after_discriminator_step"].startswith(
        "expected after_discriminator_step(discriminator): ")

    class NanPenalty(Good):
        def penalty(self, discriminator, real, fake):
            return discriminator(real).mean() * float("nan")

    assert "non-finite penalty" in failed(check_loss(as_factory(NanPenalty)))["penalty"]

    class VectorPenalty(Good):
        def penalty(self, discriminator, real, fake):
            return discriminator(real)

    msg = failed(check_loss(as_factory(VectorPenalty)))["penalty"]
    assert "expected a 0-dim tensor added to the discriminator's loss, got a tensor of shape" in msg


def test_needs_real_for_generator_requires_the_extended_signature():
    class Relativistic(Good):
        needs_real_for_generator = True  # but generator_loss takes no real_logits

    msg = failed(check_loss(as_factory(Relativistic)))["methods"]
    assert "generator_loss(fake_logits, real_logits=...) must work" in msg

    class Honest(Relativistic):
        def generator_loss(self, fake_logits, real_logits=None):
            return F.softplus(real_logits - fake_logits).mean()

    assert failed(check_loss(as_factory(Honest))) == {}


def test_options_must_be_introspectable():
    def needs_option(scale):
        return Good()

    def hides_options(**options):
        return Good()

    assert "option(s) without a default: scale" in failed(check_loss(needs_option))["options"]
    assert "hidden behind **options" in failed(check_loss(hides_options))["options"]
    assert "expected a callable factory, got a int" in failed(check_loss(42))["factory"]


# ---- broken generators and discriminators ----


def test_a_generator_factory_returning_a_dict():
    def dict_generator(noise_dim, data_shape):
        return {"noise_dim": noise_dim}

    msg = failed(check_generator(dict_generator))["returns a module"]
    assert msg.startswith("expected a torch.nn.Module mapping (N, noise_dim) noise to "
                          "(N, *data_shape) samples, got a dict")


class FixedShape(nn.Module):
    """Ignores data_shape: always (N, 2); and carries a parameter it never uses."""

    def __init__(self, noise_dim):
        super().__init__()
        self.net = nn.Linear(noise_dim, 2)
        self.unused = nn.Linear(3, 3)

    def forward(self, z):
        return self.net(z)


def test_a_generator_with_the_wrong_shape_and_an_unused_parameter():
    def fixed(noise_dim, data_shape):
        return FixedShape(noise_dim)

    problems = failed(check_generator(fixed))
    assert "data_shape=(784,): expected samples of shape (5, 784) from noise of shape (5, 2), " \
           "got a tensor of shape (5, 2)" in problems["output shape"]
    # (2,) is right, so the other checks ran there
    assert "no gradient reaches parameter(s) unused.weight, unused.bias" in problems["gradients"]


def test_a_nondeterministic_generator_and_non_finite_samples():
    class PythonRandom(nn.Module):  # torch.manual_seed does not seed Python's random
        def __init__(self, noise_dim, data_shape, scale=1.0):
            super().__init__()
            self.data_shape = data_shape
            self.net = nn.Linear(noise_dim, int(torch.Size(data_shape).numel()))
            self.scale = scale

        def forward(self, z):
            x = self.net(z) * self.scale + random.random()
            return x.view(len(z), *self.data_shape)

    problems = failed(check_generator(lambda noise_dim, data_shape: PythonRandom(
        noise_dim, data_shape)))
    assert set(problems) == {"deterministic"}
    assert "under the same torch.manual_seed gave different samples" in problems["deterministic"]

    problems = failed(check_generator(lambda noise_dim, data_shape: PythonRandom(
        noise_dim, data_shape, scale=float("inf")), data_shapes=[(2,)]))
    assert "non-finite samples" in problems["finite output"]


def test_a_generator_factory_that_does_not_take_data_shape():
    def no_shape(noise_dim: int, width: int = 4):
        return nn.Linear(noise_dim, width)

    msg = failed(check_generator(no_shape))["options"]
    assert "a generator factory is called with noise_dim=..., data_shape=... but it does not " \
           "accept data_shape" in msg


def test_discriminator_logits_of_shape_n_1_and_dropout_left_on_in_eval():
    def unsqueezed(data_shape, width: int = 4):
        return nn.Sequential(nn.Flatten(), nn.Linear(int(torch.Size(data_shape).numel()), 1))

    msg = failed(check_discriminator(unsqueezed))["output shape"]
    assert msg.startswith("data_shape=(1,): expected logits of shape (5,) from data of shape "
                          "(5, 1), got a tensor of shape (5, 1) (torch.float32) (squeeze the last "
                          "dimension)")

    class AlwaysDropout(nn.Module):
        def __init__(self, data_shape):
            super().__init__()
            self.net = nn.Linear(int(torch.Size(data_shape).numel()), 1)

        def forward(self, x):
            return self.net(F.dropout(x.flatten(1), 0.5, training=True)).squeeze(1)

    problems = failed(check_discriminator(lambda data_shape: AlwaysDropout(data_shape)))
    assert set(problems) == {"deterministic"}
    assert "in eval mode the same data gave different logits" in problems["deterministic"]


# ---- broken datasets ----


def test_broken_datasets():
    def float64(n: int = 8):
        data = toy.gaussian_1d(n_train=n, n_valid=n, n_test=n)
        data.splits["valid"] = data.splits["valid"].double()
        del data.splits["test"]
        return data

    msg = failed(check_dataset(float64))["splits"]
    assert "'valid' is torch.float64, expected torch.float32" in msg
    assert "no 'test' split (keys: train, valid)" in msg

    def plain_dict():
        return {"shape": (1,), "splits": {}}

    problems = failed(check_dataset(plain_dict))
    assert "expected `shape` a tuple of positive ints, got None from a dict" in problems["shape"]
    assert "got a dict whose `splits` is a NoneType" in problems["splits"]

    def wrong_shape_and_nan():
        data = toy.ring_2d(n_train=4, n_valid=4, n_test=4)
        data.splits["train"] = data.splits["train"][:, :1]
        data.splits["test"][0, 0] = float("nan")
        return data

    msg = failed(check_dataset(wrong_shape_and_nan))["splits"]
    assert "'train' has shape (4, 1), expected (N, *(2,))" in msg
    assert "'test' holds non-finite values" in msg


# ---- by name, and the assertion helper ----

BROKEN_MODULE = """
import torch
import torch.nn.functional as F

class NoGenerator:
    def discriminator_loss(self, real_logits, fake_logits):
        return F.softplus(fake_logits - real_logits).mean()

def no_generator():
    return NoGenerator()
"""


def test_check_plugin_on_installed_third_party_plugins(fake_distribution):
    fake_distribution("broken-gan", {"ganbench.losses": {
        "half-a-loss": "brokenmod:no_generator", "unimportable": "no_such_mod_qq:factory"}},
        {"brokenmod": BROKEN_MODULE})
    results = check_plugin("loss", "half-a-loss")
    assert results[0] == CheckResult("import", True, "brokenmod:no_generator from broken-gan 0.1.0")
    assert "without generator_loss(...)" in failed(results)["methods"]

    results = check_plugin("loss", "unimportable")
    assert len(results) == 1 and not results[0].passed
    assert "cannot import no_such_mod_qq:factory" in results[0].message

    with pytest.raises(AssertionError) as info:
        assert_plugin_ok("loss", "half-a-loss")
    text = str(info.value)
    assert text.startswith("loss 'half-a-loss' fails 1 of ")
    assert "methods: expected an object with discriminator_loss" in text
    plugins.clear_cache()


def test_assert_plugin_ok():
    results = assert_plugin_ok("generator", "mlp")
    assert all(r.passed for r in results)
    assert_plugin_ok(toy.gaussian_1d, kind="ganbench.datasets")
    with pytest.raises(AssertionError, match="discriminator <lambda> fails .* contract checks"):
        assert_plugin_ok(lambda: Good(), kind="discriminator")  # wrong kind: fails loudly
    with pytest.raises(TypeError, match="give the kind"):
        assert_plugin_ok(losses.hinge)
    with pytest.raises(TypeError, match="give a name"):
        assert_plugin_ok("loss")
    assert "FAIL methods" in testing.format_results(check_loss(lambda: {}))
