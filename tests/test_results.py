"""The results table built from a store: a row per run, even for a half-written one."""

from ganbench import results
from ganbench.store import CONFIG, RECORD, Store, atomic_write_json


def _config(seed):
    return {"generator": "mlp", "discriminator": "mlp", "loss": "hinge", "dataset": "ring-2d",
            "seed": seed, "options": {"loss": {"margin": 1.0}}, "train": {"steps": 10},
            "noise": {}, "optimizer": {}, "score": {}}


def test_one_row_per_run_with_scores_options_and_incomplete_rows(tmp_path):
    store = Store(tmp_path)
    atomic_write_json(store.run_dir("a") / CONFIG, _config(0))
    atomic_write_json(store.run_dir("a") / RECORD, {
        "run_id": "a", "status": "done", "parzen_mean": 1.25, "parzen_stderr": 0.5,
        "steps": 10, "versions": {"torch": "2.14.1"}})
    atomic_write_json(store.run_dir("b") / CONFIG, _config(1))  # no record yet
    store.run_dir("c").mkdir()  # no config at all
    frame = results.load(store).set_index("run_id")
    assert list(frame.index) == ["a", "b", "c"]
    assert frame.loc["a", "status"] == "done" and frame.loc["a", "parzen_mean"] == 1.25
    assert frame.loc["a", "loss.margin"] == 1.0 and frame.loc["a", "train.steps"] == 10
    assert frame.loc["a", "torch"] == "2.14.1"
    assert frame.loc["b", "status"] == "incomplete" and frame.loc["c", "status"] == "incomplete"


def test_an_empty_store_gives_the_columns_and_no_rows(tmp_path):
    frame = results.load(tmp_path)
    assert frame.empty and {"run_id", "status", "parzen_mean"} <= set(frame.columns)


def test_the_terminal_summary_shows_every_metric_column_but_timings(tmp_path):
    store = Store(tmp_path)
    atomic_write_json(store.run_dir("a") / CONFIG, _config(0))
    atomic_write_json(store.run_dir("a") / RECORD, {
        "run_id": "a", "status": "done", "parzen_mean": 1.0, "fid": 2.5, "fid_seconds": 0.1,
        "modes": 7, "modes_reverse_kl": 0.2, "kid": 0.01, "kid_std": 0.001,
        "metrics": {"fid": {"n_samples": 10}, "modes": {"n_samples": 10}, "kid": {}}})
    shown = results.summary_columns(results.load(store))
    assert {"parzen_mean", "fid", "modes", "modes_reverse_kl", "kid"} <= set(shown)
    assert not {"fid_seconds", "kid_std"} & set(shown)
    assert not any(c.startswith("protocol.") for c in shown)


def test_a_metrics_options_count_in_its_protocol_only_where_no_settings_say_them():
    from ganbench.results import protocol

    with_settings = {"n_samples": 10, "settings": {"n_real": 50}, "options": {"n_real": 50}}
    assert protocol(with_settings) == protocol({**with_settings, "options": {}})
    bare = {"n_samples": 10, "settings": {}, "options": {"n_real": 50}}
    assert protocol(bare) != protocol({**bare, "options": {"n_real": 60}})
