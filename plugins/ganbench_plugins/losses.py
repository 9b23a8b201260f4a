"""GAN objectives over logits, each a few lines of arithmetic.

A loss object has ``discriminator_loss(real_logits, fake_logits)`` and
``generator_loss(fake_logits)``, scalar tensors to minimise, over logits of shape ``(N,)``;
optionally ``penalty(discriminator, real, fake)``, added to D's loss (called with the D module
and the real and (detached) fake data batches), and ``after_discriminator_step(discriminator)``,
called after every D optimizer step.

Extension for losses whose generator objective needs D's opinion of real data (the
relativistic ones): such a loss sets the attribute ``needs_real_for_generator = True`` and its
generator loss has the signature ``generator_loss(fake_logits, real_logits=None)``. A trainer
that finds the attribute true calls ``generator_loss(fake_logits, real_logits=D(real))`` with a
fresh real minibatch (no gradient needed through it); without the attribute it calls
``generator_loss(fake_logits)`` as the plain contract says.

Every loss here also takes ``r1_gamma`` (default 0, off): the R1 regulariser of Mescheder et
al. (2018), ``r1_gamma / 2 * E ||grad_x D(x_real)||^2``, given through ``penalty``. It is an
option rather than a plugin of its own because it regularises D whatever the loss is, and a
run names a single loss.

Everything is stable over any finite logit: ``-log sigmoid(l) = softplus(-l)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def r1_penalty(discriminator: nn.Module, real: Tensor) -> Tensor:
    """E ||grad_x D(x)||^2 over real examples, the squared norm per example over all dims."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def gradient_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """E (||grad_x D(x_hat)|| - 1)^2 at x_hat = a x_real + (1 - a) x_fake, one a ~ U[0, 1] per
    example; the norm per example over all of its dims (Gulrajani et al. 2017)."""
    real, fake = real.detach(), fake.detach()
    alpha = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def _non_negative(name: str, value: float) -> float:
    if not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


class R1:
    """Mixin: the R1 penalty as the ``penalty`` hook, ``r1_gamma / 2 * E ||grad D(x_real)||^2``."""

    def __init__(self, r1_gamma: float = 0.0):
        self.r1_gamma = _non_negative("r1_gamma", r1_gamma)

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        if self.r1_gamma == 0:
            return real.new_zeros(())  # off: no extra forward or backward pass
        return self.r1_gamma / 2 * r1_penalty(discriminator, real)


class Minimax(R1):
    """Eq. 1 as written. D ascends log D(x) + log(1 - D(G(z))); G descends log(1 - D(G(z))),
    which saturates when D rejects G's samples confidently."""

    def __init__(self, discriminator_scale: float = 1.0, r1_gamma: float = 0.0):
        super().__init__(r1_gamma)
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


class WassersteinCritic(R1):
    """The critic's estimate of the Wasserstein-1 distance, E D(x) - E D(G(z)) (Arjovsky et
    al. 2017); meaningful only with D kept Lipschitz (see the two subclasses)."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return fake_logits.mean() - real_logits.mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.mean()


class Wasserstein(WassersteinCritic):
    """WGAN: every D parameter clipped to [-clip, clip] after each D step."""

    def __init__(self, clip: float = 0.01, r1_gamma: float = 0.0):
        super().__init__(r1_gamma)
        if not clip > 0:
            raise ValueError(f"clip must be a positive number, got {clip!r}")
        self.clip = float(clip)

    @torch.no_grad()
    def after_discriminator_step(self, discriminator: nn.Module) -> None:
        for p in discriminator.parameters():
            p.clamp_(-self.clip, self.clip)


class WassersteinGP(WassersteinCritic):
    """WGAN-GP: gp_weight * E (||grad D(x_hat)|| - 1)^2 on random interpolates."""

    def __init__(self, gp_weight: float = 10.0, r1_gamma: float = 0.0):
        super().__init__(r1_gamma)
        self.gp_weight = _non_negative("gp_weight", gp_weight)

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        r1 = super().penalty(discriminator, real, fake)
        if self.gp_weight == 0:
            return r1
        return self.gp_weight * gradient_penalty(discriminator, real, fake) + r1


class Hinge(R1):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D pushes reals above +1, fakes below -1."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return -fake_logits.mean()


class LeastSquares(R1):
    """LSGAN (Mao et al. 2017) with targets a=0 (fake), b=1 (real) for D and c=1 for G,
    on D's raw output."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return 0.5 * (real_logits - 1).pow(2).mean() + 0.5 * fake_logits.pow(2).mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return 0.5 * (fake_logits - 1).pow(2).mean()


