"""The leaderboard: statistics checked against hand computation, variants (seeds pooled,
options not), ranks per dataset, the three formats, and the HTML page in a real browser."""

from __future__ import annotations

import math
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ganbench import leaderboard as lb
from ganbench import results
from ganbench.cli import cli
from ganbench.errors import ConfigError
from ganbench.store import Store, atomic_write_json
from tests.conftest import toy_config

# (loss, dataset, hidden, seed, status, parzen_mean)
RUNS = [
    ("hinge", "ring-2d", "[16]", 0, "done", -4.0),
    ("hinge", "ring-2d", "[16]", 1, "done", -3.5),
    ("hinge", "ring-2d", "[16]", 2, "done", -3.9),
    ("hinge", "ring-2d", "[16]", 3, "diverged", None),
    ("hinge", "ring-2d", "[64]", 0, "done", -3.0),
    ("hinge", "ring-2d", "[64]", 1, "done", -3.2),
    ("hinge", "ring-2d", "[64]", 2, "done", -2.9),
    ("non-saturating", "ring-2d", "[16]", 0, "done", -5.0),
    ("non-saturating", "ring-2d", "[16]", 1, "failed", None),
    ("non-saturating", "ring-2d", "[64]", 0, "done", -3.1),
    ("non-saturating", "ring-2d", "[64]", 1, "done", -2.8),
    ("hinge", "gaussian-1d", "[16]", 0, "done", -9.0),
    ("hinge", "gaussian-1d", "[16]", 1, "done", -8.0),
    ("hinge", "gaussian-1d", "[64]", 0, "done", -9.5),
    ("hinge", "gaussian-1d", "[64]", 1, "done", -9.4),
    ("non-saturating", "gaussian-1d", "[16]", 0, "interrupted", None),  # not counted
]


def frame() -> pd.DataFrame:
    rows = [{"run_id": f"r{i:02d}", "status": status, "generator": "mlp", "discriminator": "mlp",
             "loss": loss, "dataset": dataset, "seed": seed, "generator.hidden": hidden,
             "discriminator.hidden": "[32]", "train.steps": 100, "train.log_every": 10 + seed,
             "parzen_mean": value}
            for i, (loss, dataset, hidden, seed, status, value) in enumerate(RUNS)]
    return pd.DataFrame(rows)


def row(table, loss, dataset, hidden):
    match = table[(table["loss"] == loss) & (table["dataset"] == dataset)
                  & (table["generator.hidden"] == hidden)]
    assert len(match) == 1
    return match.iloc[0]


def my_t_interval(values):
    """The textbook formula written out: mean ± t(0.975, n-1) s / sqrt(n)."""
    n = len(values)
    half = stats.t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return statistics.mean(values) - half, statistics.mean(values) + half


