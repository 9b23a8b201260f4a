"""ganbench.contract: the Protocols, and the one set of structural checks. A plugin that keeps
the contract passes whether or not it imports ganbench; each kind of breach stops a run with
its one-line error, and ganbench.testing reports the same breach in its own words."""

from __future__ import annotations

import importlib
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganbench import contract, testing
from ganbench.config import RunConfig
from ganbench.contract import (
    Breach,
    check_dataset,
    check_loss,
    check_models,
    check_module,
    dataset_breaches,
)
from ganbench.errors import ConfigError, PluginError
from ganbench.runner import _check_dataset, prepare

# A third party's plugins: duck-typed, no ganbench import anywhere.
DUCK = """
import torch
import torch.nn.functional as F
from torch import nn


class Points:
    shape = (2,)

    def __init__(self, n=16):
        gen = torch.Generator().manual_seed(0)
        self.splits = {s: torch.rand(n, 2, generator=gen) for s in ("train", "valid", "test")}


class Gen(nn.Module):
    def __init__(self, noise_dim, data_shape):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.net = nn.Linear(noise_dim, int(torch.Size(data_shape).numel()))

    def forward(self, z):
        return torch.sigmoid(self.net(z)).view(len(z), *self.data_shape)


class Disc(nn.Module):
    def __init__(self, data_shape):
        super().__init__()
        self.net = nn.Linear(int(torch.Size(data_shape).numel()), 1)

    def forward(self, x):
        return self.net(x.flatten(1)).squeeze(1)


class Hinge:
    def discriminator_loss(self, real_logits, fake_logits):
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def generator_loss(self, fake_logits):
        return -fake_logits.mean()

    def after_discriminator_step(self, discriminator):
        pass


def points(n: int = 16):
    return Points(n)


def gen(noise_dim: int, data_shape: tuple, scale: float = 1.0):
    return Gen(noise_dim, data_shape)


def disc(data_shape: tuple):
    return Disc(data_shape)


def hinge():
    return Hinge()
"""


@pytest.fixture
def duck(tmp_path, monkeypatch):
    (tmp_path / "duckplug.py").write_text(textwrap.dedent(DUCK))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("duckplug")
    yield module
    importlib.sys.modules.pop("duckplug", None)


def test_a_plugin_that_does_not_import_ganbench_keeps_the_contract(duck):
    assert "ganbench" not in DUCK
    data = duck.points()
    assert check_dataset("points", data) == (2,)
    G, D, loss = duck.gen(noise_dim=3, data_shape=(2,)), duck.disc(data_shape=(2,)), duck.hinge()
    assert check_module("generator", "gen", G) is G
    assert check_module("discriminator", "disc", D) is D
    assert check_loss("hinge", loss) is loss
    check_models(G, D, (2,), noise_dim=3)
    # the Protocols describe them without being named by them
    assert isinstance(data, contract.Dataset) and isinstance(loss, contract.Loss)
    assert isinstance(G, contract.Generator) and isinstance(D, contract.Discriminator)
    assert isinstance(loss, contract.LossWithStepHook)
    assert not isinstance(loss, contract.LossWithPenalty)
    # and the kit agrees
    for kind, factory in (("dataset", duck.points), ("generator", duck.gen),
                          ("discriminator", duck.disc), ("loss", duck.hinge)):
        testing.assert_plugin_ok(factory, kind=kind)


def test_a_duck_typed_plugin_runs_through_prepare(duck, fake_distribution):
    fake_distribution("duck-gan", {
        "ganbench.datasets": {"points": "duckplug:points"},
        "ganbench.generators": {"gen": "duckplug:gen"},
        "ganbench.discriminators": {"disc": "duckplug:disc"},
        "ganbench.losses": {"hinge-duck": "duckplug:hinge"},
    }, {})
    exp = prepare(RunConfig(generator="gen", discriminator="disc", loss="hinge-duck",
                            dataset="points", seed=0, train={"steps": 2, "batch_size": 4},
                            noise={"dim": 3}, score={"parzen": False}))
    assert isinstance(exp.generator, duck.Gen) and exp.plugin_versions["loss"]["distribution"] \
        == "duck-gan"


