"""GAN losses computed from D's unscaled logits, in numerically stable forms.

With D(x) = sigmoid(l): log D(x) = -softplus(-l) and log(1 - D(x)) = -softplus(l), so no loss
ever takes the log of a saturated sigmoid.

    minimax         D maximizes log D(x) + log(1 - D(G(z)));  G minimizes log(1 - D(G(z)))
    non-saturating  D as minimax;                              G maximizes log D(G(z))
    hinge           D: relu(1 - l_real) + relu(1 + l_fake);    G: -l_fake
    wgan-gp         D: l_fake - l_real (+ gradient penalty);   G: -l_fake

Every function returns the quantity its network *minimizes*.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("minimax", "non-saturating", "hinge", "wgan-gp")


def d_loss(loss: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss on one real and one generated batch of logits."""
    real, fake = real_logits.float(), fake_logits.float()
    if loss in ("minimax", "non-saturating"):
        # -log D(x) - log(1 - D(G(z)))
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if loss == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if loss == "wgan-gp":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")


def g_loss(loss: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's loss on D's logits for a generated batch."""
    fake = fake_logits.float()
    if loss == "minimax":
        return -F.softplus(fake).mean()  # log(1 - D(G(z)))
    if loss == "non-saturating":
        return F.softplus(-fake).mean()  # -log D(G(z))
    if loss in ("hinge", "wgan-gp"):
        return -fake.mean()
    raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")


def _per_pack_sq_norm(grad: torch.Tensor, pack: int) -> torch.Tensor:
    """Squared L2 norm of the gradient per D input (a pack of `pack` samples): (B / pack,)."""
    return grad.float().reshape(grad.shape[0] // pack, -1).pow(2).sum(dim=1)


def gradient_penalty(
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator,
    pack: int = 1,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al., 2017): E[(||grad D(x_hat)|| - 1)^2] on random interpolates.

    One mixing weight per D input, so a PacGAN pack is interpolated as one point. A
    conditional D judges each interpolate under the class of its real and fake ends."""
    groups = real.shape[0] // pack
    eps = torch.rand(groups, generator=generator, device=generator.device).to(real.device)
    eps = eps.repeat_interleave(pack).view(-1, *([1] * (real.dim() - 1)))  # (B, 1, ...)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    logits = discriminator(x_hat) if labels is None else discriminator(x_hat, labels)
    (grad,) = torch.autograd.grad(logits.float().sum(), x_hat, create_graph=True)
    return (_per_pack_sq_norm(grad, pack).add(1e-12).sqrt() - 1.0).pow(2).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor, pack: int = 1) -> torch.Tensor:
    """R1 (Mescheder et al., 2018): E[||grad D(x)||^2] on real data; `real` must require grad.

    The caller scales it by gamma / 2."""
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real, create_graph=True)
    return _per_pack_sq_norm(grad, pack).mean()
