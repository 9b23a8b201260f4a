"""A ganbench metric plugin: the distance between the samples' mean and the real examples'
mean, and the ratio of their spreads. It imports nothing from ganbench."""

import torch


class Moments:
    higher_is_better = {"moments": False}  # std_ratio is best at 1: it does not rank

    def __init__(self, n_real: int = 10000):
        if n_real < 2:
            raise ValueError(f"n_real must be at least 2, got {n_real}")
        self.n_real = n_real

    def applies_to(self, dataset):
        """None: it applies to any dataset (a reason string would decline one)."""
        return None

    def settings(self):
        return {"n_real": self.n_real}

    def compute(self, samples, dataset):
        real = dataset.splits["test"][: self.n_real].to(samples.device).flatten(1).double()
        fake = samples.flatten(1).double()
        distance = torch.linalg.vector_norm(fake.mean(0) - real.mean(0))
        ratio = fake.std(0).mean() / real.std(0).mean()
        return {"moments": float(distance), "std_ratio": float(ratio)}


def moments(n_real: int = 10000) -> Moments:
    return Moments(n_real=n_real)
