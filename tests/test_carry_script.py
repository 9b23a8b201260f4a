"""results/paper/scripts/carry.py: a run interrupted in one store, saved into a folder and
restored into another store, resumes there and ends exactly where an uninterrupted run ends;
bad input is one line and exit status 2, with nothing written."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from ganbench.run import train_run
from ganbench.store import BEST, CHECKPOINT, Store, load_checkpoint
from tests.test_extend import assert_same_weights, staged_config

SCRIPT = Path(__file__).resolve().parents[1] / "results" / "paper" / "scripts" / "carry.py"


@pytest.fixture(scope="module")
def carry():
    spec = importlib.util.spec_from_file_location("carry", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def interrupted(tmp_path):
    """A store holding one run stopped by Ctrl-C right after its second checkpoint."""
    import ganbench.run as runner

    store = Store(tmp_path / "store")
    original, saved = runner.atomic_torch_save, []

    def save_then_interrupt(path, obj):
        original(path, obj)
        saved.append(Path(path).name)
        if saved.count(CHECKPOINT) == 2:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "atomic_torch_save", save_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            train_run(staged_config(40), store=store, device="cpu")
    (run_id,) = store.run_ids()
    assert store.status(run_id) == "interrupted"
    return store, run_id


def test_a_carried_run_resumes_in_another_store_exactly(carry, interrupted, tmp_path, capsys):
    store, run_id = interrupted
    saved = tmp_path / "repo" / "resume"
    assert carry.main(["save", str(store.root), str(saved), run_id]) == 0
    assert f"{run_id}: interrupted, last scored step" in capsys.readouterr().out
    manifest = json.loads((saved / carry.MANIFEST).read_text())
    files = manifest["runs"][run_id]["files"]
    assert CHECKPOINT in files and "config.json" in files and ".lock" not in files
    assert manifest["runs"][run_id]["status"] == "interrupted"

    other = Store(tmp_path / "other")
    assert carry.main(["restore", str(saved), str(other.root)]) == 0
    assert f"{run_id}: restored (interrupted" in capsys.readouterr().out
    assert other.status(run_id) == "interrupted"
    resumed = train_run(staged_config(40), store=other, device="cpu")
    assert resumed["run_id"] == run_id and resumed["status"] == "done"
    assert resumed["resumed_from_step"] == 20  # its second checkpoint

    whole_store = Store(tmp_path / "whole")
    whole = train_run(staged_config(40), store=whole_store, device="cpu")
    assert_same_weights(load_checkpoint(whole_store.run_dir(run_id) / CHECKPOINT),
                        load_checkpoint(other.run_dir(run_id) / CHECKPOINT))
    history = [json.loads((s.run_dir(run_id) / "selection.json").read_text())["history"]
               for s in (whole_store, other)]
    assert history[0] == history[1]
    assert resumed["parzen_mean"] == whole["parzen_mean"]
    assert resumed["selected_step"] == whole["selected_step"]
    best = [load_checkpoint(s.run_dir(run_id) / BEST)["generator"] for s in (whole_store, other)]
    assert all(torch.equal(best[0][k], best[1][k]) for k in best[0])

    # Restoring again over a run that has gone further is refused.
    assert carry.main(["restore", str(saved), str(other.root)]) == 2
    assert "already holds run" in capsys.readouterr().err


def test_save_replaces_the_earlier_copy_and_restore_skips_the_same_files(carry, interrupted,
                                                                        tmp_path, capsys):
    store, run_id = interrupted
    saved = tmp_path / "resume"
    (saved / "an-earlier-run").mkdir(parents=True)
    assert carry.main(["save", str(store.root), str(saved), run_id]) == 0
    assert sorted(p.name for p in saved.iterdir()) == sorted([carry.MANIFEST, run_id])
    assert carry.main(["restore", str(saved), str(store.root)]) == 0
    assert "already in the store, the same files" in capsys.readouterr().out


def _is_one_line_exit_2(capsys, code, expected):
    err = capsys.readouterr().err
    return code == 2 and expected in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_run_still_training_is_refused(carry, interrupted, tmp_path, capsys):
    store, run_id = interrupted
    saved = tmp_path / "resume"
    with store.lock(run_id):
        code = carry.main(["save", str(store.root), str(saved), run_id])
    assert _is_one_line_exit_2(capsys, code, "is still training")
    assert not saved.exists()


def test_unknown_runs_and_stores_are_refused(carry, interrupted, tmp_path, capsys):
    store, run_id = interrupted
    code = carry.main(["save", str(store.root), str(tmp_path / "r"), "0123456789ab"])
    assert _is_one_line_exit_2(capsys, code, "has no run 0123456789ab")
    code = carry.main(["save", str(tmp_path / "nowhere"), str(tmp_path / "r"), run_id])
    assert _is_one_line_exit_2(capsys, code, "no store at")
    code = carry.main(["restore", str(tmp_path), str(tmp_path / "s")])
    assert _is_one_line_exit_2(capsys, code, "no MANIFEST.json")
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


def test_a_damaged_copy_is_refused_before_anything_is_written(carry, interrupted, tmp_path,
                                                              capsys):
    store, run_id = interrupted
    saved = tmp_path / "resume"
    assert carry.main(["save", str(store.root), str(saved), run_id]) == 0
    with open(saved / run_id / CHECKPOINT, "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    code = carry.main(["restore", str(saved), str(tmp_path / "other")])
    assert _is_one_line_exit_2(capsys, code, "does not match its sha256")
    assert not (tmp_path / "other").exists()
