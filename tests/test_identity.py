"""A run's identity covers its plugins' versions and source (ganbench.identity): a version
bump or a source edit makes a stored run stale; an unrelated edit does not; a record stored
before source hashes, with matching versions, is current (the migration). A stale run is
set aside and trained afresh, never resumed into, extended from, re-scored or pooled;
``results`` shows versions and staleness; ``prune --stale`` and ``rm`` remove runs."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import uuid

import pandas as pd
import pytest

from ganbench import identity, plugins, results
from ganbench.cli import cli
from ganbench.config import RunConfig, resolve
from ganbench.executors import plan
from ganbench.leaderboard import leaderboard
from ganbench.run import train_run
from ganbench.store import RECORD, RunLocked, Store

from .conftest import make_distribution

# ---- the source hash: per plugin object ----

INIT = '''
    """A throwaway plugin package: two losses sharing a base class and helpers."""
    import torch.nn.functional as F

    from .helpers import scale


    class Base:
        def __init__(self, margin: float = 1.0):
            self.margin = margin


    class LossA(Base):
        """Loss A."""

        def discriminator_loss(self, real_logits, fake_logits):
            hinge = F.relu(self.margin - real_logits) + F.relu(self.margin + fake_logits)
            return scale(hinge.mean())

        def generator_loss(self, fake_logits):
            from . import helpers  # a local import, then an attribute of the module

            return helpers.shift(-fake_logits.mean())


    class LossB(Base):
        def discriminator_loss(self, real_logits, fake_logits):
            return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

        def generator_loss(self, fake_logits):
            return F.softplus(-fake_logits).mean()


    def loss_a(margin: float = 1.0) -> LossA:
        return LossA(margin)


    def loss_b(margin: float = 1.0) -> LossB:
        return LossB(margin)
'''
HELPERS = '''
    SCALE = 1.0


    def scale(x):
        return SCALE * x


    def shift(x):
        return x + 0.0


    def unused(x):
        return x
'''
# (file, old text, new text, does loss A change, does loss B change)
EDITS = {
    "the other loss": ("__init__", "F.softplus(-fake_logits).mean()",
                       "2 * F.softplus(-fake_logits).mean()", False, True),
    "a docstring, a comment, a blank line": (
        "__init__", '"""Loss A."""', '"""Loss A, reworded."""  # a comment\n', False, False),
    "an unused helper": ("helpers", "    return x\n", "    return 2 * x\n", False, False),
    "a helper it imports": ("helpers", "return SCALE * x", "return SCALE * x * 1.5", True, False),
    "a helper it imports inside a method": ("helpers", "return x + 0.0", "return x + 1.0", True,
                                            False),
    "a module constant a helper uses": ("helpers", "SCALE = 1.0", "SCALE = 2.0", True, False),
    "the base class": ("__init__", "self.margin = margin", "self.margin = float(margin)", True,
                       True),
}


def _refresh(package: str) -> None:
    """As a new process sees the installed plugins: nothing imported or cached."""
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    plugins.clear_cache()
    identity.clear_cache()


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A plugin distribution whose package is a folder of two modules, and a way to edit it."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    name = f"idpkg_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "site"
    (root / name).mkdir(parents=True)
    dist = f"{name.replace('_', '-')}-dist"
    make_distribution(root, dist, {"ganbench.losses": {f"{name}-a": f"{name}:loss_a",
                                                       f"{name}-b": f"{name}:loss_b"}},
                      {f"{name}/__init__": INIT, f"{name}/helpers": HELPERS})
    monkeypatch.syspath_prepend(str(root))
    _refresh(name)

    def edit(module: str, old: str, new: str) -> None:
        path = root / name / f"{module}.py"
        text = path.read_text()
        assert text.count(old) == 1, old
        path.write_text(text.replace(old, new))
        _refresh(name)

    yield name, root, dist, edit
    _refresh(name)


@pytest.mark.parametrize("what", list(EDITS))
def test_an_edit_changes_the_source_of_the_plugins_that_use_it_and_no_other(package, what):
    name, _, _, edit = package
    before = {p: identity.current("loss", f"{name}-{p}") for p in "ab"}
    module, old, new, a_changes, b_changes = EDITS[what]
    edit(module, old, new)
    after = {p: identity.current("loss", f"{name}-{p}") for p in "ab"}
    changed = tuple(before[p]["source"] != after[p]["source"] for p in "ab")
    assert changed == (a_changes, b_changes)
    assert identity.stale_reasons({"plugins": {"loss": before["a"]}}) == (
        [f"loss {name}-a: source changed"] if a_changes else [])


def test_a_version_bump_makes_a_record_stale(package):
    name, root, dist, _ = package
    record = {"plugins": {"loss": identity.current("loss", f"{name}-a")}}
    assert record["plugins"]["loss"]["version"] == "0.1.0" and identity.is_current(record)
    info = root / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.2.0\n")
    info.rename(root / f"{dist.replace('-', '_')}-0.2.0.dist-info")
    _refresh(name)
    assert identity.current("loss", f"{name}-a")["version"] == "0.2.0"
    assert identity.stale_reasons(record) == [f"loss {name}-a 0.1.0 -> 0.2.0"]
    legacy = {"plugins": {"loss": {k: v for k, v in record["plugins"]["loss"].items()
                                   if k != "source"}}}
    assert identity.stale_reasons(legacy) == [f"loss {name}-a 0.1.0 -> 0.2.0"]


def test_a_record_of_a_plugin_no_longer_installed_is_not_called_stale():
    record = {"plugins": {"loss": {"name": "no-such-loss", "distribution": "gone",
                                   "version": "9.9", "source": "0" * 16}}}
    assert identity.stale_reasons(record) == []


def test_a_plugin_that_fails_to_import_now_does_not_make_its_runs_stale(package, monkeypatch):
    """No hash now (a missing dependency, another venv on the same store) is unknown, never
    stale: otherwise `prune --stale` would delete good runs."""
    name, _, _, edit = package
    record = {"plugins": {"loss": identity.current("loss", f"{name}-a")}}
    assert record["plugins"]["loss"]["source"]

    def broken(*args, **kwargs):
        raise ImportError("No module named 'a_missing_dependency'")

    monkeypatch.setattr(identity.plugins, "load", broken)
    identity.clear_cache()
    assert "source" not in identity.current("loss", f"{name}-a")
    assert identity.stale_reasons(record) == []


# ---- runs in a store: a real record, trained once ----


def ring_config(steps: int = 20, seed: int = 0) -> RunConfig:
    return resolve(RunConfig(
        generator="mlp", discriminator="mlp", loss="hinge", dataset="ring-2d", seed=seed,
        options={"generator": {"hidden": [16]}, "discriminator": {"hidden": [16]},
                 "dataset": {"n_train": 512, "n_valid": 128, "n_test": 128}},
        train={"steps": steps, "batch_size": 32, "log_every": 5, "checkpoint_every": 10},
        noise={"dim": 4}, score={"metrics": ["parzen"], "n_samples": 200, "n_valid": 64}))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("trained") / "store")
    identity.clear_cache()
    record = train_run(ring_config(), store=store, device="cpu")
    assert record["status"] == "done", record
    return store, record


def _copy(trained, tmp_path, *, run_id=None, config=None, **record_changes):
    """The trained run copied into a new store (as ``run_id``, its config changed), its
    record changed: ``plugins`` as a function of the stored plugins."""
    source, record = trained
    store = Store(tmp_path / f"store-{uuid.uuid4().hex[:6]}")
    run_id = run_id or record["run_id"]
    folder = store.run_dir(run_id)
    shutil.copytree(source.run_dir(record["run_id"]), folder)
    stored = json.loads((folder / RECORD).read_text())
    change = record_changes.pop("plugins", None)
    stored.update(record_changes, run_id=run_id)
    if change is not None:
        stored["plugins"] = change(stored["plugins"])
    (folder / RECORD).write_text(json.dumps(stored))
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config.to_dict()))
    return store, run_id


def bumped(plugins_):
    return {**plugins_, "loss": {**plugins_["loss"], "version": "0.0.1"}}


def edited(plugins_):
    return {**plugins_, "loss": {**plugins_["loss"], "source": "0123456789abcdef"}}


def legacy(plugins_):
    return {part: {k: v for k, v in p.items() if k != "source"} for part, p in plugins_.items()}


def test_a_record_names_every_part_with_its_version_and_source(trained):
    _, record = trained
    assert set(record["plugins"]) == {"generator", "discriminator", "loss", "dataset"}
    for part, made_by in record["plugins"].items():
        assert made_by == identity.current(part, made_by["name"])
        assert made_by["distribution"] == "ganbench" and len(made_by["source"]) == 16
    assert identity.is_current(record)
    assert identity.stale_reasons({**record, "plugins": edited(record["plugins"])}) == [
        "loss hinge: source changed"]


def test_a_record_from_before_source_hashes_with_the_same_versions_is_current(trained,
                                                                              tmp_path):
    store, run_id = _copy(trained, tmp_path, plugins=legacy)
    before = (store.run_dir(run_id) / RECORD).read_bytes()
    assert identity.status(store, run_id) == "done"
    assert "1 runs, 1 already done, 0 to run" in plan([ring_config()], store).summary()
    again = train_run(ring_config(), store=store, device="cpu")
    assert (store.run_dir(run_id) / RECORD).read_bytes() == before  # not trained, not moved
    assert again["parzen_mean"] == trained[1]["parzen_mean"]
    assert not (store.root / identity.STALE_DIR).exists()
    stale, _ = _copy(trained, tmp_path, plugins=lambda p: bumped(legacy(p)))
    assert identity.status(stale, run_id) == "stale"


def test_an_interrupted_run_from_before_source_hashes_resumes_and_records_them(trained,
                                                                              tmp_path):
    store, run_id = _copy(trained, tmp_path, plugins=legacy, status="interrupted")
    record = train_run(ring_config(), store=store, device="cpu")
    assert record["status"] == "done" and record["resumed_from_step"] == 20
    assert record["plugins"] == trained[1]["plugins"]  # now with its sources


@pytest.mark.parametrize("change", [bumped, edited])
def test_a_stale_run_is_planned_set_aside_and_trained_afresh_never_resumed(trained, tmp_path,
                                                                          change):
    store, run_id = _copy(trained, tmp_path, plugins=change, status="interrupted")
    the_plan = plan([ring_config()], store)
    assert the_plan.statuses == ["stale"]
    assert "1 runs, 0 already done, 1 to run (1 stale" in the_plan.summary()
    record = train_run(ring_config(), store=store, device="cpu")
    assert record["status"] == "done" and record.get("resumed_from_step") is None
    assert record["steps"] == 20 and identity.is_current(record)
    (aside,) = identity.moved_aside(store)
    assert aside.name.startswith(f"{run_id}-")
    note = json.loads((aside / identity.STALE_NOTE).read_text())
    assert note["run_id"] == run_id and note["reasons"] == identity.stale_reasons(
        json.loads((aside / RECORD).read_text()))
    assert json.loads((aside / RECORD).read_text())["status"] == "interrupted"
    assert store.run_ids() == [run_id]  # the fresh run; the stale one is not a run of the store


def test_a_stale_shorter_run_is_never_extended_from(trained, tmp_path):
    shorter = ring_config(steps=10)  # its stored checkpoint says step 20: on the grid, <= 40
    for change, extended in ((legacy, True), (bumped, False)):  # current, then stale
        store, _ = _copy(trained, tmp_path, run_id=shorter.run_id, config=shorter,
                         plugins=change)
        record = train_run(ring_config(steps=40), store=store, device="cpu")
        assert record["status"] == "done"
        assert (record.get("extended_from") == shorter.run_id) is extended, record
        assert (record.get("resumed_from_step") == 20) is extended


def test_a_stale_run_is_not_rescored(trained, tmp_path, runner):
    store, run_id = _copy(trained, tmp_path, plugins=bumped)
    before = (store.run_dir(run_id) / RECORD).read_bytes()
    out = runner.invoke(cli, ["score", run_id, "--store", str(store.root), "--metrics",
                              "parzen"])
    assert out.exit_code == 2 and "is stale (loss hinge 0.0.1 -> 0.1.0)" in out.output
    assert "Traceback" not in out.output
    assert (store.run_dir(run_id) / RECORD).read_bytes() == before


def test_reproduce_no_train_never_reports_a_stale_run(trained, tmp_path):
    """`reproduce --no-train` reads records as they stand: a stale one is reported stale,
    never pooled into the preset's table as this code's numbers."""
    from ganbench.reproduce import partial_record

    store, run_id = _copy(trained, tmp_path, plugins=bumped)
    out = partial_record(store, ring_config())
    assert out == {"run_id": run_id, "status": "stale",
                   "reason": "loss hinge 0.0.1 -> 0.1.0"}
    current, run_id = _copy(trained, tmp_path)
    assert partial_record(current, ring_config())["status"] == "done"


def _two_seeds(trained, tmp_path):
    """Seed 0 current; seed 1 (a copy under the id of seed 1) stale, with another score."""
    store, run_id = _copy(trained, tmp_path)
    other = ring_config(seed=1)
    folder = store.run_dir(other.run_id)
    shutil.copytree(store.run_dir(run_id), folder)
    (folder / "config.json").write_text(json.dumps(other.to_dict()))
    record = json.loads((folder / RECORD).read_text())
    record.update(run_id=other.run_id, plugins=bumped(record["plugins"]),
                  parzen_mean=record["parzen_mean"] + 100)
    (folder / RECORD).write_text(json.dumps(record))
    return store, run_id, other.run_id


def test_results_show_versions_and_staleness_and_the_leaderboard_never_pools_stale_runs(
        trained, tmp_path):
    store, current, stale = _two_seeds(trained, tmp_path)
    frame = results.load(store).set_index("run_id")
    assert frame.loc[current, "status"] == "done" and frame.loc[stale, "status"] == "stale"
    assert frame.loc[stale, "stale"] == "loss hinge 0.0.1 -> 0.1.0"
    assert pd.isna(frame.loc[current, "stale"])
    assert frame.loc[stale, "version.loss"] == "0.0.1"
    assert frame.loc[current, "version.loss"] == frame.loc[current, "ganbench_version"]
    assert frame.loc[current, "source.loss"] == trained[1]["plugins"]["loss"]["source"]
    board = leaderboard(results.load(store))
    assert len(board) == 1 and board["n"].iloc[0] == 1
    assert board["mean"].iloc[0] == pytest.approx(trained[1]["parzen_mean"])
    assert any("1 stale run(s) left out" in n for n in board.attrs["notes"])


def test_results_list_runs_set_aside_with_stale(trained, tmp_path, runner):
    store, current, stale = _two_seeds(trained, tmp_path)
    moved = identity.set_aside_if_stale(store, stale)
    assert moved is not None and identity.set_aside_if_stale(store, current) is None
    assert list(results.load(store)["run_id"]) == [current]
    frame = results.load(store, stale=True)
    assert list(frame["run_id"]) == [current, stale]
    assert list(frame["status"]) == ["done", "stale"]
    assert frame["moved_to"].iloc[1] == f".stale/{moved.name}"
    out = runner.invoke(cli, ["results", "--store", str(store.root), "--stale"])
    assert out.exit_code == 0 and "stale: 0 run(s) in the store, 1 set aside" in \
        out.output


def test_prune_stale_lists_with_dry_run_then_removes(trained, tmp_path, runner):
    store, current, stale = _two_seeds(trained, tmp_path)
    store2, in_place = _copy(trained, tmp_path, plugins=edited)
    shutil.move(store2.run_dir(in_place), store.run_dir("aaaaaaaaaaaa"))  # stale in place
    moved = identity.set_aside_if_stale(store, stale)
    args = ["prune", "--stale", "--store", str(store.root)]
    dry = runner.invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove .stale/{moved.name}" in dry.output
    assert "would remove aaaaaaaaaaaa" in dry.output and "source changed" in dry.output
    assert "2 stale run(s) would be removed" in dry.output and current not in dry.output
    assert moved.exists() and store.run_dir("aaaaaaaaaaaa").exists()
    done = runner.invoke(cli, args)
    assert done.exit_code == 0 and "2 stale run(s) removed" in done.output
    assert store.run_ids() == [current] and identity.moved_aside(store) == []
    bare = runner.invoke(cli, ["prune", "--store", str(store.root)])
    assert bare.exit_code == 2 and "--stale" in bare.output and "Traceback" not in bare.output


def test_prune_keeps_a_stale_run_another_process_holds(trained, tmp_path, runner):
    store, run_id = _copy(trained, tmp_path, plugins=bumped)
    with store.lock(run_id):
        out = runner.invoke(cli, ["prune", "--stale", "--store", str(store.root)])
        assert out.exit_code == 1 and "held by another process" in out.output
        with pytest.raises(RunLocked):
            identity.set_aside_if_stale(store, run_id)
    assert store.run_ids() == [run_id]


def test_rm_removes_named_runs_and_refuses_unknown_or_held_ones(trained, tmp_path, runner):
    store, current, stale = _two_seeds(trained, tmp_path)
    moved = identity.set_aside_if_stale(store, stale)
    base = ["rm", "--store", str(store.root)]
    unknown = runner.invoke(cli, [*base, current, "nope"])
    assert unknown.exit_code == 2 and "no run 'nope'" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1 and store.run_ids() == [current]
    outside = runner.invoke(cli, [*base, "../x", ".stale/../" + current])
    assert outside.exit_code == 2 and store.run_ids() == [current]
    with store.lock(current):
        held = runner.invoke(cli, [*base, current])
    assert held.exit_code == 2 and "another process" in held.output
    dry = runner.invoke(cli, [*base, current, f".stale/{moved.name}", "--dry-run"])
    assert dry.exit_code == 0 and "2 run(s) would be removed" in dry.output
    assert store.run_ids() == [current] and moved.exists()
    gone = runner.invoke(cli, [*base, current, f".stale/{moved.name}"])
    assert gone.exit_code == 0 and f"removed {current}" in gone.output
    assert store.run_ids() == [] and not moved.exists()
    assert sorted(p.name for p in store.root.iterdir()) == [".stale"]


def test_a_lock_taken_on_a_folder_moved_away_meanwhile_is_refused(tmp_path, monkeypatch):
    import ganbench.store as store_module

    store = Store(tmp_path)
    real_flock = store_module.fcntl.flock

    def flock_after_a_move(f, op):  # another process sets the run aside just before
        if op & store_module.fcntl.LOCK_EX and store.run_dir("r1").exists():
            store.run_dir("r1").rename(tmp_path / "elsewhere")
        return real_flock(f, op)

    monkeypatch.setattr(store_module.fcntl, "flock", flock_after_a_move)
    with pytest.raises(RunLocked, match="moved"), store.lock("r1"):
        pass
    monkeypatch.setattr(store_module.fcntl, "flock", real_flock)
    with store.lock("r1") as folder:
        assert folder.is_dir()


def test_ganbench_and_third_party_plugins_hash_only_where_there_is_source():
    value = "ganbench_plugins.losses:hinge"
    assert identity.source_hash(value) == identity.current("loss", "hinge")["source"]
    assert identity.source_hash("json:dumps") is not None  # stdlib source is there too
    assert identity.source_hash("math:sqrt") is None  # a C module: no source
