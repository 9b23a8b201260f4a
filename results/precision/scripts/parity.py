"""Parity study (issue 20, item 3): the paper preset trained with
``train.matmul_precision = "medium"`` against the committed float32 ("highest") runs of the
same preset, update mode and seed (results/paper/runs.csv: 100 epochs, both update modes,
seeds 0-2). Trains what the store lacks (the local executor; a rerun resumes), then writes
README.md and runs.csv in --out (default results/precision/study/): each run's test Parzen,
selected epoch and training time beside its float32 twin, and per update mode a Welch t-test
of the seeds' Parzen means, a paired t-test by seed and the verdict (``verdict``).

    # the study (hours: 6 runs of 100 epochs on one CPU thread each)
    python results/precision/scripts/parity.py STORE --workers 1   # STORE: a folder of yours
    # a check of the script end to end (minutes; not comparable to the reference's budget)
    python results/precision/scripts/parity.py /tmp/parity-store --epochs 0.02 --check \\
        --seeds 0 --update simultaneous --out /tmp/parity-out

Options: --precision (default medium), --update both|simultaneous|alternating, --seeds,
--epochs (default 100, the reference's budget), --reference (another runs.csv), --keep (an
earlier runs.csv of this script: its rows stand for runs the store has no record of, e.g.
when the store they were trained in is gone; the README names them).
"""

from __future__ import annotations

import argparse
import math
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[3]
PER_EPOCH = 500  # 50,000 training images / batch 100


def configs(precision: str, updates: list[str], seeds: list[int], epochs: float,
            check: bool = False):
    """The paper preset's runs at ``precision``; ``check``: scored on fewer samples and test
    points, Parzen only (a check of the script: other run ids, nothing comparable)."""
    from ganbench import presets

    paper = presets.find("paper")
    out = []
    for update in updates:
        for seed in seeds:
            config = paper.config(update=update, seed=seed, epochs=epochs)
            config.train["matmul_precision"] = precision
            if check:
                config.score.update(n_samples=1000, n_valid=200, n_test=500, metrics=["parzen"])
            out.append(config)
    return out


def welch(mine: list[float], theirs: list[float]) -> str:
    if len(mine) < 2 or len(theirs) < 2:
        return "n/a (fewer than 2 seeds on a side)"
    t, p = stats.ttest_ind(mine, theirs, equal_var=False)
    return f"t = {t:.2f}, p = {p:.2f}"


def verdict(mine: list[float], theirs: list[float], diffs: list[float]) -> str:
    """The parity verdict of one update mode, by a stated rule: "within seed noise" when
    neither Welch's test (the seeds as independent samples) nor the paired t-test (each seed
    against its float32 twin: the same initialisation and data order) rejects at 0.05 and
    the mean difference is at most the float32 seeds' standard deviation (the seed noise);
    else "not within seed noise". ``diffs``: the paired differences, mine - theirs."""
    if len(mine) < 2 or len(theirs) < 2:
        return "no verdict (fewer than 2 seeds on a side)"
    welch_p = float(stats.ttest_ind(mine, theirs, equal_var=False).pvalue)
    noise = float(pd.Series(theirs).std(ddof=1))
    diff = sum(mine) / len(mine) - sum(theirs) / len(theirs)
    words = [f"mean difference {diff:+.1f} nats against a float32 seed sd of {noise:.1f}",
             f"Welch p = {welch_p:.2f}"]
    paired_p = math.nan
    if len(diffs) >= 2:
        paired_p = float(stats.ttest_1samp(diffs, 0.0).pvalue)
        words.append(f"paired t-test over {len(diffs)} seeds p = {paired_p:.2f}")
    within = welch_p >= 0.05 and not paired_p < 0.05 and abs(diff) <= noise
    return f"{'within' if within else 'not within'} seed noise ({'; '.join(words)})"


def _epoch(step) -> float | None:
    return None if step is None or (isinstance(step, float) and math.isnan(step)) \
        else round(step / PER_EPOCH, 2)


