"""CONTRIBUTING.md's twenty-line loss works as written: installed as a distribution, listed,
passing the contract checks, and trainable."""

from __future__ import annotations

import re
from pathlib import Path

from ganbench import plugins
from ganbench.cli import cli
from ganbench.testing import check_plugin

DOC = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"


def _block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    return next(b for b in blocks if b.startswith(marker))


def test_the_documented_loss_plugin(fake_distribution, runner, tmp_path):
    source = _block("# my_gan_loss/__init__.py")
    fake_distribution("my-gan-loss", {"ganbench.losses": {"my-loss": "my_gan_loss:my_loss"}},
                      {"my_gan_loss": source})
    info = plugins.find("loss", "my-loss")
    assert info.distribution == "my-gan-loss" and plugins.status(info) == "ok"
    assert all(r.passed for r in check_plugin("loss", "my-loss")), check_plugin("loss", "my-loss")
    out = runner.invoke(cli, ["train", "-G", "mlp", "-D", "mlp", "-L", "my-loss", "-X", "ring-2d",
                              "--steps", "20", "--batch-size", "32", "--set", "loss.margin=0.5",
                              "--set", "noise.dim=4", "--set", "score.parzen=false",
                              "--store", str(tmp_path), "--quiet"])
    assert out.exit_code == 0, out.output
    assert ": done" in out.output