def _real_logits_for(loss: object, real_logits: Tensor | None) -> Tensor:
    if real_logits is None:
        raise ValueError(
            f"{type(loss).__name__}.generator_loss needs real_logits: a loss with "
            "needs_real_for_generator = True is called as "
            "generator_loss(fake_logits, real_logits=D(real))"
        )
    return real_logits


class Relativistic(R1):
    """RSGAN (Jolicoeur-Martineau 2018): D(x_r, x_f) = sigmoid(C(x_r) - C(x_f)), real and fake
    paired by position; G's loss is the non-saturating form with the roles swapped."""

    needs_real_for_generator = True

    @staticmethod
    def _difference(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        if real_logits.shape != fake_logits.shape:  # would broadcast to (N, N) silently
            raise ValueError(
                f"relativistic losses pair real and fake examples: logits must have the same "
                f"shape, got {tuple(real_logits.shape)} and {tuple(fake_logits.shape)}"
            )
        return real_logits - fake_logits

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.softplus(-self._difference(real_logits, fake_logits)).mean()

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        real_logits = _real_logits_for(self, real_logits)
        return F.softplus(-self._difference(fake_logits, real_logits)).mean()


class RelativisticAverage(R1):
    """RaSGAN (Jolicoeur-Martineau 2018): each example judged against the other side's mean
    logit; G's loss is D's with real and fake swapped (the non-saturating form)."""

    needs_real_for_generator = True

    @staticmethod
    def _loss(up: Tensor, down: Tensor) -> Tensor:
        # -log sigmoid(up - E down) - log(1 - sigmoid(down - E up))
        return F.softplus(-(up - down.mean())).mean() + F.softplus(down - up.mean()).mean()

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return self._loss(real_logits, fake_logits)

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return self._loss(fake_logits, _real_logits_for(self, real_logits))


def minimax(discriminator_scale: float = 1.0, r1_gamma: float = 0.0) -> Minimax:
    """Eq. 1 exactly (saturating generator loss)."""
    return Minimax(discriminator_scale, r1_gamma)


def non_saturating(discriminator_scale: float = 1.0, r1_gamma: float = 0.0) -> NonSaturating:
    """The non-saturating generator loss, -log D(G(z))."""
    return NonSaturating(discriminator_scale, r1_gamma)


def wasserstein(clip: float = 0.01, r1_gamma: float = 0.0) -> Wasserstein:
    """WGAN with weight clipping of every discriminator parameter to [-clip, clip]."""
    return Wasserstein(clip, r1_gamma)


def wasserstein_gp(gp_weight: float = 10.0, r1_gamma: float = 0.0) -> WassersteinGP:
    """WGAN-GP: the Wasserstein critic loss plus gp_weight times the gradient penalty."""
    return WassersteinGP(gp_weight, r1_gamma)


def hinge(r1_gamma: float = 0.0) -> Hinge:
    """The hinge loss for D, -E D(G(z)) for G."""
    return Hinge(r1_gamma)


def least_squares(r1_gamma: float = 0.0) -> LeastSquares:
    """LSGAN with a=0, b=1, c=1."""
    return LeastSquares(r1_gamma)


def relativistic(r1_gamma: float = 0.0) -> Relativistic:
    """RSGAN; the generator loss needs real logits (``needs_real_for_generator``)."""
    return Relativistic(r1_gamma)


def relativistic_average(r1_gamma: float = 0.0) -> RelativisticAverage:
    """RaSGAN; the generator loss needs real logits (``needs_real_for_generator``)."""
    return RelativisticAverage(r1_gamma)
