"""ganbench.stats: the permutation test against brute-force enumeration, the choice of test,
and the leaderboard's comparisons where no seed varies (mode counts)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from ganbench import leaderboard as lb
from ganbench import stats


def permutation_by_hand(a, b):
    """Every split of the pooled values into groups of len(a) and len(b), in plain Python:
    two-sided p = min(1, 2 min(P(d >= observed), P(d <= observed)))."""
    pooled = list(a) + list(b)
    n, k = len(pooled), len(a)
    observed = sum(a) / k - sum(b) / (n - k)
    diffs = []
    for chosen in itertools.combinations(range(n), k):
        left = [pooled[i] for i in chosen]
        right = [pooled[i] for i in range(n) if i not in chosen]
        diffs.append(sum(left) / k - sum(right) / (n - k))
    eps = 1e-9 * max(1.0, abs(observed))  # ties up to rounding count as ties
    greater = sum(d >= observed - eps for d in diffs) / len(diffs)
    less = sum(d <= observed + eps for d in diffs) / len(diffs)
    return min(1.0, 2 * min(greater, less))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=2, max_size=5),
       st.lists(st.integers(0, 8), min_size=2, max_size=5))
def test_permutation_p_agrees_with_enumeration(a, b):
    a, b = [float(x) for x in a], [float(x) for x in b]
    assert stats.permutation_p(a, b) == pytest.approx(permutation_by_hand(a, b), abs=1e-12)


def test_permutation_p_where_no_seed_varies():
    # 5 seeds a side, all 8 against all 6: only the observed split and its mirror are as
    # extreme, 2 of C(10, 5) = 252
    assert stats.permutation_p([8.0] * 5, [6.0] * 5) == pytest.approx(2 / 252)
    assert stats.permutation_p([8.0] * 2, [6.0] * 2) == pytest.approx(2 / 6)
    assert stats.permutation_p([8.0] * 3, [8.0] * 3) == 1.0
    assert math.isnan(stats.permutation_p([8.0], [6.0, 6.0]))


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # the reference
def test_vs_best_p_uses_welch_when_a_side_varies_and_permutation_when_none_does():
    a, b = [7.0, 8.0, 8.0], [8.0, 8.0, 8.0]
    p, test = stats.vs_best_p(a, b)
    assert test == stats.WELCH
    assert p == pytest.approx(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)
    p, test = stats.vs_best_p([6.0] * 4, [8.0] * 4)
    assert test == stats.PERMUTATION and p == pytest.approx(2 / 70)
    assert stats.vs_best_p([6.0], [8.0] * 4) == (pytest.approx(math.nan, nan_ok=True), None)


def _rows(runs):
    return pd.DataFrame([{"run_id": f"{loss}{seed}", "status": "done", "generator": "mlp",
                          "discriminator": "mlp", "loss": loss, "dataset": "ring-2d",
                          "seed": seed, "modes": float(v)}
                         for loss, values in runs for seed, v in enumerate(values)])


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # the reference
def test_leaderboard_compares_variants_whose_seeds_never_vary():
    runs = [("full", [8] * 5), ("tied", [8] * 5), ("six", [6] * 5), ("mixed", [7, 8, 8, 6, 8]),
            ("two-seeds", [4, 4])]
    table = lb.leaderboard(_rows(runs), metric="modes").set_index("loss")
    assert table.loc["full", "vs_best"] == "best"
    # tied with the best, neither varying: p = 1, not n/a
    assert table.loc["tied", "p_vs_best"] == 1.0 and table.loc["tied", "significant"] is False
    assert table.loc["six", "p_vs_best"] == pytest.approx(2 / 252)
    assert "exact permutation p=0.0079" in table.loc["six", "vs_best"]
    two = 2 / math.comb(7, 2)  # 2 seeds against the best's 5
    assert table.loc["two-seeds", "p_vs_best"] == pytest.approx(two)
    welch = scipy_stats.ttest_ind([7, 8, 8, 6, 8], [8] * 5, equal_var=False).pvalue
    assert table.loc["mixed", "p_vs_best"] == pytest.approx(welch)
    assert "permutation" not in table.loc["mixed", "vs_best"]
    raw = [table.loc[v, "p_vs_best"] for v in ("tied", "six", "mixed", "two-seeds")]
    adjusted = lb.holm(raw)
    assert list(table.loc[["tied", "six", "mixed", "two-seeds"], "p_holm"]) == pytest.approx(
        list(adjusted))
    # 2/252 times 4 comparisons: 0.032 < 0.05, so six modes of eight is significantly worse
    assert table.loc["six", "significant"] is True
    assert np.isclose(table.loc["six", "p_holm"], 4 * 2 / 252)


@pytest.mark.parametrize("a,b", [([8.0] * 3, [6.0] * 4), ([6.0] * 2, [8.0] * 5),
                                 ([0.95] * 3, [0.7] * 3), ([2.0] * 4, [2.0] * 3)])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_the_closed_form_where_no_side_varies_is_scipys_exact_test(a, b, alternative):
    from scipy.stats import permutation_test

    exact = permutation_test((a, b), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(
        y, axis=axis), permutation_type="independent", n_resamples=np.inf,
        alternative=alternative, vectorized=True).pvalue
    assert stats.permutation_p(a, b, alternative) == pytest.approx(exact, rel=1e-12)


def test_equal_float_seeds_have_no_spread_even_when_their_variance_is_not_zero():
    assert np.var([0.95] * 3) > 0  # the rounding the test must not mistake for spread
    assert stats.compare_p([0.95] * 3, [0.7] * 3) == (pytest.approx(0.1), stats.PERMUTATION)
    assert stats.compare_p([0.95] * 3, [0.95] * 4) == (1.0, stats.PERMUTATION)
    # many seeds: the closed form, not an enumeration of C(30, 15) = 155 million splits
    assert stats.compare_p([8.0] * 15, [6.0] * 15)[0] == pytest.approx(2 / math.comb(30, 15))
