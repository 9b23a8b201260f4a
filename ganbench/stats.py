"""Small-sample statistics for comparing seeds: the t-interval of a mean, the two-sample tests
the leaderboard and the reproductions use, and Holm's correction.

Seeds are few (2 to 10), so every test here is one that is valid at small n: Welch's t-test
(exact for normal seeds, robust to unequal spreads), and where it is undefined because neither
side varies (mode counts: 8, 8, 8, 8, 8 against 6, 6, 6, 6, 6), the exact two-sample
permutation test of the difference in means (Fisher-Pitman: every split of the pooled values
into groups of the same sizes, through ``scipy.stats.permutation_test`` with
``n_resamples=inf``). The permutation test assumes nothing about the distribution; its smallest
two-sided p-value is 2 / C(n_a + n_b, n_a) (0.33 with 2 seeds a side, 0.1 with 3, 0.0079 with
5), so with few seeds it can say "not significant" where the difference looks plain: that is
what so few seeds can support.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

LEVEL = 0.95
WELCH = "Welch"
PERMUTATION = "exact permutation"


def t_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Student t-interval of the mean: mean ± t(1/2 + level/2, n-1) · s / sqrt(n), s the
    sample standard deviation (ddof=1); (nan, nan) with fewer than 2 values. Valid at small n
    (exact for normal values), unlike a percentile bootstrap (see ganbench.leaderboard)."""
    from scipy.stats import t

    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    mean = float(values.mean())
    half = float(t.ppf(0.5 + level / 2, n - 1)) * float(values.std(ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def no_spread(values: np.ndarray) -> bool:
    """All values equal, up to float rounding (relative 1e-12): a mean of equal floats is not
    always that float, so a variance of "equal" seeds can be 1e-32 rather than 0."""
    values = np.asarray(values, dtype=float)
    return bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())))


def welch_p(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> float:
    """p-value of Welch's t-test (unequal variances; ``alternative``: "two-sided", or
    "greater" / "less" for mean(a) > / < mean(b)); nan with fewer than 2 values on either
    side, or when neither side has any spread (``no_spread``)."""
    from scipy.stats import ttest_ind

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2 or (no_spread(a) and no_spread(b)):
        return math.nan
    with warnings.catch_warnings():  # one side without spread is fine for Welch; scipy warns
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        return float(ttest_ind(a, b, equal_var=False, alternative=alternative).pvalue)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


EXACT_UP_TO = 100_000  # splits enumerated; beyond, a Monte Carlo test of as many (seeded)


def permutation_p(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> float:
    """p-value of the two-sample permutation test of the difference in means: exact (every
    split of the pooled values) up to EXACT_UP_TO splits, else Monte Carlo with that many
    (random_state 0); two-sided by scipy's convention: twice the smaller one-sided p, at most
    1; "greater": the share of splits with a difference at least the observed. Where neither
    side varies, its closed form: 1 for equal values; else 1 / C(n_a + n_b, n_a) one-sided
    in the observed direction (1 against it), min(1, 2 / C) two-sided. nan with fewer than
    2 values on either side."""
    from scipy.stats import permutation_test

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    splits = math.comb(len(a) + len(b), len(a))
    if no_spread(a) and no_spread(b):
        if no_spread(np.concatenate([a, b])):
            return 1.0
        above = a[0] > b[0]
        if alternative == "two-sided":
            return min(1.0, 2 / splits)
        return 1 / splits if above == (alternative == "greater") else 1.0
    result = permutation_test((a, b), _mean_difference, permutation_type="independent",
                              n_resamples=np.inf if splits <= EXACT_UP_TO else EXACT_UP_TO,
                              alternative=alternative, vectorized=True, random_state=0)
    return float(result.pvalue)


def compare_p(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided"
              ) -> tuple[float, str | None]:
    """The p-value of a against b and the test that gave it: Welch's t-test; where neither
    side varies, the exact permutation test (two-sided: 1.0 for equal values); (nan, None)
    with fewer than 2 values on either side."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return math.nan, None
    p = welch_p(a, b, alternative)
    if not math.isnan(p):
        return p, WELCH
    return permutation_p(a, b, alternative), PERMUTATION


def vs_best_p(a: np.ndarray, b: np.ndarray) -> tuple[float, str | None]:
    """``compare_p``, two-sided: the leaderboard's test of a variant against the best."""
    return compare_p(a, b)


def holm(p_values: Any) -> np.ndarray:
    """Holm's step-down adjustment of m p-values (m: the finite ones; nan stays nan): sorted
    ascending, the i-th smallest (from 0) becomes max over j <= i of min(1, (m - j) p_(j)).
    Controls the family-wise error rate at any dependence between the tests."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    running = 0.0
    for i, j in enumerate(finite[np.argsort(p[finite], kind="stable")]):
        running = max(running, min(1.0, (len(finite) - i) * float(p[j])))
        out[j] = running
    return out
