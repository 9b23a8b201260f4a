"""One-sided label smoothing (Salimans et al. 2016, "Improved techniques for training GANs").

The discriminator's target for real data is ``real_label`` (0.9) instead of 1, which keeps it
from growing overconfident; fakes keep the target 0, and the generator the non-saturating
loss -log D(G(z)). A ganbench loss plugin needs no ganbench import: just these two methods.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


class LabelSmoothing:
    def __init__(self, real_label: float = 0.9):
        if not 0.5 < real_label <= 1:
            raise ValueError(f"real_label must be in (0.5, 1], got {real_label!r}")
        self.real_label = float(real_label)

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        # cross-entropy with target t over logits l: t softplus(-l) + (1 - t) softplus(l)
        t = self.real_label
        real = t * F.softplus(-real_logits) + (1 - t) * F.softplus(real_logits)
        return real.mean() + F.softplus(fake_logits).mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return F.softplus(-fake_logits).mean()


def label_smoothing(real_label: float = 0.9) -> LabelSmoothing:
    """The non-saturating GAN loss with D's real target smoothed to ``real_label``."""
    return LabelSmoothing(real_label)
