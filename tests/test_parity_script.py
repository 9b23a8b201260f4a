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


def test_a_run_still_training_is_listed_not_judged(parity, tmp_path):
    """A study written while a run trains (--no-train): the finished rows are compared (not
    flagged "not comparable" because of the unfinished one), the unfinished run is named."""
    import argparse

    import pandas as pd

    frame = pd.DataFrame([
        {"update": "simultaneous", "seed": 0, "run_id": "a", "status": "done", "epochs": 100.0,
         "parzen": 162.3, "parzen_stderr": 1.4, "selected_epoch": 97.0, "wall_time_s": 2120.0,
         "fp32_epochs": 100.0, "fp32_parzen": 161.2, "fp32_selected_epoch": 100.0,
         "fp32_wall_time_s": 7416.0},
        {"update": "simultaneous", "seed": 1, "run_id": "b", "status": "running",
         "epochs": None, "parzen": None, "parzen_stderr": None, "selected_epoch": None,
         "wall_time_s": None, "fp32_epochs": 100.0, "fp32_parzen": 158.9,
         "fp32_selected_epoch": 100.0, "fp32_wall_time_s": 3644.0},
        {"update": "simultaneous", "seed": 2, "run_id": "c",  # no record yet: no status
         "epochs": None, "parzen": None, "parzen_stderr": None, "selected_epoch": None,
         "wall_time_s": None, "fp32_epochs": 100.0, "fp32_parzen": 161.7,
         "fp32_selected_epoch": 93.0, "fp32_wall_time_s": 2790.0},
    ])
    frame["parzen_diff"] = frame["parzen"] - frame["fp32_parzen"]
    frame["time_ratio"] = frame["wall_time_s"] / frame["fp32_wall_time_s"]
    args = argparse.Namespace(precision="medium", check=False,
                              reference=parity.ROOT / "results" / "paper" / "runs.csv")
    text = parity.readme(frame, args, "python parity.py STORE --no-train")
    assert "Not comparable" not in text
    assert ("Not finished yet (no figure, not in the tests below): simultaneous seed 1 "
            "(running), simultaneous seed 2 (not started).") in text
    assert "nan" not in text
    assert "medium 162.3 (1 seeds)" in text
    # a finished run at another budget is still flagged
    frame.loc[0, "epochs"] = 0.02
    assert "Not comparable" in parity.readme(frame, args, "cmd")


def test_kept_rows_stand_for_runs_the_store_has_no_record_of(parity):
    """--keep: a run with no record takes the earlier output's finished row of the same run
    id; a run the store holds (whatever its state) and a kept row without a figure do not."""
    import argparse

    import pandas as pd

    columns = ["update", "seed", "run_id", "status", "epochs", "parzen", "parzen_stderr",
               "selected_epoch", "wall_time_s", "fp32_epochs", "fp32_parzen",
               "fp32_selected_epoch", "fp32_wall_time_s", "parzen_diff", "time_ratio"]
    blank = dict.fromkeys(columns)
    frame = pd.DataFrame([
        {**blank, "update": "simultaneous", "seed": 0, "run_id": "lost", "fp32_parzen": 161.2},
        {**blank, "update": "alternating", "seed": 0, "run_id": "here", "status": "running"},
        {**blank, "update": "alternating", "seed": 1, "run_id": "never"},
    ], columns=columns)
    earlier = pd.DataFrame([
        {**blank, "update": "simultaneous", "seed": 0, "run_id": "lost", "status": "done",
         "epochs": 100.0, "parzen": 162.3, "parzen_stderr": 1.4, "fp32_epochs": 100.0,
         "fp32_parzen": 161.2, "parzen_diff": 1.1},
        {**blank, "update": "alternating", "seed": 0, "run_id": "here", "status": "done",
         "epochs": 100.0, "parzen": 150.0},  # the store's own record wins
        {**blank, "update": "alternating", "seed": 1, "run_id": "never", "status": "running"},
    ], columns=columns)
    out, taken = parity.keep_rows(frame, earlier)
    assert taken == ["lost"]
    assert out.loc[0, "parzen"] == 162.3 and out.loc[0, "status"] == "done"
    assert out.loc[1, "status"] == "running" and pd.isna(out.loc[1, "parzen"])
    assert pd.isna(out.loc[2, "status"])
    args = argparse.Namespace(precision="medium", check=False, keep=Path("earlier/runs.csv"),
                              reference=parity.ROOT / "results" / "paper" / "runs.csv")
    text = parity.readme(out, args, "cmd", taken)
    assert "Rows taken from `earlier/runs.csv`" in text and "run ids): lost." in text
    assert "alternating seed 0 (running), alternating seed 1 (not started)" in text


def test_the_screen_calls_a_run_collapsed_by_its_stated_rule():
    spec = importlib.util.spec_from_file_location(
        "screen", SCRIPT.parent / "screen.py")
    screen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screen)
    # seed 1 at "medium" (100-epoch study run): -260 and D's loss 3e-6: collapsed
    assert screen.collapsed([-85.0, -56.0, -205.0, -260.0], 3e-6)
    # a run that dipped and recovered (float32 seed 3), and one low but with D not winning
    assert not screen.collapsed([-62.0, -270.0, -16.0], 0.28)
    assert not screen.collapsed([-62.0, -270.0], 0.28)
    assert not screen.collapsed([], 0.0)


@pytest.mark.parametrize("flag", ["--keep", "--reference"])
def test_a_missing_csv_is_one_line_and_exit_2(parity, tmp_path, flag, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        parity.main([str(tmp_path / "store"), "--no-train", "--out", str(out),
                     flag, str(tmp_path / "nope.csv")])
    assert exc.value.code == 2
    assert f"{flag}: no such file: {tmp_path / 'nope.csv'}" in capsys.readouterr().err
    assert not out.exists()