def test_protocols_of_the_optional_parts():
    class Mixture:
        shape = (2,)
        splits = {s: torch.zeros(1, 2) for s in contract.SPLITS}
        modes = torch.zeros(8, 2)
        mode_std = 0.02
        default_metrics = ("modes",)

    class ModeCount:
        higher_is_better = {"modes": True, "high_quality": True}

        def compute(self, samples, dataset):
            return {"modes": 8.0, "high_quality": 1.0}

        def applies_to(self, dataset):
            return None if hasattr(dataset, "modes") else "needs `modes`: not a mixture"

    assert isinstance(Mixture(), contract.MixtureDataset)
    assert isinstance(Mixture(), contract.DatasetWithMetrics)
    assert not isinstance(Mixture(), contract.FeatureDataset)
    assert isinstance(ModeCount(), contract.Metric)
    assert isinstance(ModeCount(), contract.SelectiveMetric)
    assert not isinstance({"compute": None}, contract.Metric)
    assert set(contract.PROTOCOLS) == {"dataset", "generator", "discriminator", "loss", "metric"}


# ---- datasets ----


class Data:
    def __init__(self, shape=(2,), splits=None, **overrides):
        self.shape = shape
        self.splits = splits if splits is not None else {
            s: torch.rand(4, *shape) for s in contract.SPLITS}
        if overrides:
            self.splits.update(overrides)


def raised(check, *args) -> str:
    with pytest.raises((PluginError, ConfigError)) as info:
        check(*args)
    return str(info.value)


@pytest.mark.parametrize("dataset, message", [
    ({"shape": (2,), "splits": {}},
     "dataset 'x' broke the contract: expected an object with `shape` (a tuple) and `splits` "
     "(a mapping), got dict"),
    (Data(shape=[2]),
     "dataset 'x' broke the contract: expected an object with `shape` (a tuple) and `splits` "
     "(a mapping), got Data"),
    (Data(splits=[1, 2]),
     "dataset 'x' broke the contract: expected an object with `shape` (a tuple) and `splits` "
     "(a mapping), got Data"),
    (Data(splits={"train": torch.zeros(1, 2), "valid": torch.zeros(1, 2)}),
     "dataset 'x' has no 'test' split (it needs train, valid, test)"),
    (Data(valid=torch.zeros(4, 3)),
     "dataset 'x' split 'valid' must be a tensor of shape (N, *(2,)), got (4, 3)"),
    (Data(test=[[0.0, 1.0]]),
     "dataset 'x' split 'test' must be a tensor of shape (N, *(2,)), got list"),
    (Data(shape=(0, 2)), "dataset 'x' broke the contract: `shape` must be a tuple of positive "
                         "ints, got (0, 2)"),
    (Data(train=torch.zeros(0, 2)),
     "dataset 'x' split 'train' is empty; each of train, valid and test needs at least one example"),
    (Data(valid=torch.zeros(4, 2, dtype=torch.float64)),
     "dataset 'x' split 'valid' is torch.float64; the contract is float32 tensors (convert with "
     ".float())"),
    (Data(test=torch.tensor([[0.0, float("nan")]])),
     "dataset 'x' split 'test' holds NaN or inf values"),
])
def test_each_dataset_breach_is_one_line(dataset, message):
    assert raised(check_dataset, "x", dataset) == message
    assert raised(_check_dataset, "x", dataset) == message  # the runner's name for it
    # the kit fails the same check, in its own words
    first = dataset_breaches(dataset, "x")[0]
    kit = {r.name: r.message for r in testing.check_dataset(lambda: dataset) if not r.passed}
    assert first.detail in kit[first.check]


