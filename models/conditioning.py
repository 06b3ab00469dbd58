"""Class conditioning shared by the MLP and DCGAN families.

G sees its class as a learned embedding concatenated to z (Mirza & Osindero, 2014). D adds a
projection term <embed(y), h(x)> to its logit, where h(x) is the input of D's last linear map
(Miyato & Koyama, 2018). An unconditional network (num_classes = 0) has neither, so its
weights and outputs are exactly those of the plain network.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

LABEL_EMBED_DIM = 64  # width of G's class embedding, concatenated to z


class LabelInput(nn.Module):
    """z (B, z_dim) and labels (B,) -> (B, z_dim + LABEL_EMBED_DIM)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, LABEL_EMBED_DIM)
        nn.init.normal_(self.embed.weight, 0.0, 1.0 / LABEL_EMBED_DIM**0.5)  # unit norm

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, self.embed(labels)], dim=1)


class Projection(nn.Module):
    """labels (B,) and features (B, ...) -> the projection term (B,)."""

    def __init__(self, num_classes: int, features: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # the scale of D's other weights

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (self.embed(labels) * features.flatten(1)).sum(dim=1)


def check_labels(labels: torch.Tensor | None, num_classes: int, batch: int) -> None:
    """A conditional network needs one label per sample; an unconditional one takes none."""
    if num_classes == 0:
        if labels is not None:
            raise ValueError("this network is unconditional: it takes no labels")
        return
    if labels is None:
        raise ValueError(f"this network is conditional on {num_classes} classes: pass labels")
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")


def label_column_input(z_dim: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split (B, z_dim + 1) rows whose last column holds the class index as a float: the form
    a conditional generator's inputs take through the service's batcher (labels ride with
    their z, so what shares a batch cannot change them)."""
    return x[:, :z_dim], x[:, z_dim].round().long()


def cycle_labels(offset: int, n: int, num_classes: int) -> np.ndarray:
    """The class of samples offset..offset+n-1 when none is asked for: every class in turn,
    (offset + i) mod num_classes. (n,) int64."""
    return np.arange(offset, offset + n, dtype=np.int64) % num_classes
