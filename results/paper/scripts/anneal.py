"""Diagnostic (not the paper protocol): continue a stored paper run from its checkpoint with
constant learning rates in stages (momentum as scheduled) and score G on the validation
split after every EVERY epochs (the checkpoint-selection estimator: 10,000 samples, the first
1,000 validation images, sigma from the paper's grid). With --test, the generator at the end
is also scored with the paper's whole protocol (sigma chosen on those validation images, mean
and standard error over the 10,000 test images), as the test figure that annealing reaches.
Usage: anneal.py STORE RUN_ID EVERY OUT.json LR:EPOCHS [LR:EPOCHS ...] [--test]"""
import json
import sys

import torch

torch.set_num_threads(1)
from ganbench import runner  # noqa: E402
from ganbench.config import RunConfig  # noqa: E402
from ganbench.parzen import (  # noqa: E402
    DEFAULT_SIGMAS,
    parzen_log_density,
    parzen_log_likelihood,
)
from ganbench.store import load_checkpoint  # noqa: E402

store, run_id, every, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with_test = "--test" in sys.argv[5:]
stage_args = [a for a in sys.argv[5:] if a != "--test"]
stages = [(float(a), int(b)) for a, b in (s.split(":") for s in stage_args)]
folder = f"{store}/{run_id}"
config = RunConfig.from_dict(json.load(open(f"{folder}/config.json")))
exp = runner.prepare(config)
dev = torch.device("cpu")
t = runner._make_trainer(exp, dev)
t.load_state_dict(load_checkpoint(f"{folder}/checkpoint.pt"))
start = t.step
t.opt = dict(t.opt, lr_decay=1.0)
valid = exp.dataset.splits["valid"][:1000]
rows = []
def score(tr, lr):
    s = runner.generate(tr.G, config.noise, 10000, seed=config.seed + 3, device=dev)
    m = parzen_log_density(valid, s, DEFAULT_SIGMAS, device=dev).mean(dim=1)
    b = int(m.argmax())
    rows.append({"epoch": tr.batches / 500, "lr": lr, "parzen_valid": round(float(m[b]), 2),
                 "sigma": round(float(DEFAULT_SIGMAS[b]), 4)})
    print(rows[-1], flush=True)
    dump()


def dump(**extra):
    json.dump({"run_id": run_id, "from_epoch": start / 500, "stages": stage_args, "rows": rows,
               **extra}, open(out, "w"), indent=1)


score(t, None)
for lr, epochs in stages:
    t.lr_d0 = t.lr_g0 = lr
    t.schedule.iterations = t.step + epochs * 500
    t.schedule.checkpoint_every = every * 500
    t.run(on_checkpoint=lambda tr, lr=lr: score(tr, lr))
if with_test:
    s = runner.generate(t.G, config.noise, 10000, seed=config.seed + 3, device=dev)
    r = parzen_log_likelihood(s, valid, exp.dataset.splits["test"], device=dev)
    test = {"epoch": t.batches / 500, "parzen_test": round(r.mean, 2),
            "stderr": round(r.stderr, 2), "sigma": round(r.sigma, 4)}
    print(test, flush=True)
    dump(test=test)
