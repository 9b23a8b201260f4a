"""Entry-point discovery from real installed distributions; broken plugins never stop others."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ganbench import plugins
from ganbench.cli import cli
from ganbench.errors import PluginError

GOOD = """
class Loss:
    def discriminator_loss(self, r, f):
        return (f - r).mean()
    def generator_loss(self, f):
        return -f.mean()

def factory(scale: float = 1.0):
    return Loss()

NOT_CALLABLE = 42
"""


def test_builtins_are_registered_through_entry_points():
    found = {(p.group, p.name): p for p in plugins.discover()}
    for group, name in [("ganbench.datasets", "gaussian-1d"), ("ganbench.datasets", "ring-2d"),
                        ("ganbench.generators", "mlp"), ("ganbench.discriminators", "mlp"),
                        ("ganbench.losses", "minimax"), ("ganbench.losses", "non-saturating")]:
        info = found[(group, name)]
        assert info.distribution == "ganbench"
        assert plugins.status(info) == "ok"


def test_discovery_of_an_installed_distribution_with_a_broken_plugin(fake_distribution):
    fake_distribution(
        "thirdparty-gan",
        {"ganbench.losses": {"their-loss": "theirmod:factory",
                             "missing-module": "no_such_module_xyz:factory",
                             "not-callable": "theirmod:NOT_CALLABLE"}},
        {"theirmod": GOOD},
        version="2.3.4",
    )
    found = {p.name: p for p in plugins.discover("loss")}
    assert found["their-loss"].distribution == "thirdparty-gan"
    assert found["their-loss"].version == "2.3.4"
    assert plugins.status(found["their-loss"]) == "ok"
    broken = plugins.status(found["missing-module"])
    assert broken.startswith("broken: ") and "no_such_module_xyz" in broken
    assert "not a callable" in plugins.status(found["not-callable"])
    # the broken ones stop nothing: the good one and the built-ins still load
    assert plugins.load("loss", "their-loss")().generator_loss is not None
    assert plugins.load("loss", "minimax") is not None
    with pytest.raises(PluginError, match="no_such_module_xyz"):
        plugins.load("loss", "missing-module")


def test_discover_imports_nothing(fake_distribution):
    fake_distribution("lazy-dist", {"ganbench.losses": {"lazy": "lazymod:factory"}},
                      {"lazymod": "raise RuntimeError('imported too early')\n"})
    assert any(p.name == "lazy" for p in plugins.discover())
    assert "lazymod" not in sys.modules


def test_plugins_json_lists_status(fake_distribution, runner):
    fake_distribution("thirdparty-gan", {"ganbench.losses": {
        "their-loss": "theirmod:factory", "bad": "nomod_abc:factory"}}, {"theirmod": GOOD})
    result = runner.invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert all(set(r) == {"group", "name", "distribution", "version", "status"} for r in rows)
    by_name = {(r["group"], r["name"]): r for r in rows}
    assert by_name[("ganbench.losses", "their-loss")]["status"] == "ok"
    assert by_name[("ganbench.losses", "bad")]["status"].startswith("broken: ")
    assert by_name[("ganbench.generators", "mlp")]["status"] == "ok"
    table = runner.invoke(cli, ["plugins"])
    assert "their-loss" in table.output and "broken" in table.output


def test_unknown_name_suggests_the_closest():
    with pytest.raises(PluginError) as info:
        plugins.find("loss", "non-saturatin")
    message = str(info.value)
    assert "did you mean 'non-saturating'" in message and "minimax" in message


def test_same_name_in_two_distributions_asks_which(fake_distribution):
    fake_distribution("dist-a", {"ganbench.losses": {"twin": "moda:factory"}}, {"moda": GOOD})
    fake_distribution("dist-b", {"ganbench.losses": {"twin": "modb:factory"}}, {"modb": GOOD})
    twins = [p for p in plugins.discover("loss") if p.name == "twin"]
    assert {p.distribution for p in twins} == {"dist-a", "dist-b"}
    with pytest.raises(PluginError, match="dist-a:twin.*dist-b:twin"):
        plugins.find("loss", "twin")
    assert plugins.find("loss", "dist-b:twin").distribution == "dist-b"


def test_cli_lists_a_distribution_installed_in_a_subprocess(tmp_path):
    from tests.conftest import make_distribution

    make_distribution(tmp_path, "subproc-dist", {"ganbench.losses": {"sub-loss": "submod:factory"}},
                      {"submod": GOOD})
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "ganbench.cli", "plugins", "--json"],
                         capture_output=True, text=True, env=env, check=True)
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["sub-loss"]["distribution"] == "subproc-dist"
    assert rows["sub-loss"]["status"] == "ok"
