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


def my_bootstrap(values, resamples=10_000, seed=0):
    """The procedure written out: draw n indices with replacement, take the mean, repeat."""
    rng = np.random.default_rng(seed)
    n = len(values)
    means = []
    for _ in range(resamples):
        sample = [values[rng.integers(0, n)] for _ in range(n)]
        means.append(sum(sample) / n)
    means.sort()
    return np.percentile(means, 2.5), np.percentile(means, 97.5)


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


def test_the_confidence_interval_is_the_bootstrap_written_out():
    table = lb.leaderboard(frame())
    for loss, hidden, values in (("hinge", "[16]", [-4.0, -3.5, -3.9]),
                                 ("hinge", "[64]", [-3.0, -3.2, -2.9]),
                                 ("non-saturating", "[64]", [-3.1, -2.8])):
        r = row(table, loss, "ring-2d", hidden)
        low, high = my_bootstrap(values)
        assert r["ci95_low"] == pytest.approx(low, abs=1e-12)
        assert r["ci95_high"] == pytest.approx(high, abs=1e-12)


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
    assert r["significant"] == (expected < 0.05)
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
def test_bootstrap_interval_properties(values, shift):
    values = np.array(values)
    low, high = lb.bootstrap_ci(values, resamples=500)
    assert values.min() - 1e-9 <= low <= high <= values.max() + 1e-9
    low2, high2 = lb.bootstrap_ci(values + shift, resamples=500)  # same resamples, shifted
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
            atomic_write_json(folder / "record.json", {"run_id": config.run_id,
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
    ascending = re.findall(r'<tr data-run="([0-9a-f]+)">', dom("#sort=5"))
    assert ascending == list(table["best_run"])[::-1]
    assert 'class="asc"' in dom("#sort=5")
