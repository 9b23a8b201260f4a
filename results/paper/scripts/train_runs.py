"""Train chosen runs of the paper preset in this process (one torch thread), as background
jobs did for results/paper: each argument is update:seed:epochs, the same config as
`ganbench reproduce paper --update U --epochs E` for that seed (a longer budget continues the
stored shorter run from its last checkpoint). Usage:
    OMP_NUM_THREADS=1 nohup python results/paper/scripts/train_runs.py STORE simultaneous:0:300 &
"""
import signal
import sys
import time

import torch

# A job started with `nohup ... &` from a script inherits SIGINT ignored; restore it so that
# `kill -INT PID` stops the run cleanly (recorded interrupted, resumed exactly by a rerun).
signal.signal(signal.SIGINT, signal.default_int_handler)
torch.set_num_threads(1)
from ganbench import presets  # noqa: E402
from ganbench.run import train_run  # noqa: E402
from ganbench.store import Store  # noqa: E402

paper = presets.find("paper")  # ganbench_plugins/presets/paper.toml
store = Store(sys.argv[1])
for spec in sys.argv[2:]:
    update, seed, epochs = spec.split(":")
    c = paper.config(update=update, seed=int(seed), epochs=int(epochs))
    t0 = time.time()
    r = train_run(c, store=store, device="cpu")
    print(update, seed, epochs, r["run_id"], r["status"], r.get("extended_from"),
          r.get("parzen_mean"), r.get("selected_step"), r.get("steps"), round(time.time() - t0),
          flush=True)
