"""The run record: one dataclass, one writer, status values declared once."""

import json

from ganbench import record as rec
from ganbench.store import RECORD


def test_round_trip_keeps_unknown_keys_and_explicit_nulls(tmp_path):
    old = {"run_id": "abc", "status": "done", "reason": None, "steps": 10,
           "parzen_mean": 1.5, "some_future_key": [1, 2]}
    r = rec.RunRecord.from_dict(old)
    assert r.status == rec.DONE and r.steps == 10 and r.values["parzen_mean"] == 1.5
    assert r.to_dict() == old
    rec.write(tmp_path, r)
    assert json.loads((tmp_path / RECORD).read_text()) == old


def test_unset_fields_are_left_out_and_set_ones_written():
    r = rec.RunRecord(run_id="x")
    assert r.to_dict() == {"run_id": "x", "status": "running"}
    r.update(status=rec.DONE, reason=None, parzen_mean=2.0, steps=5)
    assert r.to_dict() == {"run_id": "x", "status": "done", "reason": None, "steps": 5,
                           "parzen_mean": 2.0}


def test_status_values_are_declared_once():
    assert set(rec.FINAL) <= set(rec.STATUSES)
    assert len(set(rec.STATUSES)) == len(rec.STATUSES)
