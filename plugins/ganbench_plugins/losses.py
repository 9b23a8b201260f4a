"""GAN objectives over logits, each a few lines of arithmetic.

A loss object has ``discriminator_loss(real_logits, fake_logits)`` and
``generator_loss(fake_logits)``, scalar tensors to minimise; optionally
``penalty(discriminator, real, fake)`` and ``after_discriminator_step(discriminator)``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


class Minimax:
    """Eq. 1 as written. D ascends log D(x) + log(1 - D(G(z))); G descends log(1 - D(G(z))),
    which saturates when D rejects G's samples confidently."""

    def __init__(self, discriminator_scale: float = 1.0):
        # The original code's D cost was 0.5 [BCE(D(x), 1) + BCE(D(G(z)), 0)]: scale 0.5.
        self.discriminator_scale = discriminator_scale

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        # -log D(x) = softplus(-l); -log(1 - D(G(z))) = softplus(l)
        loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        return self.discriminator_scale * loss

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        # log(1 - sigmoid(l)) = -softplus(l), stable for any l
        return -F.softplus(fake_logits).mean()


class NonSaturating(Minimax):
    """The paper's practical form: G maximises log D(G(z)) (same fixed point, strong gradients)."""

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return F.softplus(-fake_logits).mean()


def minimax(discriminator_scale: float = 1.0) -> Minimax:
    """Eq. 1 exactly (saturating generator loss)."""
    return Minimax(discriminator_scale)


def non_saturating(discriminator_scale: float = 1.0) -> NonSaturating:
    """The non-saturating generator loss, -log D(G(z))."""
    return NonSaturating(discriminator_scale)