def welch_by_hand(a, b):
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    t = (statistics.mean(a) - statistics.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return 2 * stats.t.sf(abs(t), df)


def test_one_row_per_variant_seeds_pooled_options_not():
    table = lb.leaderboard(frame())
    # hidden varies inside a (G, D, loss, dataset) group: a column of its own; the
    # discriminator's hidden and train.steps never vary, train.log_every changes no number.
    assert table.attrs["options"] == ["generator.hidden"]
    assert "discriminator.hidden" not in table.columns and "train.log_every" not in table.columns
    assert len(table) == 6  # the interrupted run is not a result
    r = row(table, "hinge", "ring-2d", "[16]")
    assert (r["n"], r["done"], r["diverged"], r["failed"]) == (3, 3, 1, 0)
    assert r["mean"] == pytest.approx(statistics.mean([-4.0, -3.5, -3.9]))
    assert r["std"] == pytest.approx(statistics.stdev([-4.0, -3.5, -3.9]))
    r = row(table, "non-saturating", "ring-2d", "[16]")
    assert (r["n"], r["done"], r["failed"]) == (1, 1, 1)
    assert math.isnan(r["std"]) and math.isnan(r["ci95_low"])


def test_the_confidence_interval_is_the_t_interval_written_out():
    table = lb.leaderboard(frame())
    for loss, hidden, values in (("hinge", "[16]", [-4.0, -3.5, -3.9]),
                                 ("hinge", "[64]", [-3.0, -3.2, -2.9]),
                                 ("non-saturating", "[64]", [-3.1, -2.8])):
        r = row(table, loss, "ring-2d", hidden)
        low, high = my_t_interval(values)
        assert r["ci95_low"] == pytest.approx(low, abs=1e-12)
        assert r["ci95_high"] == pytest.approx(high, abs=1e-12)
        assert r["ci95_low"] < min(values) and max(values) < r["ci95_high"]  # not [min, max]


def test_ranks_are_per_dataset_and_welch_against_the_best():
    table = lb.leaderboard(frame())
    ring = table[table["dataset"] == "ring-2d"]
    assert list(ring["rank"]) == [1, 2, 3, 4]
    assert list(zip(ring["loss"], ring["generator.hidden"]))[:2] == [
        ("non-saturating", "[64]"), ("hinge", "[64]")]  # -2.95 beats -3.033
    gauss = table[table["dataset"] == "gaussian-1d"]
    assert list(gauss["rank"]) == [1, 2]  # ranked apart from ring-2d: not comparable

    best = row(table, "non-saturating", "ring-2d", "[64]")
    assert best["vs_best"] == "best" and best["significant"] is None
    r = row(table, "hinge", "ring-2d", "[16]")
    expected = welch_by_hand([-4.0, -3.5, -3.9], [-3.1, -2.8])
    assert r["p_vs_best"] == pytest.approx(expected, rel=1e-9)
    # Holm over ring-2d's two comparisons (the one-seed variant has none): 2 x p
    assert r["p_holm"] == pytest.approx(2 * expected, rel=1e-9)
    assert r["significant"] == (2 * expected < 0.05)
    assert expected < 0.05 and r["significant"] is False  # raw p alone would have said worse
    one_seed = row(table, "non-saturating", "ring-2d", "[16]")
    assert one_seed["vs_best"] == "n/a" and math.isnan(one_seed["p_vs_best"])


def test_lower_is_better_flips_the_ranking():
    table = lb.leaderboard(frame(), higher_is_better=False)
    ring = table[table["dataset"] == "ring-2d"]
    assert (ring.iloc[0]["loss"], ring.iloc[0]["generator.hidden"]) == ("non-saturating", "[16]")
    assert lb.leaderboard(frame().rename(columns={"parzen_mean": "fid"}),
                          metric="fid").attrs["higher_is_better"] is False


def test_by_fewer_columns_pools_more():
    table = lb.leaderboard(frame(), by=["loss", "dataset"])
    assert len(table) == 6  # generator.hidden still splits: options are never pooled
    table = lb.leaderboard(frame().drop(columns="generator.hidden"), by=["dataset"])
    assert sorted(table["n"]) == [4, 9]


def test_bad_requests():
    with pytest.raises(ConfigError, match="'fid' is not a column"):
        lb.leaderboard(frame(), metric="fid")
    with pytest.raises(ConfigError, match="--by column"):
        lb.leaderboard(frame(), by=["optimizer"])
    with pytest.raises(ConfigError, match="no runs"):
        lb.leaderboard(pd.DataFrame())
    with pytest.raises(ConfigError, match="unknown leaderboard format"):
        lb.render(lb.leaderboard(frame()), "pdf")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=8), st.floats(-1e3, 1e3))
def test_t_interval_properties(values, shift):
    values = np.array(values)
    low, high = lb.t_interval(values)
    assert low - 1e-9 <= values.mean() <= high + 1e-9
    if len(values) <= 3:  # with 2 or 3 seeds it holds every seed: wider than [min, max]
        assert low - 1e-9 <= values.min() and values.max() <= high + 1e-9
    low2, high2 = lb.t_interval(values + shift)
    assert low2 == pytest.approx(low + shift, abs=1e-6)
    assert high2 == pytest.approx(high + shift, abs=1e-6)


