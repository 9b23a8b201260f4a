"""Every random stream of a run, in one table.

A run with seed ``s`` draws each stream from its own generator seeded with ``s + offset``,
so that resuming, re-scoring and drawing pictures never disturb one another and a result can
be reproduced stream by stream. The offsets are part of every stored result: changing one
changes the numbers of every run, so add new streams at new offsets, never renumber.
"""

from __future__ import annotations

SEEDS: dict[str, int] = {
    "init": 0,  # the models' initialisation (torch.manual_seed before the factories run)
    "data": 0,  # the order of the training minibatches (train.MinibatchSampler)
    "noise": 1,  # the noise prior during training
    "dropout": 2,  # torch's global stream during training (dropout and any plugin randomness)
    "score": 3,  # the samples a generator is scored with: final score, selection, re-scores
    "samples": 4,  # samples.png in the run folder
    "figure": 5,  # the paper's Figure 2 (samples beside their nearest training image)
}


def seed_for(run_seed: int, stream: str) -> int:
    """The seed of ``stream`` for a run with seed ``run_seed``."""
    try:
        return run_seed + SEEDS[stream]
    except KeyError:
        raise KeyError(f"unknown random stream {stream!r}; streams: {', '.join(SEEDS)}") from None
