"""Early-collapse screen (a diagnostic beside the parity study, not part of it): the paper
preset with Algorithm 1 (alternating update) trained for a few epochs at each matmul
precision, to see which seeds' generators collapse early (D wins; validation Parzen falls
far below a random generator's and stays there). One torch thread, in this process; runs
the store lacks are trained (a rerun reads them), then screen.csv and README.md are written
in --out.

    python results/precision/scripts/screen.py STORE --epochs 15 --seeds 1 3 4 5 \\
        --precision medium highest --out results/precision/screen

A run counts as "collapsed at the end" when its last validation Parzen is below -150 nats
and D's last logged loss below 0.01 (a random generator starts near -100; the healthy runs
of the study pass 0 by epoch 15 or soon after, and D's loss stays near 0.3-0.7). Runs of a few
epochs are not comparable with the study's 100-epoch runs, and a collapsed generator may
still recover later (one that is still collapsed at epoch 100 is in the study).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
COLLAPSED_PARZEN, COLLAPSED_D_LOSS = -150.0, 0.01


def collapsed(valid: list[float], d_loss: float) -> bool:
    return bool(valid) and valid[-1] < COLLAPSED_PARZEN and d_loss < COLLAPSED_D_LOSS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--epochs", type=float, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 3, 4, 5])
    parser.add_argument("--precision", nargs="+", default=["medium", "highest"],
                        choices=["highest", "high", "medium"])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "precision" / "screen")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch
    from parity import _commit, _cpu  # the study's provenance helpers, beside this script

    torch.set_num_threads(1)
    from ganbench import presets
    from ganbench.run import train_run
    from ganbench.store import Store

    paper = presets.find("paper")
    store = Store(args.store)
    rows = []
    for seed in args.seeds:
        for precision in args.precision:
            config = paper.config(update="alternating", seed=seed, epochs=args.epochs)
            config.train["matmul_precision"] = precision
            config.score["metrics"] = ["parzen"]
            record = train_run(config, store=store, device="cpu")
            folder = store.root / record["run_id"]
            last = (folder / "losses.csv").read_text().strip().splitlines()[-1].split(",")
            history = json.loads((folder / "selection.json").read_text())["history"]
            valid = [h["parzen_valid"] for h in history]
            d_loss, g_loss = float(last[1]), float(last[2])
            rows.append({"seed": seed, "precision": precision, "run_id": record["run_id"],
                         "status": record["status"], "steps": int(last[0]), "d_loss": d_loss,
                         "g_loss": g_loss, "valid_last": valid[-1] if valid else None,
                         "collapsed": collapsed(valid, d_loss),
                         "valid_by_epoch": " ".join(f"{v:.0f}" for v in valid),
                         "wall_time_s": record.get("wall_time")})
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "screen.csv", index=False)
    lines = [
        f"# Early-collapse screen: Algorithm 1, {args.epochs:g} epochs, seeds "
        f"{', '.join(map(str, args.seeds))}", "",
        "A diagnostic beside the parity study (not part of it): the paper preset with the "
        "alternating update, trained at each matmul precision; per run D's and G's last "
        "logged losses and the validation Parzen (nats, 1,000 validation images) after "
        "every epoch. \"collapsed\": the last validation Parzen below "
        f"{COLLAPSED_PARZEN:g} and D's last loss below {COLLAPSED_D_LOSS:g}. Not comparable "
        "with the study's 100-epoch runs; a collapsed generator may still recover later.", "",
        "| seed | precision | collapsed | D loss | G loss | validation Parzen by epoch |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['precision']} | {'yes' if r['collapsed'] else 'no'} "
                     f"| {r['d_loss']:.2g} | {r['g_loss']:.2f} | {r['valid_by_epoch']} |")
    counts = frame.groupby("precision", sort=False)["collapsed"].agg(["sum", "count"])
    lines += ["", "Collapsed at the end: " + "; ".join(
        f"{p}: {int(c['sum'])} of {int(c['count'])}" for p, c in counts.iterrows()) + ".", "",
        "Command: `python " + " ".join([str(Path(sys.argv[0]))] + (argv or sys.argv[1:])) + "`",
        f"Machine: {platform.node()} ({_cpu()}), Python "
        f"{platform.python_version()}; code at {_commit()}.", ""]
    (args.out / "README.md").write_text("\n".join(lines))
    print((args.out / "README.md").read_text())


if __name__ == "__main__":
    main()