def test_markdown_and_csv():
    table = lb.leaderboard(frame())
    text = lb.render(table, "markdown")
    lines = text.splitlines()
    assert lines[0].startswith("| rank | generator | discriminator | loss | dataset | "
                               "generator.hidden | parzen_mean (mean ± std)")
    assert len([line for line in lines if line.startswith("| ")]) == 1 + 6
    assert "| 3/1/0 |" in text and "Welch" in text
    back = pd.read_csv(__import__("io").StringIO(lb.render(table, "csv")))
    assert len(back) == 6 and back["mean"].iloc[0] == pytest.approx(table["mean"].iloc[0])


# ---- a real store, the command, and the page in a browser ----


def _png(path: Path, colour: tuple[int, int, int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.set_facecolor(np.array(colour) / 255)
    fig.savefig(path, dpi=20)
    plt.close(fig)


def make_store(root: Path) -> Store:
    """Run folders as the trainer leaves them (config, record, pictures), without training."""
    store = Store(root)
    values = {"hinge": [-3.0, -3.2, -2.9], "non-saturating": [-4.0, -3.5, -3.9]}
    for loss, scores in values.items():
        for seed, score in enumerate(scores):
            config = toy_config(loss=loss, seed=seed)
            folder = store.run_dir(config.run_id)
            folder.mkdir(parents=True)
            atomic_write_json(folder / "config.json", config.to_dict())
            atomic_write_json(folder / "record.json", {"run_id": config.run_id, "device": "cpu",
                                                       "status": "done", "parzen_mean": score})
            _png(folder / "samples.png", (200, 30, 30))
            _png(folder / "losses.png", (30, 30, 200))
    return store


def test_the_command(runner, tmp_path):
    store = make_store(tmp_path / "store")
    out = runner.invoke(cli, ["leaderboard", "--store", str(store.root)])
    assert out.exit_code == 0, out.output
    assert out.output.count("| mlp | mlp |") == 2 and "best" in out.output
    page = tmp_path / "board.html"
    out = runner.invoke(cli, ["leaderboard", "--store", str(store.root), "--format", "html",
                                              "--out", str(page)])
    assert out.exit_code == 0 and "2 variants" in out.output
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 4  # samples and curves of both variants
    assert "http://" not in html and "https://" not in html and "<script src" not in html
    best = lb.leaderboard(results.load(store))["best_run"].iloc[0]
    assert f'data-run="{best}"' in html
    for args, message in ((["--metric", "fid"], "'fid' is not a column"),
                          (["--by", ""], "--by needs at least one column")):
        out = runner.invoke(cli, ["leaderboard", "--store", str(store.root), *args])
        assert out.exit_code == 2 and message in out.output
    (tmp_path / "empty").mkdir()  # an empty store (one that does not exist is named instead)
    out = runner.invoke(cli, ["leaderboard", "--store", str(tmp_path / "empty")])
    assert out.exit_code == 2 and "no runs in the store" in out.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_the_page_renders_and_sorts_in_headless_chromium(tmp_path):
    store = make_store(tmp_path / "store")
    table = lb.leaderboard(results.load(store))
    page = tmp_path / "board.html"
    page.write_text(lb.render(table, "html", store=store))

    def dom(fragment: str = "") -> str:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
             page.as_uri() + fragment], capture_output=True, text=True, timeout=90)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    shown = dom()
    runs = re.findall(r'<tr data-run="([0-9a-f]+)">', shown)
    assert runs == list(table["best_run"])  # both rows, best first
    assert shown.count("<img") == 4
    # The script ran: sorting by the mean column (index 5), ascending, puts the worst first.
    ascending = re.findall(r'<tr data-run="([0-9a-f]+)">', dom("#sort=5-asc"))
    assert ascending == list(table["best_run"])[::-1]
    assert 'class="asc"' in dom("#sort=5-asc")
    # The first click on a score column (no direction given) sorts best first.
    first = dom("#sort=5")
    assert re.findall(r'<tr data-run="([0-9a-f]+)">', first) == list(table["best_run"])
    assert 'class="desc"' in first


# ---- 1. an interval that holds at small n ----


