"""One run's lifecycle: begin -> train -> select -> score -> record, Ctrl-C handled once."""

import pytest

import ganbench.run as run
from ganbench.record import RECORD
from ganbench.store import Store
from tests.conftest import toy_config


def test_stages_run_in_order_and_every_record_goes_through_one_writer(tmp_path, monkeypatch):
    stages, writes = [], []
    for name in ("begin", "train", "score", "finish"):
        real = getattr(run.Lifecycle, name)
        monkeypatch.setattr(run.Lifecycle, name,
                            lambda self, _r=real, _n=name: stages.append(_n) or _r(self))
    real_write = run.write_record
    monkeypatch.setattr(run, "write_record", lambda f, r: writes.append(r.status) or real_write(f, r))
    real_json = run.atomic_write_json

    def json_writer(path, obj):
        assert path.name != RECORD, "a record written around ganbench.record.write"
        real_json(path, obj)

    monkeypatch.setattr(run, "atomic_write_json", json_writer)
    record = run.train_run(toy_config(score={"parzen": True, "n_samples": 100}),
                           store=Store(tmp_path), device="cpu")
    assert stages == ["begin", "train", "score", "finish"]
    assert writes == ["running", "done"]
    assert record["status"] == "done" and record["steps"] == 20 and "parzen_mean" in record


@pytest.mark.parametrize("stage,reason", [
    ("train", "interrupted by the user"),
    ("score", "interrupted by the user while scoring"),
])
def test_ctrl_c_in_each_stage_is_recorded_with_where_it_stopped(tmp_path, monkeypatch, stage,
                                                                  reason):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(run.Lifecycle, stage, interrupted)
    store = Store(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run.train_run(toy_config(score={"parzen": True, "n_samples": 100}), store=store,
                      device="cpu")
    (run_id,) = store.run_ids()
    record = store.read_record(run_id)
    assert record["status"] == "interrupted" and record["reason"] == reason
    assert record["finished"]


def test_a_diverged_score_is_recorded_with_the_step(tmp_path, monkeypatch):
    import ganbench.evaluate as evaluate

    def nan_samples(*args, **kwargs):
        raise evaluate.NonFinite(3, 100)

    monkeypatch.setattr(evaluate, "check_finite", nan_samples)
    record = run.train_run(toy_config(score={"parzen": True, "n_samples": 100}),
                           store=Store(tmp_path), device="cpu")
    assert record["status"] == "diverged" and record["failed_step"] == 20
    assert record["reason"] == "generator samples contain NaN or inf (3 of 100)"
