"""Every loss, both sides, against values worked out by hand; penalties on known critics.

Logits used throughout: real = [0, 3], fake = [-1, 3]. With softplus(x) = log(1 + e^x):
softplus(0) = 0.6931472, softplus(-3) = 0.0485874, softplus(-1) = 0.3132617,
softplus(3) = 3.0485874, softplus(1) = 1.3132617.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from training.losses import d_loss, g_loss, gradient_penalty, r1_penalty

REAL = torch.tensor([0.0, 3.0])
FAKE = torch.tensor([-1.0, 3.0])


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        # -mean log D(x) - mean log(1 - D(G(z))) = (0.6931 + 0.0486)/2 + (0.3133 + 3.0486)/2
        ("minimax", 0.3708673 + 1.6809246),
        ("non-saturating", 0.3708673 + 1.6809246),
        # mean relu(1 - real) + mean relu(1 + fake) = (1 + 0)/2 + (0 + 4)/2
        ("hinge", 2.5),
        # mean fake - mean real = 1 - 1.5
        ("wgan-gp", -0.5),
    ],
)
def test_discriminator_losses(loss: str, expected: float) -> None:
    assert float(d_loss(loss, REAL, FAKE)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        # G minimizes mean log(1 - D(G(z))) = -(softplus(-1) + softplus(3)) / 2
        ("minimax", -1.6809246),
        # G minimizes -mean log D(G(z)) = (softplus(1) + softplus(-3)) / 2
        ("non-saturating", 0.6809246),
        ("hinge", -1.0),
        ("wgan-gp", -1.0),
    ],
)
def test_generator_losses(loss: str, expected: float) -> None:
    assert float(g_loss(loss, FAKE)) == pytest.approx(expected, abs=1e-6)


def test_losses_match_the_probability_formulas() -> None:
    d_real, d_fake = torch.sigmoid(REAL), torch.sigmoid(FAKE)
    minimax_d = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    assert float(d_loss("minimax", REAL, FAKE)) == pytest.approx(float(minimax_d), abs=1e-6)
    assert float(g_loss("minimax", FAKE)) == pytest.approx(
        float(torch.log(1 - d_fake).mean()), abs=1e-6
    )
    assert float(g_loss("non-saturating", FAKE)) == pytest.approx(
        float(-torch.log(d_fake).mean()), abs=1e-6
    )


def test_saturated_logits_stay_finite_and_keep_their_gradients() -> None:
    fake = torch.tensor([-100.0, 100.0], requires_grad=True)
    real = torch.tensor([100.0, -100.0], requires_grad=True)
    for loss in ("minimax", "non-saturating", "hinge", "wgan-gp"):
        total = d_loss(loss, real, fake) + g_loss(loss, fake)
        grads = torch.autograd.grad(total, (real, fake))
        assert torch.isfinite(total) and all(torch.isfinite(g).all() for g in grads)
    # the non-saturating G still gets a full gradient where D rejects the fake outright
    (grad,) = torch.autograd.grad(g_loss("non-saturating", fake), fake)
    assert float(grad[0]) == pytest.approx(-0.5)
    # ... where the minimax G's gradient vanishes (the paper's motivation for the swap)
    (grad,) = torch.autograd.grad(g_loss("minimax", fake), fake)
    assert abs(float(grad[0])) < 1e-30


def test_unknown_loss_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown loss"):
        d_loss("lsgan", REAL, FAKE)
    with pytest.raises(ValueError, match="unknown loss"):
        g_loss("lsgan", FAKE)


class Linear(nn.Module):
    """D(x) = w . x over each pack of samples: its gradient is w everywhere."""

    def __init__(self, w: list[float], pack: int = 1) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))
        self.pack = pack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0] // self.pack, -1) @ self.w  # (B / pack,)


def test_gradient_penalty_on_a_linear_critic() -> None:
    d = Linear([3.0, 4.0])  # |grad| = 5 -> (5 - 1)^2 = 16
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    gp = gradient_penalty(d, real, fake, torch.Generator().manual_seed(0))
    assert float(gp.detach()) == pytest.approx(16.0, rel=1e-5)
    # d gp / d w = 2 (|w| - 1) w / |w| = [4.8, 6.4]: the penalty trains D (create_graph)
    (grad,) = torch.autograd.grad(gp, d.w)
    assert grad.tolist() == pytest.approx([4.8, 6.4], rel=1e-5)


def test_gradient_penalty_per_pack() -> None:
    d = Linear([3.0, 0.0, 0.0, 4.0], pack=2)  # one D input = 2 samples of 2 coordinates
    gp = gradient_penalty(d, torch.randn(8, 2), torch.randn(8, 2), torch.Generator(), pack=2)
    assert float(gp.detach()) == pytest.approx(16.0, rel=1e-5)


def test_gradient_penalty_uses_the_interpolates() -> None:
    class Quadratic(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 0.5 * (x**2).sum(dim=1)  # grad = x

    point = torch.tensor([[3.0, 0.0]]).repeat(4, 1)  # real == fake: x_hat = (3, 0)
    gp = gradient_penalty(Quadratic(), point, point.clone(), torch.Generator().manual_seed(1))
    assert float(gp.detach()) == pytest.approx(4.0, rel=1e-5)  # (|x_hat| - 1)^2


def test_r1_penalty_is_the_squared_gradient_norm_on_real_data() -> None:
    d = Linear([3.0, 4.0])
    real = torch.randn(5, 2).requires_grad_(True)
    assert float(r1_penalty(d(real), real).detach()) == pytest.approx(25.0, rel=1e-5)
    d2 = Linear([1.0, 2.0, 2.0, 0.0], pack=2)
    real2 = torch.randn(4, 2).requires_grad_(True)
    assert float(r1_penalty(d2(real2), real2, pack=2).detach()) == pytest.approx(9.0, rel=1e-5)
