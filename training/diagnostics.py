"""Failure-mode signals the training loop reports: mode collapse and an overpowering D.

Collapse: the generated batch is far less spread out than a real batch (within each class,
for a conditional generator).
Overpowering D: D(G(z)) stays near 0. With the saturating loss, G's gradient then vanishes,
which is the failure Goodfellow et al. (2014) describe; with the non-saturating loss it does
not, so a small gradient alone cannot be the test. `overpower_flag` fires on D(G(z)) below
d_fake_max together with a vanishing G gradient, and FailureWatch also fires when D(G(z)) stays
that low for `patience` consecutive reports, whatever the gradient. Requiring consecutive
reports keeps one noisy batch from raising (and dropping) the flag.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def batch_diversity(x: torch.Tensor) -> float:
    """Mean pairwise L2 distance between the flattened samples of a batch (0 for B < 2)."""
    flat = x.detach().float().reshape(x.shape[0], -1)  # (B, F)
    b = flat.shape[0]
    if b < 2:
        return 0.0
    dist = torch.cdist(flat, flat)  # (B, B), zero diagonal
    return float(dist.sum() / (b * (b - 1)))


def grouped_diversity(x: torch.Tensor, labels: torch.Tensor | None) -> float:
    """For a conditional generator, the spread within each class (mean over classes with two
    or more samples): collapse there is G ignoring z for a given class, which the spread
    across classes hides. Without labels, or without any such class, batch_diversity."""
    if labels is None:
        return batch_diversity(x)
    spreads = [batch_diversity(x[labels == c]) for c in labels.unique() if (labels == c).sum() > 1]
    return sum(spreads) / len(spreads) if spreads else batch_diversity(x)


def collapse_flag(fake_diversity: float, real_diversity: float, threshold: float = 0.2) -> bool:
    """True when the generated diversity is below `threshold` times the data's."""
    if real_diversity <= 0.0:
        return False
    return fake_diversity / real_diversity < threshold


def overpower_flag(
    d_fake: float, g_grad_norm: float, *, d_fake_max: float = 0.05, grad_min: float = 1e-3
) -> bool:
    """True when D rejects the fakes (mean D(G(z)) < d_fake_max) and G's gradient vanishes."""
    return d_fake < d_fake_max and g_grad_norm < grad_min


class FailureWatch:
    """Raises a flag only after `patience` consecutive reports show the condition."""

    def __init__(
        self,
        *,
        patience: int = 3,
        collapse_threshold: float = 0.2,
        d_fake_max: float = 0.05,
        grad_min: float = 1e-3,
    ) -> None:
        self.patience = patience
        self.collapse_threshold = collapse_threshold
        self.d_fake_max = d_fake_max
        self.grad_min = grad_min
        self._collapse_run = 0
        self._low_d_fake_run = 0
        self._overpower_run = 0

    def update(
        self, *, fake_diversity: float, real_diversity: float, d_fake: float, g_grad_norm: float
    ) -> dict[str, bool]:
        """Feed one report; returns {"mode_collapse": bool, "d_overpowering": bool}."""
        collapsed = collapse_flag(fake_diversity, real_diversity, self.collapse_threshold)
        self._collapse_run = self._collapse_run + 1 if collapsed else 0
        low = d_fake < self.d_fake_max
        self._low_d_fake_run = self._low_d_fake_run + 1 if low else 0
        over = overpower_flag(
            d_fake, g_grad_norm, d_fake_max=self.d_fake_max, grad_min=self.grad_min
        )
        self._overpower_run = self._overpower_run + 1 if over else 0
        return {
            "mode_collapse": self._collapse_run >= self.patience,
            "d_overpowering": self._overpower_run >= self.patience
            or self._low_d_fake_run >= self.patience,
        }


def grad_norm(module: nn.Module) -> float:
    """L2 norm over every parameter gradient of `module` (0 when none has one)."""
    total = 0.0
    for p in module.parameters():
        if p.grad is not None:
            total += float(p.grad.detach().float().pow(2).sum())
    return math.sqrt(total)


def sigmoid_mean(logits: torch.Tensor) -> float:
    """Mean of sigmoid(logits): D's average probability of 'real'."""
    return float(torch.sigmoid(logits.detach().float()).mean())
