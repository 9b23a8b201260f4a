"""Shared fixtures: throwaway plugin distributions, small configs, a CLI runner."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ganbench import plugins

# The metrics' disk cache (ganbench_plugins.kept) off for the suite, subprocesses included:
# tests that count computations must not find answers another test left; tests/test_kept_disk.py
# turns it on in a folder of its own.
os.environ["GANBENCH_CACHE"] = "off"


def make_distribution(root: Path, name: str, entry_points: dict[str, dict[str, str]],
                      modules: dict[str, str], version: str = "0.1.0") -> Path:
    """A real installed distribution (a .dist-info folder with entry_points.txt) in ``root``."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """Install throwaway plugin packages for one test (sys.path + plugin cache reset)."""
    made = []

    def make(name, entry_points, modules, version="0.1.0"):
        root = tmp_path / f"site-{len(made)}"
        make_distribution(root, name, entry_points, modules, version)
        monkeypatch.syspath_prepend(str(root))
        made.append(root)
        return root

    plugins.clear_cache()
    yield make
    plugins.clear_cache()


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture(autouse=True)
def _few_threads():
    # Tests are small: one thread avoids oversubscribing the 2-core CI machine.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def toy_config(**overrides):
    """A small, fast gaussian-1d run."""
    from ganbench.config import RunConfig

    base = dict(
        generator="mlp", discriminator="mlp", loss="non-saturating", dataset="gaussian-1d", seed=0,
        options={"generator": {"hidden": [16]}, "discriminator": {"hidden": [16]},
                 "dataset": {"n_train": 512, "n_valid": 128, "n_test": 128}},
        train={"steps": 20, "batch_size": 32, "log_every": 5, "checkpoint_every": 10},
        noise={"dim": 4},
        score={"parzen": False},
    )
    base.update(overrides)
    return RunConfig(**base)
