"""The plugin's own tests: ganbench's contract checks, and its numbers by hand."""

import math
from importlib.metadata import entry_points

import pytest
import torch
from ganbench_example_loss import label_smoothing

from ganbench.testing import assert_plugin_ok

INSTALLED = any(ep.name == "label-smoothing" for ep in entry_points(group="ganbench.losses"))


def test_the_factory_keeps_the_contract():
    assert_plugin_ok(label_smoothing, kind="loss")
    assert_plugin_ok(label_smoothing, kind="loss", options={"real_label": 1.0})


@pytest.mark.skipif(not INSTALLED, reason="pip install -e . first: the entry point is not registered")
def test_the_installed_entry_point_keeps_the_contract():
    assert_plugin_ok("loss", "label-smoothing")


def test_values_by_hand():
    loss = label_smoothing(real_label=0.9)
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    sigmoid = 1 / (1 + math.exp(-2.0))
    expected = -(0.9 * math.log(sigmoid) + 0.1 * math.log(1 - sigmoid)) - math.log(
        1 - 1 / (1 + math.exp(1.0)))
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)
    assert loss.generator_loss(fake).item() == pytest.approx(math.log1p(math.exp(1.0)), rel=1e-6)


def test_the_best_real_logit_is_finite():
    # With target 0.9, D's loss on a real example is least at logit log(0.9 / 0.1), not at +inf.
    logits = torch.linspace(0, 5, 501, requires_grad=True)
    per_logit = [label_smoothing().discriminator_loss(x[None], torch.zeros(1)) for x in logits]
    best = logits[int(torch.stack(per_logit).argmin())].item()
    assert best == pytest.approx(math.log(9), abs=0.01)


def test_a_bad_option_fails_with_a_message():
    with pytest.raises(ValueError, match=r"real_label must be in \(0.5, 1\]"):
        label_smoothing(real_label=0.3)