def test_the_t_interval_covers_95_percent_with_two_or_three_seeds():
    rng = np.random.default_rng(1)
    for n in (2, 3):
        samples = rng.normal(size=(4000, n))  # true mean 0
        covered = np.mean([low <= 0 <= high for low, high in map(lb.t_interval, samples)])
        assert 0.935 <= covered <= 0.965, (n, covered)
        # [min, max], which the percentile bootstrap gave at this n, covers 50% / 75%
        old = np.mean((samples.min(axis=1) <= 0) & (0 <= samples.max(axis=1)))
        assert old < 0.8
    assert all(math.isnan(x) for x in lb.t_interval([1.0]))


def test_the_notes_say_which_interval_and_why():
    text = lb.render(lb.leaderboard(frame()), "markdown")
    assert "Student t-interval" in text and "undercovers badly at n < 10" in text
    assert "(n=3)" in text  # n beside the interval
    assert "| - (n=1) |" in text  # one seed: no interval, and it says why


# ---- 2. Holm's correction ----


def test_holm_against_a_hand_worked_example():
    # sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> max 0.06
    assert lb.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert lb.holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = lb.holm([0.02, math.nan, 0.04])  # nan: not a comparison (m = 2)
    assert out[0] == pytest.approx(0.04) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    assert len(lb.holm([])) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_agrees_with_statsmodels(p_values):
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    reject, adjusted, _, _ = multitest.multipletests(p_values, alpha=0.05, method="holm")
    assert lb.holm(p_values) == pytest.approx(adjusted, abs=1e-12)
    assert list(lb.holm(p_values) < 0.05) == list(reject)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_properties(p_values):
    adjusted = lb.holm(p_values)
    p = np.array(p_values)
    assert (adjusted >= p - 1e-15).all() and (adjusted <= 1).all()
    assert (adjusted <= np.minimum(1, len(p) * p) + 1e-12).all()  # never worse than Bonferroni
    order = np.argsort(p, kind="stable")
    assert (np.diff(adjusted[order]) >= -1e-15).all()  # keeps the order of the p-values


def test_significance_is_holm_adjusted_across_a_datasets_comparisons():
    runs = [("best", [-1.0, -1.1, -0.9, -1.05]), ("far", [-5.0, -5.2, -4.9, -5.1]),
            ("near", [-1.4, -1.2, -1.6, -1.3]), ("same", [-1.0, -1.2, -0.95, -1.1])]
    rows = [{"run_id": f"{loss}{seed}", "status": "done", "generator": "mlp",
             "discriminator": "mlp", "loss": loss, "dataset": "ring-2d", "seed": seed,
             "parzen_mean": v} for loss, values in runs for seed, v in enumerate(values)]
    table = lb.leaderboard(pd.DataFrame(rows)).set_index("loss")
    raw = [welch_by_hand(dict(runs)[loss], dict(runs)["best"]) for loss in ("far", "near", "same")]
    assert list(table.loc[["far", "near", "same"], "p_vs_best"]) == pytest.approx(raw, rel=1e-9)
    expected = lb.holm(raw)
    assert list(table.loc[["far", "near", "same"], "p_holm"]) == pytest.approx(expected)
    assert expected[0] == pytest.approx(3 * raw[0])  # the smallest p: times m = 3
    for loss, q in zip(("far", "near", "same"), expected):
        assert table.loc[loss, "significant"] == bool(q < 0.05)
    assert table.loc["far", "significant"] is True and table.loc["same", "significant"] is False
    assert table.loc["best", "significant"] is None and math.isnan(table.loc["best", "p_holm"])
    notes = " ".join(lb.leaderboard(pd.DataFrame(rows)).attrs["notes"])
    assert "Welch's t-test (two-sided) against the best variant of the same dataset" in notes
    assert "significant (worse) = Holm-adjusted p < 0.05" in notes


# ---- 3. a text column as --metric ----


def test_a_text_column_is_no_metric():
    with_device = frame().assign(device="cpu")
    with pytest.raises(ConfigError) as caught:
        lb.leaderboard(with_device, metric="device")
    message = str(caught.value)
    assert "'device' is a text column" in message and "numeric columns: " in message
    assert "parzen_mean" in message and "device" not in message.split("numeric columns: ")[1]
    assert "\n" not in message
    assert lb.numeric_columns(with_device) == ["parzen_mean"]  # options and seed are no scores