def test_a_missing_shape_and_splits_is_the_malformed_error_first():
    # a bad shape and no mapping: before training, the one malformed-object error, as before
    data = Data(shape=(0,), splits=None)
    data.splits = None
    assert raised(check_dataset, "x", data).startswith("dataset 'x' broke the contract: expected")
    assert [b.check for b in dataset_breaches(data)] == ["splits", "shape"]


def test_every_breach_is_listed_at_most_one_per_split():
    data = Data(train=torch.zeros(4, 2, dtype=torch.float64), valid=torch.zeros(4, 1))
    del data.splits["test"]
    assert [b.detail for b in dataset_breaches(data)] == [
        "'train' is torch.float64, expected torch.float32",
        "'valid' has shape (4, 1), expected (N, *(2,)) with N >= 1",
        "no 'test' split (keys: train, valid)",
    ]


def test_splits_may_be_any_mapping_like_object():
    class Splits:  # not a collections.abc.Mapping: keys() and [] are enough
        def __init__(self):
            self.data = {s: torch.rand(3, 1) for s in contract.SPLITS}

        def keys(self):
            return self.data.keys()

        def __getitem__(self, key):
            return self.data[key]

    assert check_dataset("x", Data(shape=(1,), splits=Splits())) == (1,)
    assert testing.assert_plugin_ok(lambda: Data(shape=(1,), splits=Splits()), kind="dataset")


# ---- generators and discriminators ----


class Const(nn.Module):
    def __init__(self, out, fail=False):
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.out, self.fail = out, fail

    def forward(self, x):
        if self.fail:
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied\nsecond line")
        return torch.zeros(x.shape[0], *self.out) + self.lin.weight.sum()


def test_check_module():
    G = Const((2,))
    assert check_module("generator", "g", G) is G
    assert raised(check_module, "discriminator", "d", {"forward": None}) == (
        "discriminator 'd' broke the contract: its factory must return a torch.nn.Module, got dict")
    breach = contract.module_breach("generator", [])
    assert breach.detail == f"expected {contract.GENERATOR}, got a list"


def models(G, D, noise_dim=3):
    check_models(G, D, (2,), noise_dim=noise_dim, generator="g", discriminator="d", dataset="data")


def test_check_models_one_line_errors():
    models(Const((2,)), Const(()))
    with pytest.raises(ConfigError) as info:
        models(Const((3,)), Const(()))
    assert str(info.value) == ("generator 'g' makes samples of shape (3,), but dataset 'data' has "
                               "shape (2,); choose a generator (or its options) that outputs (2,)")
    with pytest.raises(ConfigError) as info:
        models(Const((2,)), Const((1,)))
    assert str(info.value) == ("discriminator 'd' returned (2, 1) for 2 examples; the contract is "
                               "(N,) logits (squeeze the last dimension, no sigmoid)")
    with pytest.raises(PluginError) as info:
        models(Const((2,), fail=True), Const(()))
    assert str(info.value) == ("generator 'g' failed on noise of shape (2, 3): RuntimeError: mat1 "
                               "and mat2 shapes cannot be multiplied")
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(PluginError) as info:
        models(Const((2,)), Const((), fail=True))
    assert str(info.value).startswith("discriminator 'd' failed on data of shape (2, *(2,)): "
                                      "RuntimeError: mat1")


def test_check_models_leaves_the_random_streams_and_gradients_alone():
    class Noisy(nn.Module):  # dropout and torch.randn: both draw from the global generator
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, z):
            return F.dropout(self.lin(z) + torch.randn(len(z), 2), 0.5, training=True)

    G, D = Noisy(), nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    torch.manual_seed(7)
    state = torch.get_rng_state()
    models(G, D)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(p.grad is None for p in [*G.parameters(), *D.parameters()])


