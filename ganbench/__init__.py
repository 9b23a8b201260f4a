"""ganbench: a plugin-based benchmarking harness for generative adversarial networks.

The command line (``ganbench --help``) is the main interface; this package is the one for
scripts and notebooks::

    import ganbench

    record = ganbench.train_one(generator="mlp", discriminator="mlp", loss="non-saturating",
                            dataset="ring-2d", steps=500, store="my-store")
    G, config = ganbench.load_generator(f"my-store/{record['run_id']}")
    x = ganbench.sample(G, 1000, config=config)          # the run's noise prior, seed 0
    frame = ganbench.results.load("my-store")            # one row per run (pandas)
    score = ganbench.parzen_log_likelihood(x, valid, test)  # the paper's estimator

Names are imported on first use, so ``import ganbench`` stays cheap. (``train_one``, not
``train``: ``ganbench.train`` is the module of Algorithm 1.)
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = _metadata.version("ganbench")
except _metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "RunConfig",
    "__version__",
    "evaluate",
    "load_generator",
    "parzen_log_likelihood",
    "plugins",
    "results",
    "sample",
    "train_one",
    "train_run",
]

# public name -> (module, attribute or None for the module itself)
_LAZY = {
    "RunConfig": ("ganbench.config", "RunConfig"),
    "parzen_log_likelihood": ("ganbench.parzen", "parzen_log_likelihood"),
    "train_run": ("ganbench.run", "train_run"),
    "results": ("ganbench.results", None),
    "plugins": ("ganbench.plugins", None),
    "evaluate": ("ganbench.evaluate", None),
}

if TYPE_CHECKING:  # pragma: no cover
    from ganbench import evaluate, results  # noqa: F401
    from ganbench.config import RunConfig  # noqa: F401
    from ganbench.parzen import parzen_log_likelihood  # noqa: F401
    from ganbench.run import train_run  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = importlib.import_module(module)
        return value if attribute is None else getattr(value, attribute)
    raise AttributeError(f"module 'ganbench' has no attribute {name!r}")


def load_generator(path: Any, device: str | None = None) -> tuple[Any, Any]:
    """``(generator, config)`` from a run folder (its selected generator, else its last
    checkpoint), a ``checkpoint.pt`` / ``best_generator.pt``, or an exported generator file
    (such as ``results/paper/*/generators/*.pt``). The generator is in eval mode."""
    from ganbench.runner import resolve_device
    from ganbench.scoring import load_generator as _load

    return _load(path, resolve_device(device))


def sample(generator: Any, n: int, *, config: Any = None, seed: int = 0,
           device: str | None = None) -> Any:
    """``n`` samples (a float32 CPU tensor) of a generator, from its run's noise prior with
    noise seed ``seed``. ``generator`` is a module (then give its ``config``) or anything
    ``load_generator`` takes. The same as ``ganbench sample``."""
    from ganbench.evaluate import generate
    from ganbench.runner import resolve_device

    if config is None:
        if hasattr(generator, "forward"):
            raise TypeError("sample(module, n) needs config=: the run config it was trained with")
        generator, config = load_generator(generator, device)
    dev = resolve_device(device)
    return generate(generator.to(dev), config.noise, n, seed=seed, device=dev)


def train_one(*, generator: str, discriminator: str, loss: str, dataset: str, seed: int = 0,
          store: Any = None, device: str | None = None, options: dict | None = None,
          quiet: bool = True, **settings: Any) -> dict[str, Any]:
    """Train one run (or resume it, or return it if the store has it finished) and return its
    record, as ``ganbench train`` does. ``options`` maps a part (``generator``, ``loss``...) to
    its plugin options; ``settings`` are ``SECTION_KEY=value`` run settings, e.g.
    ``train_steps=500`` or ``optimizer_lr=1e-3``, or whole sections (``train={...}``)."""
    from ganbench.config import SECTIONS, RunConfig
    from ganbench.errors import ConfigError
    from ganbench.run import train_run
    from ganbench.runner import prepare
    from ganbench.store import Store

    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for key, value in settings.items():
        if key in SECTIONS:
            sections[key].update(value)
            continue
        section, _, name = key.partition("_")
        if key in ("steps", "epochs", "batch_size"):
            section, name = "train", key
        if section not in SECTIONS or not name:
            raise ConfigError(f"unknown setting {key!r}: use SECTION_KEY=value with a section of "
                              f"{', '.join(SECTIONS)} (e.g. train_steps=500), or steps / epochs")
        sections[section][name] = value
    config = RunConfig(generator=generator, discriminator=discriminator, loss=loss,
                       dataset=dataset, seed=seed, options=dict(options or {}), **sections)
    experiment = prepare(config)
    return train_run(experiment.config, store=Store(store) if store is not None else None,
                     device=device, quiet=quiet, experiment=experiment)