def test_the_command_rejects_a_text_metric_in_one_line(runner, tmp_path):
    store = make_store(tmp_path / "store")
    out = runner.invoke(cli, ["leaderboard", "--store", str(store.root), "--metric", "device"])
    assert out.exit_code == 2, out.output
    assert "'device' is a text column" in out.output and "parzen_mean" in out.output
    assert len(out.output.strip().splitlines()) == 1


# ---- 4. runs scored differently are never pooled ----


def rescored_frame() -> pd.DataFrame:
    """frame(), as a store holds it: each scored run says how (parzen_n_*), and hinge/ring-2d/
    [16] seed 1 was re-scored with 5000 kernel centres."""
    out = frame()
    scored = out["parzen_mean"].notna()
    for column, value in (("parzen_n_samples", 10000), ("parzen_n_valid", 1000),
                          ("parzen_n_test", 500)):
        out[column] = np.where(scored, value, np.nan)
    out.loc[out["run_id"] == "r01", "parzen_n_samples"] = 5000
    return out


def test_a_run_scored_under_another_protocol_is_left_out_and_said_so():
    table = lb.leaderboard(rescored_frame())
    assert table.attrs["protocol"] == ["parzen_n_samples", "parzen_n_valid", "parzen_n_test"]
    r = row(table, "hinge", "ring-2d", "[16]")
    assert (r["done"], r["n"], r["left_out"], r["diverged"]) == (3, 2, 1, 1)
    assert r["mean"] == pytest.approx(statistics.mean([-4.0, -3.9]))  # not -3.5 from seed 1
    assert not r["complete"]
    untouched = row(lb.leaderboard(frame()), "hinge", "ring-2d", "[16]")
    assert untouched["n"] == 3 and untouched["left_out"] == 0
    notes = [n for n in table.attrs["notes"] if n.startswith("ring-2d:")]
    assert len(notes) == 1 and "1 run left out" in notes[0]
    assert "parzen_n_samples=5000" in notes[0] and "parzen_n_samples=10000" in notes[0]
    text = lb.render(table, "markdown")
    assert "left out" in text.splitlines()[0] and notes[0] in text
    assert "left_out" in lb.render(table, "csv").splitlines()[0]
    # unscored runs (diverged, failed) have no protocol and split nothing
    assert len(table) == 6


def test_protocol_columns_of_a_metric():
    columns = ["parzen_mean", "parzen_n_samples", "parzen_n_valid", "protocol.parzen",
               "prdc_recall", "protocol.prdc", "protocol.prdc-x", "prdc_x_score", "wall_time"]
    empty = pd.DataFrame(columns=columns)
    assert results.protocol_columns(empty, "parzen_mean") == [
        "parzen_n_samples", "parzen_n_valid", "protocol.parzen"]
    assert results.protocol_columns(empty, "prdc_recall") == ["protocol.prdc"]
    assert results.protocol_columns(empty, "prdc_x_score") == ["protocol.prdc-x"]  # longest
    assert results.protocol_columns(empty, "wall_time") == []


def write_run(store: Store, run_id: str, config: dict, record: dict) -> None:
    folder = store.run_dir(run_id)
    atomic_write_json(folder / "config.json", config)
    atomic_write_json(folder / "record.json", {"run_id": run_id, **record})


def metrics_entry(n_samples: int, version: str = "0.1.0") -> dict:
    """A record's ``metrics`` entry as ganbench.evaluate.score_samples writes it."""
    return {"n_samples": n_samples, "distribution": "ganbench-plugins", "version": version,
            "settings": {"n_real": 1000}, "higher_is_better": {"moments": False}}


