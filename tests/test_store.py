"""The store: atomic writes, locks, and what a lock that is no longer held means."""

import json
import multiprocessing as mp

import pytest

from ganbench.store import RECORD, RunLocked, Store, atomic_write_json


def _hold(root, run_id, ready, release):
    with Store(root).lock(run_id):
        ready.set()
        release.wait(30)


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    atomic_write_json(tmp_path / "a" / "x.json", {"b": 1})
    assert json.loads((tmp_path / "a" / "x.json").read_text()) == {"b": 1}
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.json"
    atomic_write_json(path, {"v": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {1j: 2})  # JSON keys must be strings
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_lock_held_by_another_process_is_refused_and_shows_running(tmp_path):
    ctx = mp.get_context("fork")  # quick to start even on a loaded machine
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold, args=(str(tmp_path), "r1", ready, release))
    p.start()
    try:
        assert ready.wait(300)
        store = Store(tmp_path)
        atomic_write_json(store.run_dir("r1") / RECORD, {"run_id": "r1", "status": "running"})
        assert store.is_locked("r1") and store.status("r1") == "running"
        with pytest.raises(RunLocked), store.lock("r1"):
            pass
    finally:
        release.set()
        p.join(30)
    assert not store.is_locked("r1")
    assert store.status("r1") == "interrupted"  # running, but nobody holds it any more


def test_run_ids_skip_hidden_folders_and_an_absent_store_is_empty(tmp_path):
    store = Store(tmp_path / "s")
    assert store.run_ids() == []
    (tmp_path / "s" / ".tmp").mkdir(parents=True)
    (tmp_path / "s" / "b2").mkdir()
    (tmp_path / "s" / "a1").mkdir()
    assert store.run_ids() == ["a1", "b2"]
    assert store.read_record("a1") is None and store.status("a1") is None