def test_the_kit_reports_the_same_forward_breaches():
    z = torch.zeros(5, 2)
    _, breach = contract.generator_output(Const((3,)), z, (2,))
    assert breach.check == "output shape" and breach.error is ConfigError
    assert breach.detail == ("expected samples of shape (5, 2) from noise of shape (5, 2), got a "
                             "tensor of shape (5, 3) (torch.float32)")
    kit = {r.name: r.message for r in testing.check_generator(
        lambda noise_dim, data_shape: Const((3,)), data_shapes=[(2,)]) if not r.passed}
    assert kit["output shape"].startswith("noise_dim=2, data_shape=(2,): " + breach.detail)


# ---- losses ----


class Good:
    def discriminator_loss(self, real_logits, fake_logits):
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def generator_loss(self, fake_logits):
        return F.softplus(-fake_logits).mean()


class NoGenerator:
    def discriminator_loss(self, real_logits, fake_logits):
        return fake_logits.mean()


class WrongArity(Good):
    def discriminator_loss(self, logits):
        return logits.mean()


class NeedsReal(Good):
    needs_real_for_generator = True


class BadPenalty(Good):
    def penalty(self, discriminator):
        return torch.zeros(())


class NotCallablePenalty(Good):
    penalty = 3.0


class BadStepHook(Good):
    def after_discriminator_step(self):
        pass


@pytest.mark.parametrize("loss, message", [
    (NoGenerator(), "loss 'l' broke the contract: it has no generator_loss(...) method"),
    ({}, "loss 'l' broke the contract: it has no discriminator_loss(...) method"),
    (WrongArity(), "loss 'l' broke the contract: discriminator_loss(real_logits, fake_logits) "
                   "cannot be called: too many positional arguments"),
    (NeedsReal(), "loss 'l' broke the contract: needs_real_for_generator is true, so "
                  "generator_loss(fake_logits, real_logits=...) must work: got an unexpected "
                  "keyword argument 'real_logits'"),
    (BadPenalty(), "loss 'l' broke the contract: expected penalty(discriminator, real, fake): "
                   "too many positional arguments"),
    (NotCallablePenalty(), "loss 'l' broke the contract: penalty must be a method "
                           "penalty(discriminator, real, fake), got float"),
    (BadStepHook(), "loss 'l' broke the contract: expected "
                    "after_discriminator_step(discriminator): too many positional arguments"),
])
def test_each_loss_breach_is_one_line(loss, message):
    assert raised(check_loss, "l", loss) == message
    breach = (contract.loss_method_breaches(loss) or contract.hook_breaches(loss))[0]
    kit = {r.name: r.message for r in testing.check_loss(lambda: loss) if not r.passed}
    assert breach.detail in kit[breach.check]


def test_good_losses_pass_and_absent_hooks_are_absent():
    class NoneHooks(Good):
        penalty = None  # as good as absent: the trainer skips it
        after_discriminator_step = None

    class Relativistic(Good):
        needs_real_for_generator = True

        def generator_loss(self, fake_logits, real_logits=None):
            return F.softplus(real_logits - fake_logits).mean()

    for loss in (Good(), NoneHooks(), Relativistic()):
        assert check_loss("l", loss) is loss
    assert isinstance(Relativistic(), contract.RelativisticLoss)


def test_a_breach_raises_its_error_type_from_its_cause():
    cause = ValueError("inner")
    with pytest.raises(ConfigError, match="^one line$") as info:
        Breach("x", "detail", "one line", ConfigError, cause).raise_()
    assert info.value.__cause__ is cause


def test_prepare_stops_a_float64_dataset_before_training(fake_distribution):
    fake_distribution("f64", {"ganbench.datasets": {"f64": "f64mod:f64"}}, {"f64mod": """
        import torch

        class D:
            shape = (1,)
            splits = {s: torch.zeros(64, 1, dtype=torch.float64) for s in ("train", "valid", "test")}

        def f64():
            return D()
    """})
    config = RunConfig(generator="mlp", discriminator="mlp", loss="hinge", dataset="f64", seed=0,
                       train={"steps": 2, "batch_size": 8}, score={"parzen": False})
    with pytest.raises(PluginError, match=r"^dataset 'f64' split 'train' is torch.float64; the "):
        prepare(config)