def test_results_have_a_protocol_column_per_metric_and_the_leaderboard_splits_on_it(tmp_path):
    store = Store(tmp_path)
    base = {"generator": "mlp", "discriminator": "mlp", "dataset": "ring-2d", "noise": {},
            "train": {}, "optimizer": {}, "score": {}, "options": {}}
    scored = {("hinge", 0): (0.30, 10000, "0.1.0"), ("hinge", 1): (0.32, 10000, "0.2.0"),
              ("hinge", 2): (0.90, 2000, "0.1.0"), ("minimax", 0): (0.50, 10000, "0.1.0"),
              ("minimax", 1): (0.52, 10000, "0.1.0"), ("minimax", 2): (0.55, 10000, "0.1.0")}
    for (loss, seed), (value, n, version) in scored.items():
        write_run(store, f"{loss}{seed}", {**base, "loss": loss, "seed": seed},
                  {"status": "done", "moments": value, "moments_seconds": 0.1 * seed,
                   "metrics": {"moments": metrics_entry(n, version)}})
    frame_ = results.load(store).set_index("run_id")
    cell = frame_.loc["hinge0", "protocol.moments"]
    assert cell == ('{"higher_is_better":{"moments":false},"n_samples":10000,'
                    '"settings":{"n_real":1000}}')  # canonical; no provenance, no timing
    # another plugin version is provenance, not protocol: the same cell
    assert frame_.loc["hinge1", "protocol.moments"] == cell
    assert frame_.loc["hinge2", "protocol.moments"] != cell
    table = lb.leaderboard(frame_.reset_index(), metric="moments").set_index("loss")
    assert table.attrs["protocol"] == ["protocol.moments"]
    assert table.loc["hinge", "n"] == 2 and table.loc["hinge", "left_out"] == 1
    assert table.loc["hinge", "mean"] == pytest.approx(0.31)  # 0.90 (2000 samples) left out
    assert table.loc["minimax", "n"] == 3 and table.loc["minimax", "left_out"] == 0
    (note,) = [n for n in table.attrs["notes"] if "left out" in n and n.startswith("ring-2d")]
    assert "moments.n_samples=2000" in note and "moments.n_samples=10000" in note
    assert lb.score_columns(frame_) == ["moments"]


def test_done_runs_without_a_value_are_left_out_and_said_so():
    data = frame()
    data.loc[data["run_id"] == "r04", "parzen_mean"] = None  # hinge ring-2d [64] seed 0
    table = lb.leaderboard(data)
    r = row(table, "hinge", "ring-2d", "[64]")
    assert (r["done"], r["n"], r["left_out"]) == (3, 2, 1)
    assert "ring-2d: 1 done run left out: no finite parzen_mean." in table.attrs["notes"]


# ---- 5. incomplete rows are marked ----


def killed_frame() -> pd.DataFrame:
    """A sweep of 4 seeds killed with kill -9: minimax has 2 seeds done, one interrupted, one
    never started; hinge has all 4, and one half-written folder."""
    rows = [("hinge", s, "done", v) for s, v in enumerate([-3.0, -3.1, -2.9, -3.2])]
    rows += [("minimax", 0, "done", -2.0), ("minimax", 1, "done", -2.1),
             ("minimax", 2, "interrupted", None), ("wasserstein", 0, "done", -4.0),
             ("wasserstein", 1, "done", -4.1), ("wasserstein", 2, "running", None),
             ("wasserstein", 3, "incomplete", None)]
    return pd.DataFrame([{"run_id": f"{loss}{seed}", "status": status, "generator": "mlp",
                          "discriminator": "mlp", "loss": loss, "dataset": "ring-2d",
                          "seed": seed, "parzen_mean": v} for loss, seed, status, v in rows])


def test_interrupted_running_and_missing_seeds_are_counted_and_the_row_marked():
    table = lb.leaderboard(killed_frame()).set_index("loss")
    counts = ["done", "interrupted", "running", "not_started", "complete"]
    assert list(table.loc["minimax", counts]) == [2, 1, 0, 1, False]
    assert list(table.loc["wasserstein", counts]) == [2, 0, 1, 1, False]  # half-written: not started
    assert list(table.loc["hinge", counts]) == [4, 0, 0, 0, True]
    assert table.loc["minimax", "rank"] == 1  # still ranked, but marked
    text = lb.render(lb.leaderboard(killed_frame()), "markdown")
    minimax = next(line for line in text.splitlines() if "| minimax |" in line)
    assert minimax.startswith("| 1* |") and "1 interrupted, 1 not started" in minimax
    hinge = next(line for line in text.splitlines() if "| hinge |" in line)
    assert hinge.startswith("| 2 |")
    assert "Rows marked * are incomplete" in text
    page = lb.render(lb.leaderboard(killed_frame()), "html")
    assert page.count('class="incomplete">1*</td>') == 1