def table(records: list[dict], cfgs, reference: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for config, r in zip(cfgs, records):
        update, seed = config.train["update"], config.seed
        twin = reference[(reference["update"] == update) & (reference["seed"] == seed)]
        ref = twin.iloc[0].to_dict() if len(twin) else {}
        rows.append({
            "update": update, "seed": seed, "run_id": r.get("run_id"),
            "status": r.get("status"), "epochs": r.get("epochs"),
            "parzen": r.get("parzen_mean"), "parzen_stderr": r.get("parzen_stderr"),
            "selected_epoch": _epoch(r.get("selected_step")),
            "wall_time_s": r.get("wall_time"), "threads": r.get("threads"),
            "fp32_run_id": ref.get("run_id"), "fp32_epochs": ref.get("epochs"),
            "fp32_parzen": ref.get("parzen_mean"),
            "fp32_selected_epoch": _epoch(ref.get("selected_step")),
            "fp32_wall_time_s": ref.get("wall_time"),
        })
    frame = pd.DataFrame(rows)
    frame["parzen_diff"] = frame["parzen"] - frame["fp32_parzen"]
    frame["time_ratio"] = frame["wall_time_s"] / frame["fp32_wall_time_s"]
    return frame


def keep_rows(frame: pd.DataFrame, kept: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with each row that has no record (no status) replaced by ``kept``'s row of
    the same run id, if that one is finished (a Parzen figure); returns the run ids taken."""
    taken = []
    rows = []
    for _, row in frame.iterrows():
        status = row.get("status")
        match = kept[kept["run_id"] == row["run_id"]]
        if not (isinstance(status, str) and status) and len(match) \
                and pd.notna(match.iloc[0]["parzen"]):
            rows.append(match.iloc[0][frame.columns].to_dict())
            taken.append(row["run_id"])
        else:
            rows.append(row.to_dict())
    return pd.DataFrame(rows, columns=frame.columns), taken


def _fmt(x, digits=1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _status(status) -> str:
    """A pending run's status as words: a run with no record (absent, None or NaN in the
    frame) is "not started"."""
    return status if isinstance(status, str) and status else "not started"


def readme(frame: pd.DataFrame, args, command: str, kept: list[str] = ()) -> str:
    finished = frame[frame["parzen"].notna()]  # runs still training are listed, not judged
    comparable = not args.check and all(finished["epochs"] == finished["fp32_epochs"].fillna(-2))
    lines = [
        f"# Matmul precision parity: \"{args.precision}\" against float32 (\"highest\")",
        "",
        f"The paper preset trained with `train.matmul_precision = \"{args.precision}\"` "
        f"(torch's float32 matmul precision, during training only; every score in full "
        f"float32), against the committed float32 runs of the same update mode and seed "
        f"(`{args.reference.relative_to(ROOT) if args.reference.is_relative_to(ROOT) else args.reference}`).",
        "",
    ]
    if not comparable:
        lines += ["**Not comparable: these runs' budget differs from the reference runs' "
                  "(a check of the script, not the study).**", ""]
    lines += [
        "| update | seed | Parzen (test) | selected epoch | training s | float32 Parzen | "
        "float32 selected epoch | float32 training s | Parzen diff | time ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in frame.iterrows():
        parzen = (f"{r['parzen']:.1f} +- {r['parzen_stderr']:.1f}"
                  if isinstance(r["parzen"], float) and not math.isnan(r["parzen"]) else "-")
        lines.append(
            f"| {r['update']} | {r['seed']} | {parzen} | {_fmt(r['selected_epoch'])} | "
            f"{_fmt(r['wall_time_s'], 0)} | {_fmt(r['fp32_parzen'])} | "
            f"{_fmt(r['fp32_selected_epoch'])} | {_fmt(r['fp32_wall_time_s'], 0)} | "
            f"{_fmt(r['parzen_diff'])} | {_fmt(r['time_ratio'], 2)} |")
    pending = frame[frame["parzen"].isna()]
    if len(pending):
        lines += ["", "Not finished yet (no figure, not in the tests below): " + ", ".join(
            f"{r['update']} seed {r['seed']} ({_status(r['status'])})"
            for _, r in pending.iterrows()) + "."]
    if kept:
        lines += ["", f"Rows taken from `{args.keep}` (an earlier output of this script), as "
                  "the store holds no record of these runs (the store they were trained in "
                  "is gone; same configs, same run ids): " + ", ".join(kept) + "."]
    lines += ["", "Welch t-test of the seeds' test Parzen means, per update mode:", ""]
    for update, group in frame.groupby("update", sort=False):
        mine = group["parzen"].dropna().tolist()
        theirs = group["fp32_parzen"].dropna().tolist()
        mean = lambda v: f"{sum(v) / len(v):.1f}" if v else "-"  # noqa: E731
        pairs = group.dropna(subset=["parzen", "fp32_parzen"])
        lines.append(f"- {update}: {args.precision} {mean(mine)} ({len(mine)} seeds) vs "
                     f"float32 {mean(theirs)} ({len(theirs)} seeds): {welch(mine, theirs)}; "
                     f"**verdict: {verdict(mine, theirs, pairs['parzen_diff'].tolist())}**")
    lines += ["", "The verdict's rule (`verdict` in the script): within seed noise when "
              "neither Welch's test nor the paired t-test (each seed against its float32 twin, "
              "which shares its initialisation and data order) rejects at 0.05 and the mean "
              "difference is at most the float32 seeds' standard deviation. With 3 seeds this "
              "cannot show equality, only that any difference is of the order of the seed "
              "noise or smaller."]
    lines += [
        "",
        "Training times are each run's own record (`wall_time`); the float32 runs were "
        "trained on the project's 2-core AMD EPYC VMs (2026-11/12), often beside other jobs, "
        "so their times vary by 2.7x among themselves, and these runs on the machine named "
        "below, which may be another CPU: the ratio is a rough guide, "
        "`benchmarks/test_bench_precision.py` on one machine the controlled measurement.",
        "",
        f"Command: `{command}`",
        f"Machine: {platform.node()} ({_cpu()}), "
        f"Python {platform.python_version()}; code at {_commit()}.",
        "",
    ]
    return "\n".join(lines)


def _cpu() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {platform.machine()}"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--precision", default="medium", choices=["highest", "high", "medium"])
    parser.add_argument("--update", default="both",
                        choices=["both", "simultaneous", "alternating"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=float, default=100)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "precision" / "study")
    parser.add_argument("--reference", type=Path, default=ROOT / "results" / "paper" / "runs.csv")
    parser.add_argument("--keep", type=Path, default=None,
                        help="An earlier runs.csv of this script: its finished rows stand for "
                             "runs the store has no record of.")
    parser.add_argument("--no-train", action="store_true", help="Tables from the store as it is.")
    parser.add_argument("--check", action="store_true",
                        help="Score cheaply (1,000 samples, 500 test points, Parzen only): a "
                             "check of the script, not the study.")
    args = parser.parse_args(argv)
    for name in ("reference", "keep"):
        path = getattr(args, name)
        if path is not None and not path.is_file():
            parser.error(f"--{name}: no such file: {path}")
    from ganbench.executors import run_many
    from ganbench.store import Store

    updates = ["simultaneous", "alternating"] if args.update == "both" else [args.update]
    cfgs = configs(args.precision, updates, args.seeds, args.epochs, check=args.check)
    store = Store(args.store)
    if args.no_train:
        from ganbench.config import resolve

        records = [store.read_record(resolve(c).run_id) or {"run_id": resolve(c).run_id}
                   for c in cfgs]
    else:
        records = run_many(cfgs, store=store, workers=args.workers, quiet=False)
    reference = pd.read_csv(args.reference, dtype={"run_id": str})
    frame = table(records, cfgs, reference)
    kept: list[str] = []
    if args.keep is not None:
        frame, kept = keep_rows(frame, pd.read_csv(args.keep, dtype={"run_id": str}))
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "runs.csv", index=False)
    command = "python " + " ".join([str(Path(sys.argv[0]))] + (argv or sys.argv[1:]))
    (args.out / "README.md").write_text(readme(frame, args, command, kept))
    print((args.out / "README.md").read_text())


if __name__ == "__main__":
    main()
