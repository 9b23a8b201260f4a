"""Issue 22's verdict, from the committed tables only (no number typed in but the paper's):
the plateau of the original configuration (simultaneous update) against the paper's 225 +- 2,
and the two update modes against each other at 300 epochs. Writes results/paper/verdict.md.

    .venv/bin/python results/paper/scripts/verdict.py

Plateau: each seed's last stage (its final budget; a seed without a plateau stage is listed
as missing). The paper's 225 is one run; ours are n runs of the same configuration, scored on
the same 10,000 test images. The test: is 225 a plausible value for one more run of ours?
Prediction t-test: t = (225 - mean) / (sd sqrt(1 + 1/n)), n - 1 degrees of freedom, with sd
the seeds' spread (which the paper's run carries too, though its +- 2 does not say so); the
test-image errors (the paper's +- 2 and each of ours, about 2.2) are left out, as the same
images make them largely common to both figures. As a sensitivity check, the other extreme:
every error counted as independent (the paper's 2, our test-image error, the seeds' sd^2/n),
z = (225 - mean) / sqrt(...), normal p. With two or three seeds the sd is itself uncertain,
which the t-test's few degrees of freedom carry. Between the modes at 300 epochs: Welch's
t-test on the seeds' test scores (scipy.stats.ttest_ind, equal_var=False).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
PAPER, PAPER_SE = 225.0, 2.0  # Table 1, MNIST, adversarial nets
# The committed tables that hold each seed's final stage, and those of the 300-epoch stage.
PLATEAU = {("simultaneous", 0): "epochs1950", ("simultaneous", 1): "epochs1500",
           ("simultaneous", 2): None}  # seed 2: being retrained (store lost twice)
AT_300 = ["epochs300", "restarted/epochs300", "rerun-2026-12-04/epochs300"]


def rows(folder: str) -> list[dict[str, str]]:
    with open(ROOT / folder / "runs.csv") as f:
        return [r for r in csv.DictReader(f) if r["status"] == "done"]


def plateau() -> tuple[list[str], list[tuple[int, float, float, str]]]:
    found = []
    for (update, seed), folder in PLATEAU.items():
        if folder is None:
            continue
        [row] = [r for r in rows(folder) if r["update"] == update and int(r["seed"]) == seed]
        found.append((seed, float(row["parzen_mean"]), float(row["parzen_stderr"]), folder))
    values = [v for _, v, _, _ in found]
    n = len(values)
    mean = sum(values) / n
    lines = [f"| simultaneous seed {s} | {v:.1f} +- {e:.1f} | `{f}/` |" for s, v, e, f in found]
    text = ["## The plateau against 225 +- 2", "",
            "| run | test Parzen (nats) | table |", "|---|---|---|", *lines, ""]
    missing = [s for (u, s), f in PLATEAU.items() if f is None]
    if n < 2:
        text.append(f"One seed ({mean:.1f}): no seed spread to test with.")
    else:
        sd = stats.tstd(values)
        t = (PAPER - mean) / (sd * math.sqrt(1 + 1 / n))
        p_t = 2 * stats.t.sf(abs(t), df=n - 1)
        test_se = math.sqrt(sum(s * s for _, _, s, _ in found) / n)
        z = (PAPER - mean) / math.sqrt(PAPER_SE**2 + test_se**2 + sd**2 / n)
        p_z = 2 * stats.norm.sf(abs(z))
        text.append(
            f"Mean of {n} seeds **{mean:.1f}**, seed sd {sd:.1f}: {PAPER - mean:.1f} nats below "
            f"the paper's {PAPER:.0f} +- {PAPER_SE:.0f}. Prediction t-test (225 as one more run "
            f"of ours): t = {t:.2f}, {n - 1} degree(s) of freedom, two-sided p = {p_t:.2f}. "
            f"Every error independent (the paper's {PAPER_SE:.0f}, our test images' "
            f"{test_se:.1f}, the seeds' {sd / math.sqrt(n):.1f}): z = {z:.2f}, p = {p_z:.2f}.")
        if max(p_t, p_z) < 0.05:
            text.append(f"So: the paper's figure is **not reproduced**: {PAPER - mean:.1f} nats "
                        f"below it, significant at the 5% level either way.")
        elif min(p_t, p_z) >= 0.05:
            text.append(f"So: the paper's figure is **not reached** (our mean is "
                        f"{PAPER - mean:.1f} nats below it), but the gap is **not significant** "
                        f"at the 5% level either way: 225 is not ruled out.")
        else:
            text.append("So: the verdict depends on how the errors are counted (one test "
                        "below 0.05, the other not): not settled.")
    if missing:
        text.append(f"Missing at the plateau: simultaneous seed(s) {missing} (in training).")
    return text, found


def modes_at_300() -> list[str]:
    by_mode: dict[str, dict[int, float]] = {"simultaneous": {}, "alternating": {}}
    for folder in AT_300:
        for r in rows(folder):
            if int(float(r["epochs"])) == 300:
                by_mode[r["update"]][int(r["seed"])] = float(r["parzen_mean"])
    sim, alt = (list(by_mode[m].values()) for m in ("simultaneous", "alternating"))
    t = stats.ttest_ind(sim, alt, equal_var=False)
    fmt = ", ".join

    return [
        "## The two update modes at 300 epochs", "",
        f"Simultaneous (the original code), seeds {sorted(by_mode['simultaneous'])}: "
        f"{fmt(f'{v:.1f}' for v in sim)}, mean {sum(sim) / len(sim):.1f} "
        f"(sd {stats.tstd(sim):.1f}). Algorithm 1 (k = 1), seeds "
        f"{sorted(by_mode['alternating'])}: {fmt(f'{v:.1f}' for v in alt)}, mean "
        f"{sum(alt) / len(alt):.1f} (sd {stats.tstd(alt):.1f}). Welch's t = "
        f"{t.statistic:.2f}, p = {t.pvalue:.2f}: no difference between the modes is "
        f"detected{' ' if t.pvalue >= 0.05 else ' (p < 0.05: a difference) '}at these "
        f"numbers of seeds.",
    ]


def explanations() -> list[str]:
    import json

    noise = json.loads((ROOT / "diagnostics" / "estimator-noise.json").read_text())
    spreads = []
    for name, entry in noise["generators"].items():
        tests = [row["valid1000"]["test"] for row in entry["rows"]]
        spreads.append(f"{stats.tstd(tests):.1f} (`{name.split('results/paper/')[-1]}`)")
    lr_1500 = 0.1 * 1.000004 ** -(1500 * 500)  # the original schedule, 500 steps per epoch
    return [
        "## What could explain the gap", "",
        f"- The draw of samples: the test figure of one generator moves between draws of its "
        f"{noise['draws']} sample sets with sd {', '.join(spreads)} (`diagnostics/estimator-noise.json`); "
        f"a single reported figure, the paper's included, carries that much besides its "
        f"+- over test images.",
        "- The paper's selection rule and budget are unknown: the original code records no "
        "stopping epoch; here each run's checkpoint is the best on validation, never on test.",
        f"- The original schedule keeps the learning rate high: {lr_1500:.4f} at epoch 1500; "
        "annealing it (a diagnostic, not the protocol: results/paper/README.md) lifts the "
        "plateau by a few nats, so longer training or a schedule the paper does not state "
        "could close part of the gap.",
    ]


def main() -> None:
    text, _ = plateau()
    out = ["# Table 1 on MNIST: the verdict so far (`results/paper/scripts/verdict.py`)", "",
           *text, "", *modes_at_300(), "", *explanations(), ""]
    (ROOT / "verdict.md").write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
