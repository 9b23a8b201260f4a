"""The metrics' disk cache (ganbench_plugins.kept): what depends on the dataset alone is read
back in a new process exactly as it was computed, and never when the data, the code, torch's
matrix-product precision or the file changed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import warnings
from types import SimpleNamespace

import pytest
import torch
from ganbench_plugins import kept as kept_module
from ganbench_plugins import metrics, metrics_features
from ganbench_plugins.nearest import NearestIndex, nearest_distances

from ganbench import evaluate


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GANBENCH_CACHE", str(folder))
    kept_module.clear_kept()
    yield folder
    kept_module.clear_kept()


def _data(x, name="extractor-a", calls=None):
    def features(z):
        if calls is not None:
            calls.append(len(z))
        return z[:, :6] * 2.0

    return SimpleNamespace(splits={"train": x, "valid": x, "test": x}, shape=(x.shape[1],),
                           features=features, feature_extractor_id=name)


def _counting_index(monkeypatch):
    built = []

    class Counted(NearestIndex):
        def __init__(self, y, rank=96):
            built.append(len(y))
            super().__init__(y, rank)

    monkeypatch.setattr(metrics, "NearestIndex", Counted)
    return built


def _inputs():
    gen = torch.Generator().manual_seed(5)
    train = torch.rand(400, 64, generator=gen)
    samples = torch.cat([train[:25], torch.rand(75, 64, generator=gen)])
    return train, samples


def _score(samples, data):
    protocol = evaluate.Protocol(n_samples=len(samples), metrics=("fid", "prdc", "memorisation"),
                                 options=(("memorisation", (("n_ref", 60),)),))
    values = evaluate.score_samples(samples, data, protocol, torch.device("cpu"))
    return {k: v for k, v in values.items() if not k.endswith("seconds")}


def test_a_new_process_reads_back_what_the_last_computed(cache, monkeypatch):
    train, samples = _inputs()
    calls = []
    built = _counting_index(monkeypatch)
    monkeypatch.setattr(metrics_features, "builtin", lambda dataset: True)  # as MNIST's
    first = _score(samples, _data(train, calls=calls))
    assert built == [400] and sorted(calls) == [100, 400]  # the samples, the real examples
    names = sorted(p.name.split("-")[0] + "-" + p.name.split("-")[1] for p in cache.rglob("*.pt"))
    assert names == ["real-features", "real-radii", "train-index", "train-typical"]
    kept_module.clear_kept()  # as a new process: nothing in memory
    calls.clear()
    again = _score(samples, _data(train.clone(), calls=calls))
    assert again == first  # bit for bit
    assert built == [400] and calls == [100]  # nothing about the dataset computed again
    assert math.isclose(first["memorisation_near_copies"], 0.25)


def test_another_process_reads_it(cache, tmp_path):
    code = (
        "import torch, json, sys\n"
        "from types import SimpleNamespace\n"
        "from ganbench_plugins import metrics\n"
        "train = torch.rand(400, 64, generator=torch.Generator().manual_seed(5))\n"
        "m = metrics.memorisation(n_ref=60)\n"
        "data = SimpleNamespace(splits={'train': train}, shape=(64,))\n"
        "built = []\n"
        "orig = metrics.NearestIndex\n"
        "class C(orig):\n"
        "    def __init__(self, y, rank=96):\n"
        "        built.append(1); super().__init__(y, rank)\n"
        "metrics.NearestIndex = C\n"
        "print(json.dumps([m.compute(train[:50], data), len(built)]))\n")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "GANBENCH_CACHE": str(cache)}).stdout
            for _ in range(2)]
    (v1, b1), (v2, b2) = (json.loads(r) for r in runs)
    assert (b1, b2) == (1, 0) and v1 == v2 and v1["near_copies"] == 1.0


def test_changed_data_code_or_precision_miss(cache, monkeypatch):
    train, samples = _inputs()
    built = _counting_index(monkeypatch)
    metric = metrics.memorisation(n_ref=60)
    metric.compute(samples, _data(train))
    changed = train.clone()
    changed[3, 7] += 0.5
    kept_module.clear_kept()
    metric.compute(samples, _data(changed))
    assert built == [400, 400]
    monkeypatch.setattr(kept_module, "code_tag", lambda: "another version of the code")
    kept_module.clear_kept()
    metric.compute(samples, _data(train))
    assert built == [400, 400, 400]
    monkeypatch.undo()
    monkeypatch.setenv("GANBENCH_CACHE", str(cache))
    built = _counting_index(monkeypatch)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        kept_module.clear_kept()
        metric.compute(samples, _data(train))
        assert built == [400]  # computed under "highest" before: not read under "medium"
    finally:
        torch.set_float32_matmul_precision(previous)
    kept_module.clear_kept()
    metric.compute(samples, _data(train))
    assert built == [400]  # back to "highest": read


def test_a_damaged_file_is_computed_again_and_rewritten(cache, monkeypatch):
    train, samples = _inputs()
    built = _counting_index(monkeypatch)
    metric = metrics.memorisation(n_ref=60)
    first = metric.compute(samples, _data(train))
    (index_file,) = cache.rglob("train-index-*.pt")
    index_file.write_bytes(index_file.read_bytes()[:100])  # truncated
    (typical_file,) = cache.rglob("train-typical-*.pt")
    torch.save({"rank": "not a state"}, typical_file)  # a readable file of another kind
    kept_module.clear_kept()
    assert metric.compute(samples, _data(train)) == first and built == [400, 400]
    assert isinstance(torch.load(typical_file, weights_only=True), float)  # rewritten
    kept_module.clear_kept()
    assert metric.compute(samples, _data(train)) == first and built == [400, 400]


def test_a_state_of_another_shape_is_not_used(cache, monkeypatch):
    train, samples = _inputs()
    built = _counting_index(monkeypatch)
    metric = metrics.memorisation(n_ref=60)
    first = metric.compute(samples, _data(train))
    (index_file,) = cache.rglob("train-index-*.pt")
    state = torch.load(index_file, weights_only=True)
    state["ey"] = state["ey"][:, :10]
    torch.save(state, index_file)
    kept_module.clear_kept()
    assert metric.compute(samples, _data(train)) == first and built == [400, 400]


def test_off_writes_nothing_and_unwritable_warns(tmp_path, monkeypatch):
    train, samples = _inputs()
    metric = metrics.memorisation(n_ref=60)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for off in ("off", "0", ""):
        monkeypatch.setenv("GANBENCH_CACHE", off)
        assert kept_module.cache_dir() is None
        kept_module.clear_kept()
        assert math.isclose(metric.compute(samples, _data(train))["near_copies"], 0.25)
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("GANBENCH_CACHE", str(blocked / "cache"))
    kept_module.clear_kept()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = metric.compute(samples, _data(train))
    assert math.isclose(value["near_copies"], 0.25)
    assert any("metric cache" in str(w.message) for w in caught)
    monkeypatch.delenv("GANBENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kept_module.cache_dir() == tmp_path / "xdg" / "ganbench" / "metrics"
    kept_module.clear_kept()


@pytest.mark.parametrize("shape", [(500, 64), (300, 2)])  # the pruned search; brute force
def test_an_index_from_its_state_answers_as_the_index(shape):
    gen = torch.Generator().manual_seed(7)
    y = torch.rand(*shape, generator=gen)
    x = torch.rand(80, shape[1], generator=gen)
    index = NearestIndex(y)
    state = index.state()
    assert all(isinstance(v, (torch.Tensor, int, float, bool, str)) for v in state.values())
    again = NearestIndex.from_state(y.clone(), state)
    assert torch.equal(again.search(x), index.search(x))
    assert torch.allclose(again.search(x), nearest_distances(x, y), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        NearestIndex.from_state(y[:-1], state)


def test_another_packages_dataset_keeps_its_features_in_the_process_only(cache):
    train, samples = _inputs()
    calls = []
    fid = evaluate.build_metric("fid", evaluate.Protocol())
    fid.compute(samples, _data(train, calls=calls))
    assert not list(cache.rglob("real-features-*"))  # its extractor's code is not in the key
    fid.compute(samples, _data(train, calls=calls))
    assert sorted(calls) == [100, 100, 400]  # but in the process, by content and name


def test_a_full_disk_or_an_unreadable_precision_still_answers(cache, monkeypatch):
    train, samples = _inputs()
    metric = metrics.memorisation(n_ref=60)

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc] . PytorchStreamWriter failed")

    monkeypatch.setattr(kept_module.torch, "save", full)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = metric.compute(samples, _data(train))
    assert math.isclose(value["near_copies"], 0.25)
    assert any("metric cache" in str(w.message) for w in caught)
    assert not list(cache.rglob("*.tmp"))  # no temporary file left behind
    monkeypatch.undo()
    monkeypatch.setenv("GANBENCH_CACHE", str(cache))

    def unreadable():
        raise RuntimeError("you have used the new fp32_precision API")

    monkeypatch.setattr(kept_module.torch, "get_float32_matmul_precision", unreadable)
    kept_module.clear_kept()
    assert metric.compute(samples, _data(train)) == value
    assert kept_module._precision()[0] == "per-backend" and kept_module.float32_exact()


def test_other_code_versions_folders_are_pruned_when_old(cache, monkeypatch):
    train, samples = _inputs()
    cache.mkdir(parents=True)
    name = "train-index-" + "ab" * 20 + ".pt"
    old, recent, foreign = (cache / "0123456789abcdef", cache / "fedcba9876543210",
                            cache / "00000000aaaaaaaa")
    for folder in (old, recent, foreign):
        folder.mkdir()
        (folder / name).write_bytes(b"x")
    (foreign / "notes.txt").write_text("not the cache's")  # a folder holding something else
    (cache / "mine.txt").write_text("the user's")  # GANBENCH_CACHE was a folder in use
    flat = cache / name  # the first layout wrote answers in the cache folder itself
    flat.write_bytes(b"x")
    stale = time.time() - (kept_module.PRUNE_DAYS + 1) * 86400
    for path in (old, foreign, cache / "mine.txt", flat):
        os.utime(path, (stale, stale))
    metrics.memorisation(n_ref=60).compute(samples, _data(train))
    here = cache / kept_module.code_tag()[:16]
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [recent.name, foreign.name, here.name, "mine.txt"])
    assert (foreign / name).exists() and (foreign / "notes.txt").exists()
    tmp = here / f".{name}.abc123.tmp"  # left by a killed process
    tmp.write_bytes(b"x")
    theirs = here / ".something.tmp"
    theirs.write_bytes(b"x")
    for path in (tmp, theirs):
        os.utime(path, (stale, stale))
    kept_module.clear_kept()
    changed = train.clone()
    changed[0, 0] += 1
    metrics.memorisation(n_ref=60).compute(samples, _data(changed))  # a new answer written
    assert not tmp.exists() and theirs.exists() and recent.exists()


def test_reading_a_version_keeps_it_from_being_pruned(cache):
    train, samples = _inputs()
    metric = metrics.memorisation(n_ref=60)
    metric.compute(samples, _data(train))
    here = cache / kept_module.code_tag()[:16]
    stale = time.time() - (kept_module.PRUNE_DAYS + 1) * 86400
    os.utime(here, (stale, stale))
    kept_module.clear_kept()
    metric.compute(samples, _data(train))  # read from disk
    assert here.stat().st_mtime > stale + 86400
