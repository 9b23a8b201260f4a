"""Notes a leaderboard adds about its metric's values (``ganbench.leaderboard``)."""

from __future__ import annotations

import pandas as pd

EDGE = "parzen_sigma_at_edge"


def sigma_edge_notes(frame: pd.DataFrame, metric: str) -> list[str]:
    """Ranked by a Parzen column: per dataset (``_group``), how many of the runs in the
    means (``_used``) chose a width at an end of their grid, where the score is a bound on
    the estimator's value rather than the value (runs scored before ganbench recorded it
    count as unknown)."""
    if metric != "parzen_mean" or EDGE not in frame.columns:
        return []
    notes = []
    for name, group in frame[frame["_used"]].groupby("_group", sort=True):
        edge = pd.to_numeric(group[EDGE], errors="coerce")
        at_edge, known = int((edge == 1).sum()), int(edge.notna().sum())
        if at_edge:
            unknown = f" ({len(group) - known} not recorded)" if known < len(group) else ""
            notes.append(f"{name}: in {at_edge} of {len(group)} runs{unknown} Parzen's sigma "
                         f"is an end of its grid, so their scores are bounds, not the "
                         f"estimator's value; runs trained with metric.parzen.sigmas = "
                         f"\"auto\" (a grid scaled to the data) avoid it.")
    return notes
