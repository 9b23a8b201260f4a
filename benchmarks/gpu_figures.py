"""The GPU figures of ``benchmarks/gpu_check.sh`` (issue 20, item 6), appended to a markdown
file: the Parzen estimator at MNIST size (target under 0.2 s), an epoch of the paper's
networks at each matmul precision (both update modes, ganbench and the bare loop), and, with
two GPUs or more, whether the local executor keeps every GPU busy. Without CUDA it says so
and measures nothing (exit status 0: the CPU parts of the check ran).

    python benchmarks/gpu_figures.py results/gpu/figures.md [--skip-multi-gpu]
    python benchmarks/gpu_figures.py /tmp/f.md --try-on-cpu   # the same code, tiny, on the CPU

``--try-on-cpu`` runs every part on the CPU at a tiny size (a check of this script where no
GPU is, its figures meaningless; the multi-GPU part as two CPU workers).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import loops  # noqa: E402
from ganbench import compute  # noqa: E402

EPOCH = 500  # steps of one epoch (50,000 images, batch 100), either update mode
TRY = {"device": "cuda", "scale": 1}  # --try-on-cpu: cpu, and sizes divided by 100


def _sync() -> None:
    if TRY["device"] == "cuda":
        torch.cuda.synchronize()


def parzen_time() -> list[str]:
    from ganbench.parzen import parzen_log_likelihood

    g, dev = torch.Generator().manual_seed(0), TRY["device"]
    samples, valid, test = (torch.rand(n // TRY["scale"], 784, generator=g).to(dev)
                            for n in (10_000, 1_000, 10_000))
    parzen_log_likelihood(samples, valid, test, device=dev)  # warm-up
    seconds = []
    for _ in range(5):
        _sync()
        started = time.perf_counter()
        result = parzen_log_likelihood(samples, valid, test, device=dev)
        _sync()
        seconds.append(time.perf_counter() - started)
    verdict = "meets" if min(seconds) < 0.2 else "MISSES"
    return [f"- Parzen, MNIST-sized (10,000 samples x 784, 1,000 validation points x 10 sigmas, "
            f"10,000 test points): min {min(seconds):.3f} s, median "
            f"{statistics.median(seconds):.3f} s over 5 ({verdict} the 0.2 s target; "
            f"log-likelihood {result.mean:.2f})"]


def paper_epochs() -> list[str]:
    lines = ["", "| update | loop | precision | s per epoch (500 steps) | ms per step |",
             "|---|---|---|---|---|"]
    for update in ("simultaneous", "alternating"):
        for precision in compute.PRECISIONS:
            exp = loops.paper_experiment(update, matmul_precision=precision)
            runs = [("ganbench", loops.ganbench_loop)]
            if update == "alternating":
                runs.append(("bare", loops.bare_loop))
            steps = EPOCH // TRY["scale"]
            for name, loop in runs:
                loop(exp, max(1, 20 // TRY["scale"]), TRY["device"])  # warm-up
                seconds = min(loop(exp, steps, TRY["device"]) for _ in range(2))
                lines.append(f"| {update} | {name} | {precision} | "
                             f"{seconds * EPOCH / steps:.2f} | {seconds / steps * 1e3:.2f} |")
    return lines


class Utilisation(threading.Thread):
    """Samples each GPU's utilisation (nvidia-smi) every half second until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: dict[int, list[int]] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=index,utilization.gpu",
                     "--format=csv,noheader,nounits"], capture_output=True, text=True,
                    timeout=10).stdout
            except (OSError, subprocess.TimeoutExpired):
                return
            for line in out.strip().splitlines():
                index, util = (int(v) for v in line.split(","))
                self.samples.setdefault(index, []).append(util)
            self.stopping.wait(0.5)


def multi_gpu(n: int) -> list[str]:
    from ganbench.executors import run_many
    from ganbench.store import Store

    configs = []
    for seed in range(2 * n):  # two runs per GPU, one after the other on each
        config = loops.paper_config("simultaneous", steps=3000 // TRY["scale"])
        config.seed = seed
        configs.append(config)
    watch = Utilisation()
    with tempfile.TemporaryDirectory(prefix="ganbench-gpu-check-") as root:
        watch.start()
        started = time.perf_counter()
        devices = ["cpu"] if TRY["device"] == "cpu" else None  # None: every visible GPU
        records = run_many(configs, store=Store(root), quiet=True, devices=devices,
                           workers=n if devices else None)
        seconds = time.perf_counter() - started
        watch.stopping.set()
        watch.join()
    per_device: dict[str, int] = {}
    for r in records:
        per_device[r.get("device")] = per_device.get(r.get("device"), 0) + 1
    lines = [f"- local executor, {len(configs)} paper-sized runs (3,000 steps each, scoring "
             f"off) on {n} GPUs: {seconds:.0f} s; runs per device {per_device}; statuses "
             f"{sorted({r.get('status') for r in records})}"]
    for index, utils in sorted(watch.samples.items()):
        busy = sum(u > 0 for u in utils) / max(len(utils), 1)
        lines.append(f"  - GPU {index}: busy in {busy:.0%} of {len(utils)} samples, mean "
                     f"utilisation {statistics.mean(utils):.0f}%")
    if not watch.samples:
        lines.append("  - no utilisation samples (nvidia-smi not found)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--skip-multi-gpu", action="store_true")
    parser.add_argument("--try-on-cpu", action="store_true")
    args = parser.parse_args()
    lines: list[str] = []
    if args.try_on_cpu:
        TRY.update(device="cpu", scale=100)
        torch.set_num_threads(1)
        lines.append("- TRIED ON THE CPU at 1/100 of the sizes: a check of the script, no figure")
        lines += parzen_time() + paper_epochs() + [""] + multi_gpu(2)
    elif not torch.cuda.is_available():
        lines.append("- no CUDA device: no GPU figure measured (the CPU parts of the check ran)")
    else:
        torch.set_num_threads(1)
        n = torch.cuda.device_count()
        lines.append(f"- devices: {n} x {torch.cuda.get_device_name(0)}, torch "
                     f"{torch.__version__}, CUDA {torch.version.cuda}")
        lines += parzen_time()
        lines += ["", "Paper-MNIST networks, one epoch on cuda:0 at each "
                  "`train.matmul_precision` (torch's: \"high\" and \"medium\" are TF32 "
                  "products on CUDA):"]
        lines += paper_epochs()
        lines.append("")
        if n >= 2 and not args.skip_multi_gpu:
            lines += multi_gpu(n)
        else:
            lines.append(f"- multi-GPU check: {n} GPU visible; it needs 2 or more")
    text = "\n".join(lines) + "\n"
    with args.out.open("a", encoding="utf-8") as f:
        f.write(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
