"""Diagnostic: how far the paper's Parzen figure of one fixed generator moves with the draw
of its 10,000 samples, and with the validation images that choose sigma.

For each generator and each draw seed s = 0..K-1: 10,000 samples (noise seed s); sigma from
the paper's grid on the first 1,000 validation images (the protocol, as parzen_ll.py) and,
beside it, on all 10,000; the test mean and standard error at each sigma. Then the same for
the real-data reference, with K disjoint sets of 10,000 training images as kernel centres.
Usage: OMP_NUM_THREADS=1 estimator_noise.py OUT.json K GENERATOR.pt [GENERATOR.pt ...]
"""
import json
import sys

import numpy as np
import torch

torch.set_num_threads(1)
from ganbench import plugins  # noqa: E402
from ganbench.parzen import parzen_log_likelihood  # noqa: E402
from ganbench.runner import generate  # noqa: E402
from ganbench.scoring import load_generator  # noqa: E402

out, draws, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
dev = torch.device("cpu")
splits = plugins.load("dataset", "mnist")().splits
valid, test = splits["valid"], splits["test"]


def score(centres):
    row = {}
    for name, v in (("valid1000", valid[:1000]), ("valid10000", valid)):
        r = parzen_log_likelihood(centres, v, test, device=dev)
        row[name] = {"sigma": round(r.sigma, 4), "valid": round(max(r.valid_scores.values()), 2),
                     "test": round(r.mean, 2), "test_se": round(r.stderr, 2)}
    return row


def summary(rows):
    return {k: {"test_mean": round(float(np.mean([r[k]["test"] for r in rows])), 2),
                "test_sd_over_draws": round(float(np.std([r[k]["test"] for r in rows], ddof=1)), 2),
                "valid_sd_over_draws": round(float(np.std([r[k]["valid"] for r in rows], ddof=1)), 2)}
            for k in ("valid1000", "valid10000")}


result = {"draws": draws, "generators": {}}
for path in paths:
    generator, config = load_generator(path, dev)
    rows = []
    for s in range(draws):
        rows.append({"seed": s, **score(generate(generator, config.noise, 10000, seed=s, device=dev))})
        print(path, rows[-1], flush=True)
    result["generators"][path] = {"rows": rows, "summary": summary(rows)}
    json.dump(result, open(out, "w"), indent=1)

rows = []
for s in range(draws):
    rows.append({"train_images": f"{10000 * s}:{10000 * (s + 1)}",
                 **score(splits["train"][10000 * s: 10000 * (s + 1)])})
    print("real", rows[-1], flush=True)
result["real_data"] = {"rows": rows, "summary": summary(rows)}
json.dump(result, open(out, "w"), indent=1)
print(json.dumps({k: v["summary"] for k, v in result["generators"].items()}, indent=1))
print(json.dumps(result["real_data"]["summary"], indent=1))