def test_a_variant_with_no_finished_run_is_named_in_the_notes():
    table = lb.leaderboard(frame())
    assert not ((table["loss"] == "non-saturating") & (table["dataset"] == "gaussian-1d")).any()
    assert ("gaussian-1d: 1 variant with no finished run yet, so no row: mlp mlp "
            "non-saturating [16] (1 interrupted, 1 not started).") in table.attrs["notes"]


def test_complete_rows_stay_unmarked():
    table = lb.leaderboard(frame())
    assert bool(row(table, "hinge", "ring-2d", "[16]")["complete"])  # 3 done + 1 diverged
    assert not row(table, "hinge", "ring-2d", "[64]")["complete"]  # seed 3 never started
    text = lb.render(table, "markdown")
    assert next(line for line in text.splitlines() if "| 3/1/0 |" in line).startswith("| 3 |")


# ---- 6. the HTML page ----


def png_bytes(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A plain RGB PNG (zlib, no dependencies), quicker than matplotlib for many runs."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\0" + bytes(colour) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def big_store(root: Path) -> Store:
    """12 variants (3 losses x 2 widths x 2 datasets), 3 seeds each, two metrics; one seed
    interrupted and one re-scored, so every column has something to show."""
    store = Store(root)
    losses = ["relativistic-average", "wasserstein-gp", "label-smoothing"]
    widths = [[16], [128, 128, 128]]
    i = 0
    for loss in losses:
        for width in widths:
            for dataset in ("gaussian-1d", "ring-2d"):
                for seed in range(3):
                    i += 1
                    config = toy_config(loss=loss, seed=seed, dataset=dataset,
                                        options={"generator": {"hidden": width},
                                                 "discriminator": {"hidden": width}})
                    folder = store.run_dir(config.run_id)
                    folder.mkdir(parents=True)
                    atomic_write_json(folder / "config.json", config.to_dict())
                    interrupted = (loss, width, dataset, seed) == (losses[0], widths[0], "ring-2d", 2)
                    n = 5000 if (loss, width, dataset, seed) == (losses[1], widths[1],
                                                                  "ring-2d", 1) else 10000
                    record = {"run_id": config.run_id, "device": "cpu",
                              "status": "interrupted" if interrupted else "done"}
                    if not interrupted:
                        record.update(
                            parzen_mean=-3.0 - 0.1 * (i % 7) - 0.01 * seed, parzen_n_samples=n,
                            moments=0.5 + 0.03 * (i % 5) + 0.002 * seed, metrics={
                                "parzen": {"n_samples": n, "higher_is_better": {"mean": True},
                                           "settings": {"n_valid": 1000, "n_test": None}},
                                "moments": metrics_entry(n)})
                    atomic_write_json(folder / "record.json", record)
                    (folder / "samples.png").write_bytes(png_bytes(200, 200, (i * 20 % 256, 40, 90)))
                    (folder / "losses.png").write_bytes(png_bytes(320, 160, (30, i * 20 % 256, 200)))
    return store


def test_the_page_is_compact_and_has_a_metric_selector(runner, tmp_path):
    store = big_store(tmp_path / "store")
    page = tmp_path / "board.html"
    out = runner.invoke(cli, ["leaderboard", "--store", str(store.root), "--format", "html",
                              "--out", str(page)])
    assert out.exit_code == 0, out.output
    html = page.read_text()
    assert html.count('<section class="board"') == 2 and '<select id="metric">' in html
    assert '<option value="0">parzen_mean (higher is better)</option>' in html
    assert '<option value="1">moments (lower is better)</option>' in html
    assert "height:48px" in html and html.count('class="thumb"') == 2 * 2 * 12
    # each picture inline once, however many tables show it (the script copies it)
    assert len(re.findall(r"data:image/png;base64,", html)) == len(
        set(re.findall(r'data-pic="([^"]+)"', html)))
    assert "http://" not in html and "https://" not in html and "<script src" not in html
    # the mean's header knows which way is best: parzen up, moments down
    first, second = html.split('<section class="board"')[1:]
    assert re.search(r'<th data-best="desc">parzen_mean', first)
    assert re.search(r'<th data-best="asc">moments', second)
    assert "left out" in first  # the re-scored seed
    # markdown and csv stay one table: the --metric's
    out = runner.invoke(cli, ["leaderboard", "--store", str(store.root)])
    assert out.exit_code == 0 and "moments" not in out.output.splitlines()[0]


LAYOUT = """<script>window.addEventListener('load', function () {
  var out = {w: window.innerWidth, h: window.innerHeight,
             scroll: document.documentElement.scrollWidth};
  var table = document.getElementById('leaderboard');
  var ths = table.tHead.rows[0].cells;
  out.right = ths[ths.length - 1].getBoundingClientRect().right;
  out.rows = table.tBodies[0].rows.length;
  out.visible = Array.prototype.filter.call(table.tBodies[0].rows, function (r) {
    return r.getBoundingClientRect().bottom <= 900; }).length;  // in a 900 px high viewport
  out.heights = Array.prototype.map.call(table.tBodies[0].rows, function (r) {
    return r.getBoundingClientRect().height; });
  var thumb = table.querySelector('img.thumb');
  out.thumb = thumb.getBoundingClientRect().height;
  thumb.click();
  var box = document.getElementById('lightbox'), big = box.querySelector('img');
  out.opened = !box.hidden && !!big && big.getAttribute('src') === thumb.getAttribute('src');
  out.big = big ? [big.getBoundingClientRect().width, big.naturalWidth] : null;
  box.click();
  out.closed = box.hidden;
  ths[ths.length - 1].click(); ths[ths.length - 1].click();  // scramble: by curves
  var at = Array.prototype.map.call(ths, function (th) { return th.textContent; })
    .findIndex(function (text) { return text.indexOf('(mean') >= 0; });
  ths[at].click();  // the first click on the mean: best (highest parzen_mean) first
  var means = Array.prototype.map.call(table.tBodies[0].rows, function (r) {
    return parseFloat(r.cells[at].getAttribute('data-v')); });
  out.means = means;
  out.bestFirst = means.every(function (v, i) { return i === 0 || means[i - 1] >= v; });
  var select = document.getElementById('metric');
  select.value = '1'; select.dispatchEvent(new Event('change'));
  var second = document.getElementById('leaderboard-1');
  out.switched = table.offsetParent === null && second.offsetParent !== null;
  out.copied = Array.prototype.every.call(second.querySelectorAll('img.thumb'),
    function (img) { return (img.getAttribute('src') || '').indexOf('data:image/png') === 0; });
  document.getElementById('measured').textContent = JSON.stringify(out);
});</script><pre id="measured"></pre>"""


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_a_twelve_row_board_fits_a_1400_by_900_screen_in_headless_chromium(tmp_path):
    import json
    from html import unescape

    store = big_store(tmp_path / "store")
    tables = lb.boards(results.load(store))
    assert [t.attrs["metric"] for t in tables] == ["parzen_mean", "moments"]
    assert len(tables[0]) == 12
    page = tmp_path / "board.html"
    page.write_text(lb.render(tables, "html", store=store).replace("</body>", LAYOUT + "</body>"))
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', out.stdout, re.S)
    assert found and found.group(1), out.stdout[-2000:]
    m = json.loads(unescape(found.group(1)))
    assert m["w"] == 1400, m  # (headless keeps some height for its window: rows are counted to 900)
    assert m["scroll"] <= 1400 and m["right"] <= 1400, m  # every column on screen
    assert m["rows"] == 12 and m["visible"] >= 10, m
    assert max(m["heights"]) <= 60 and 47 <= m["thumb"] <= 49, m
    assert m["opened"] and m["big"][0] == m["big"][1] == 200 and m["closed"], m  # full size
    assert m["bestFirst"], m
    assert m["switched"] and m["copied"], m
