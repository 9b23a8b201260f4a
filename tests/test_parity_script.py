"""results/precision/scripts/parity.py's verdict: its stated rule, against scipy's tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from scipy import stats

SCRIPT = Path(__file__).resolve().parents[1] / "results" / "precision" / "scripts" / "parity.py"


@pytest.fixture(scope="module")
def parity():
    spec = importlib.util.spec_from_file_location("parity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_difference_smaller_than_the_seed_noise_is_within_it(parity):
    theirs = [161.2, 158.9, 161.7]  # the committed float32 simultaneous runs
    mine = [160.1, 160.5, 159.4]
    diffs = [a - b for a, b in zip(mine, theirs)]
    text = parity.verdict(mine, theirs, diffs)
    welch = stats.ttest_ind(mine, theirs, equal_var=False).pvalue
    paired = stats.ttest_rel(mine, theirs).pvalue
    assert text.startswith("within seed noise (mean difference -0.6 nats against a float32 "
                           "seed sd of 1.5")
    assert f"Welch p = {welch:.2f}" in text and f"paired t-test over 3 seeds p = {paired:.2f}" in text


def test_a_shift_of_several_seed_sds_is_not_within_it(parity):
    theirs = [161.2, 158.9, 161.7]
    mine = [150.2, 149.0, 151.1]
    assert parity.verdict(mine, theirs, [a - b for a, b in zip(mine, theirs)]).startswith(
        "not within seed noise (mean difference -10.5")


def test_a_consistent_paired_shift_is_caught_even_when_welch_is_not(parity):
    theirs = [150.0, 160.0, 170.0]  # a seed sd of 10: Welch sees nothing
    mine = [148.0, 158.1, 167.9]  # every seed 2 nats lower: the paired test does
    diffs = [a - b for a, b in zip(mine, theirs)]
    assert stats.ttest_ind(mine, theirs, equal_var=False).pvalue > 0.5
    assert stats.ttest_rel(mine, theirs).pvalue < 0.05
    assert parity.verdict(mine, theirs, diffs).startswith("not within seed noise")


def test_no_verdict_with_fewer_than_two_seeds(parity):
    assert parity.verdict([160.0], [161.2, 158.9], []) == (
        "no verdict (fewer than 2 seeds on a side)")
