"""``check-plugin --set``: option names and types checked as ``train --set`` checks them, with
the same one line and exit status 2 (issue 19)."""

from __future__ import annotations

import pytest

from ganbench.cli import cli
from ganbench.errors import ConfigError
from ganbench.testing import check_plugin

TRAIN = ["train", "-G", "mlp", "-D", "mlp", "-L", "hinge", "-X", "ring-2d", "--steps", "1",
         "--quiet"]


def _error_line(out) -> str:
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganbench: error: "), out.output
    assert "Traceback" not in out.output
    return lines[0]


@pytest.mark.parametrize("given,words", [
    ("typo=1", "unknown option(s) typo for loss 'hinge'; its options: r1_gamma=0.0"),
    ("r1_gamma=abc", "loss 'hinge' option r1_gamma must be a number, got 'abc' (str)"),
    ("r1_gamma=[1,2]", "loss 'hinge' option r1_gamma must be a number, got [1, 2] (list)"),
])
def test_a_bad_option_is_the_line_train_gives(runner, tmp_path, given, words):
    checked = _error_line(runner.invoke(cli, ["check-plugin", "loss", "hinge", "--set", given]))
    prefixed = _error_line(runner.invoke(cli, ["check-plugin", "ganbench.losses", "hinge",
                                               "--set", f"loss.{given}"]))
    trained = _error_line(runner.invoke(cli, [*TRAIN, "--set", f"loss.{given}", "--store",
                                              str(tmp_path / "st")]))
    assert checked == prefixed == trained == f"ganbench: error: {words}"
    assert not (tmp_path / "st").exists()


def test_other_kinds_are_checked_against_their_factory(runner):
    line = _error_line(runner.invoke(cli, ["check-plugin", "generator", "mlp", "--set",
                                           "hidden=wide"]))
    assert line == "ganbench: error: generator 'mlp' option hidden must be a list, e.g. " \
                   "[256,256], got 'wide' (str)"
    line = _error_line(runner.invoke(cli, ["check-plugin", "metric", "fid", "--set",
                                           "metric.n_real=2.5"]))
    assert "metric 'fid' option n_real must be an integer, got 2.5 (float)" in line
    line = _error_line(runner.invoke(cli, ["check-plugin", "discriminator", "mlp", "--set",
                                           "widht=3"]))
    assert "unknown option(s) widht for discriminator 'mlp'; its options: " in line
    assert "hidden=" in line  # the factory's options, listed


PICKY = """
class Loss:
    def __init__(self, scale):
        if type(scale) is not float:  # what train would hand it: an int made a float
            raise TypeError(f"scale must arrive as a float, got {type(scale).__name__}")
        self.scale = scale

    def discriminator_loss(self, real_logits, fake_logits):
        return self.scale * (fake_logits.mean() - real_logits.mean())

    def generator_loss(self, fake_logits):
        return -self.scale * fake_logits.mean()


def picky(scale: float = 1.0):
    return Loss(scale)
"""


def test_values_are_converted_as_train_converts_them(fake_distribution, runner):
    fake_distribution("picky-loss", {"ganbench.losses": {"picky": "pickymod:picky"}},
                      {"pickymod": PICKY})
    results = check_plugin("loss", "picky", options={"scale": 2})  # an int, for a float
    assert all(r.passed for r in results), results
    out = runner.invoke(cli, ["check-plugin", "loss", "picky", "--set", "scale=2"])
    assert out.exit_code == 0, out.output
    with pytest.raises(ConfigError, match="loss 'picky' option scale must be a number, got "
                                          "'x' \\(str\\)"):
        check_plugin("loss", "picky", options={"scale": "x"})
