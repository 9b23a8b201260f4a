"""Reference rows (``ganbench.references``): real data and a memoriser scored under the runs'
protocol, never on the examples a metric compares against; marked, not ranked, kept in the
store. And the shared work that makes scoring cheaper (one classifier pass for features and
probabilities, what depends on the dataset alone kept per process by content), checked
against the plain computation."""

from __future__ import annotations

import json
import math
import textwrap
from types import SimpleNamespace

import pytest
import torch

from ganbench import evaluate, references, results
from ganbench import leaderboard as lb
from ganbench.cli import cli
from ganbench.store import Store

SWEEP = """
    generator = "mlp"
    discriminator = "mlp"
    loss = ["non-saturating", "hinge"]
    dataset = "ring-2d"
    seed = [0, 1]
    [train]
    steps = 60
    batch_size = 64
    [noise]
    dim = 4
    [score]
    n_samples = 1000
    n_valid = 200
    metrics = [["parzen", "modes", "fid", "kid", "prdc", "memorisation"]]
    [options.dataset.ring-2d]
    n_train = 2000
    n_valid = 1200
    n_test = 500
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Four tiny ring-2d runs (two losses, two seeds): the dataset's metrics and memorisation."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("refs")
    (root / "sweep.toml").write_text(textwrap.dedent(SWEEP))
    out = CliRunner().invoke(cli, ["sweep", str(root / "sweep.toml"), "--store",
                                   str(root / "store"), "--workers", "1", "-q"])
    assert out.exit_code == 0, out.output
    return Store(root / "store")


def _ring(store):
    run = results.load(store).query("status == 'done'").run_id.iloc[0]
    config, dataset, protocol = references.protocol_of_run(store, run)
    return run, config, dataset, protocol


# ---- which examples -------------------------------------------------------------------------

def test_held_out_examples_are_never_the_ones_a_metric_reads():
    # every example is its own index: train 0.., valid 100.., test 200..
    splits = {s: (base + torch.arange(n, dtype=torch.float32))[:, None]
              for s, base, n in (("train", 0, 50), ("valid", 100, 30), ("test", 200, 20))}
    data = SimpleNamespace(splits=splits, shape=(1,))
    protocol = evaluate.Protocol(n_samples=40, n_valid=10, n_test=None)
    parzen = evaluate.build_metric("parzen", protocol)
    fid = evaluate.build_metric("fid", evaluate.Protocol(options=(("fid", (("n_real", 5),)),)))
    memorisation = evaluate.build_metric("memorisation", protocol)
    undeclared = SimpleNamespace()  # taken to read the training and test splits
    for metric, read, parts in [
        (parzen, {"valid": set(range(100, 110)), "test": set(range(200, 220))},
         ["valid[10:30]", "train[0:20]"]),
        (fid, {"test": set(range(200, 205))}, ["valid[0:30]", "test[5:15]"]),
        (memorisation, {"train": set(range(50))}, ["valid[0:30]", "test[0:10]"]),
        (undeclared, {"train": set(range(50)), "test": set(range(200, 220))}, ["valid[0:30]"]),
    ]:
        x, where = references.held_out(data, references.compares_with(metric), 40)
        values = {int(v) for v in x[:, 0]}
        assert where == parts
        assert len(values) == len(x) == min(40, sum(int(p.split(":")[1][:-1])
                                                    - int(p.split("[")[1].split(":")[0])
                                                    for p in parts))
        assert not values & set().union(*read.values())  # never an example the metric reads
    copies, where = references.memoriser(data, 120)
    assert torch.equal(copies[:, 0], torch.arange(120).remainder(50).float())
    assert where == "train[0:50] repeated to 120"


# ---- scored as the runs are ---------------------------------------------------------------

def test_references_are_scored_under_the_runs_protocol(store):
    run, config, dataset, protocol = _ring(store)
    record = store.read_record(run)
    assert set(protocol.metrics) == set(record["metrics"]) and protocol.n_samples == 1000
    refs = references.kept(store, config.dataset, config.options["dataset"], protocol, dataset)
    for kind in references.KINDS:
        for name, described in record["metrics"].items():
            mine = refs["metrics"][kind][name]
            assert mine["n_samples"] == described["n_samples"], (kind, name)
            assert mine["settings"] == described["settings"], (kind, name)  # n_real, seeds...
    # the selection written out by hand: Parzen reads valid[:200] and all of test, so its
    # real data are the next 1,000 validation points; the memoriser, the first training points
    splits = dataset.splits
    alone = evaluate.Protocol(n_samples=1000, n_valid=200, metrics=("parzen",))
    for kind, x in ((references.REAL, splits["valid"][200:1200]),
                    (references.MEMORISER, splits["train"][:1000])):
        expected = evaluate.score_samples(x, dataset, alone, torch.device("cpu"))
        assert refs["values"][kind]["parzen_mean"] == expected["parzen_mean"]
    assert refs["samples"][references.REAL]["parzen"] == ["valid[200:1200]"]
    assert refs["samples"][references.REAL]["memorisation"] == ["valid[0:1000]"]
    assert refs["samples"][references.REAL]["modes"] == [  # 2,500 samples; reads no example
        "valid[0:1200]", "test[0:500]", "train[0:800]"]
    assert refs["samples"][references.MEMORISER]["modes"] == ["train[0:2000] repeated to 2500"]


def test_real_data_beats_a_memoriser_on_memorisation_and_not_on_parzen(store):
    _, config, dataset, protocol = _ring(store)
    refs = references.kept(store, config.dataset, config.options["dataset"], protocol, dataset)
    real, copies = refs["values"][references.REAL], refs["values"][references.MEMORISER]
    assert copies["memorisation_near_copies"] == 1.0 and copies["memorisation_median_ratio"] == 0
    assert real["memorisation_near_copies"] < 0.05 < real["memorisation_median_ratio"]
    # Parzen cannot tell: the memoriser scores at least as well as real data, within noise
    assert copies["parzen_mean"] >= real["parzen_mean"] - 3 * real["parzen_stderr"]
    assert real["modes"] == copies["modes"] == 8


# ---- rows of the leaderboard, and the cache -----------------------------------------------

def test_reference_rows_are_marked_and_not_ranked(store):
    frame = results.load(store)
    plain = lb.leaderboard(frame, "modes_hq")
    table = references.add_to(plain, store)
    ranked, refs = table[~table.reference], table[table.reference]
    assert list(refs.generator) == ["real data", "memoriser"] and refs["rank"].isna().all()
    assert (refs.vs_best.str.endswith("reference, not ranked")).all() and (refs.n == 0).all()
    columns = [c for c in plain.columns if c != "best_run"]
    assert ranked[columns].reset_index(drop=True).equals(plain[columns])  # ranks, Holm: unchanged
    saved = json.loads(next((store.root / references.FOLDER).iterdir()).read_text())
    assert list(refs["mean"]) == [saved["values"][k]["modes_hq"] for k in references.KINDS]
    text = lb.render(table, "markdown")
    assert "| ref | real data | - | - | ring-2d |" in text and references.NOTE in text
    page = lb.render([table], "html", store=store)
    assert ">ref</td>" in page and "memoriser" in page


def test_the_cache_is_reused_and_keyed_by_the_protocol(store, monkeypatch):
    _, config, dataset, protocol = _ring(store)
    references.kept(store, config.dataset, config.options["dataset"], protocol, dataset)
    files = sorted((store.root / references.FOLDER).iterdir())
    assert len(files) == 1 and files[0].name.startswith("ring-2d-")

    def not_again(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(references, "compute", not_again)
    table = references.add_to(lb.leaderboard(results.load(store), "modes"), store)
    assert table.reference.sum() == 2
    other = evaluate.Protocol(**{**protocol.__dict__, "n_samples": 500})
    assert references.cache_key("ring-2d", config.options["dataset"], other) != \
        files[0].name.removeprefix("ring-2d-").removesuffix(".json")
    with pytest.raises(AssertionError, match="computed again"):
        references.kept(store, "ring-2d", config.options["dataset"], other, dataset)


def test_the_leaderboard_command_with_references(store):
    from click.testing import CliRunner

    runner = CliRunner()
    out = runner.invoke(cli, ["leaderboard", "--store", str(store.root), "--metric", "modes",
                              "--references"])
    assert out.exit_code == 0, out.output
    assert "| ref | real data | - | - | ring-2d | 8 |" in out.output
    assert "| ref | memoriser | - | - | ring-2d | 8 |" in out.output
    csv = runner.invoke(cli, ["leaderboard", "--store", str(store.root), "--metric", "fid",
                              "--references", "--format", "csv"])
    assert csv.exit_code == 0 and "reference" in csv.output.splitlines()[0].split(",")
    plain = runner.invoke(cli, ["leaderboard", "--store", str(store.root), "--metric", "fid"])
    assert "| ref |" not in plain.output and "reference" not in plain.output
    only = runner.invoke(cli, ["leaderboard", "--store", str(store.root), "--dataset", "ring-2d",
                               "--metric", "modes", "--references"])
    assert only.exit_code == 0 and only.output == out.output  # the one dataset there is
    bad = runner.invoke(cli, ["leaderboard", "--store", str(store.root), "--dataset", "mnist"])
    assert bad.exit_code == 2 and bad.output.strip().count("\n") == 0
    assert "no runs of it in the store; datasets: ring-2d" in bad.output


# ---- the shared work behind scoring ---------------------------------------------------------

def test_the_folded_classifier_is_the_eval_mode_lenet():
    from ganbench_plugins import classifier

    x = torch.rand(300, 784, generator=torch.Generator().manual_seed(0))
    model = classifier._model(torch.device("cpu"))
    with torch.no_grad():
        features = model.embed(x.reshape(-1, 1, 28, 28))
        probabilities = torch.softmax(model(x.reshape(-1, 1, 28, 28)), dim=1)
    assert torch.allclose(classifier.features(x), features, rtol=1e-5, atol=1e-5)
    assert torch.allclose(classifier.classify(x), probabilities, atol=1e-6)
    both = classifier.features_and_classify(x)
    assert torch.equal(both[0], classifier.features(x))
    assert torch.equal(both[1], classifier.classify(x))


def test_features_and_probabilities_come_from_one_call():
    calls = []

    def both(x):
        calls.append(len(x))
        return x[:, :3] * 2, torch.softmax(x[:, :4], dim=1)

    test = torch.rand(40, 20, generator=torch.Generator().manual_seed(1))
    data = SimpleNamespace(shape=(20,), splits={"train": test, "valid": test, "test": test},
                           features=lambda x: both(x)[0], classify=lambda x: both(x)[1],
                           features_and_classify=both)
    samples = torch.rand(30, 20, generator=torch.Generator().manual_seed(2))
    protocol = evaluate.Protocol(n_samples=30, metrics=("fid", "prdc", "classifier-score"))
    once = evaluate.score_samples(samples, data, protocol, torch.device("cpu"))
    assert sum(calls) == 30 + 40  # the samples once, the real examples once
    plain = SimpleNamespace(**{k: v for k, v in vars(data).items() if k != "features_and_classify"})
    again = evaluate.score_samples(samples, plain, protocol, torch.device("cpu"))
    assert {k: v for k, v in once.items() if not k.endswith("seconds")} == \
        {k: v for k, v in again.items() if not k.endswith("seconds")}


def test_what_depends_on_the_dataset_alone_is_kept_by_content(monkeypatch):
    from ganbench_plugins import kept as kept_module
    from ganbench_plugins import metrics

    kept_module.clear_kept()
    built = []

    class Counted(metrics.NearestIndex):
        def __init__(self, y, rank=128):
            built.append(len(y))
            super().__init__(y, rank)

    monkeypatch.setattr(metrics, "NearestIndex", Counted)
    gen = torch.Generator().manual_seed(3)
    train = torch.rand(300, 64, generator=gen)
    samples = torch.cat([train[:20], torch.rand(80, 64, generator=gen)])
    metric = metrics.memorisation(n_ref=50)

    def dataset(x):
        return SimpleNamespace(splits={"train": x, "valid": x, "test": x}, shape=(64,))

    first = metric.compute(samples, dataset(train))
    second = metric.compute(samples, dataset(train.clone()))  # another tensor, equal content
    assert built == [300] and first == second
    kept_module.clear_kept()
    assert metric.compute(samples, dataset(train)) == first and built == [300, 300]
    changed = train.clone()
    changed[0, 0] += 1
    metric.compute(samples, dataset(changed))
    assert built == [300, 300, 300]
    assert math.isclose(first["near_copies"], 0.2)

    # real features: kept only where the dataset names its extractor, keyed by the name
    calls = []

    def features(x):
        calls.append(len(x))
        return x[:, :4]

    fid = evaluate.build_metric("fid", evaluate.Protocol())
    for name, expected in ((None, [300, 100, 300, 100]), ("extractor-a", [300, 100, 100])):
        calls.clear()
        kept_module.clear_kept()
        for x in (train, train.clone()):
            data = SimpleNamespace(splits={"train": x, "valid": x, "test": x}, shape=(64,),
                                   features=features, feature_extractor_id=name)
            fid.compute(samples, data)
        assert calls == expected, name
    data.feature_extractor_id = "extractor-b"
    fid.compute(samples, data)
    assert calls[-2:] == [300, 100]
    kept_module.clear_kept()


def test_reproduce_prints_them_under_its_table(store):
    lines: list[str] = []
    frame = references.print_under(store, list(results.load(store).run_id), echo=lines.append)
    assert list(frame.reference) == ["real data", "memoriser"]
    assert {"modes", "parzen_mean", "fid", "memorisation_near_copies"} <= set(frame.columns)
    text = "\n".join(lines)
    assert "## References on ring-2d" in text and "| memoriser | " in text
    assert references.print_under(store, []) is None  # no stored run: nothing to print


def test_a_dataset_that_cannot_be_built_is_one_line(store, tmp_path):
    import shutil

    from click.testing import CliRunner

    copy = tmp_path / "store"
    shutil.copytree(store.root, copy, ignore=shutil.ignore_patterns(references.FOLDER))
    for config in copy.glob("*/config.json"):
        data = json.loads(config.read_text())
        data["options"]["dataset"]["n_train"] = -1  # the factory refuses it
        config.write_text(json.dumps(data))
    out = CliRunner().invoke(cli, ["leaderboard", "--store", str(copy), "--metric", "modes",
                                   "--references"])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert out.output.startswith("ganbench: error: the reference rows of ring-2d need the "
                                 "dataset, which could not be built")
    assert not (copy / references.FOLDER).exists()  # nothing half-written
