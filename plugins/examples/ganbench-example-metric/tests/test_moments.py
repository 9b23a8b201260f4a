"""The plugin's own tests: ganbench's contract checks, and its numbers by hand."""

from importlib.metadata import entry_points

import pytest
import torch
from ganbench_example_metric import moments

from ganbench.testing import assert_plugin_ok

INSTALLED = any(ep.name == "moments" for ep in entry_points(group="ganbench.metrics"))


class Data:
    shape = (2,)

    def __init__(self, test):
        self.splits = {"train": test, "valid": test, "test": test}


def test_the_factory_keeps_the_contract():
    assert_plugin_ok(moments, kind="metric")


@pytest.mark.skipif(not INSTALLED, reason="pip install -e . first: the entry point is not registered")
def test_the_installed_entry_point_keeps_the_contract():
    assert_plugin_ok("metric", "moments")


def test_values_by_hand():
    real = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # mean (1, 1), std sqrt(2) per coordinate
    fake = torch.tensor([[1.0, 4.0], [1.0, 4.0]])  # mean (1, 4), no spread
    values = moments().compute(fake, Data(real))
    assert values["moments"] == pytest.approx(3.0)
    assert values["std_ratio"] == 0.0
    assert moments().compute(real, Data(real)) == {"moments": 0.0, "std_ratio": 1.0}


def test_a_bad_option_names_the_fix():
    with pytest.raises(ValueError, match="n_real must be at least 2"):
        moments(n_real=1)
