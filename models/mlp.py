"""Fully connected generator and discriminator, as in the original GAN paper's toy experiments."""

from __future__ import annotations

import torch
from torch import nn

from models.conditioning import LabelInput, Projection, check_labels
from models.config import MLPConfig


class Maxout(nn.Module):
    """Linear layer whose units each output the max of `pieces` affine maps (Goodfellow 2013)."""

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.out_features = out_features
        self.pieces = pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x).view(-1, self.out_features, self.pieces)  # (B, out, pieces)
        return y.max(dim=2).values


class MLPGenerator(nn.Module):
    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        self.num_classes = cfg.num_classes
        self.label_input = LabelInput(cfg.num_classes) if cfg.num_classes else None
        layers: list[nn.Module] = []
        width_in = cfg.z_dim + (self.label_input.embed.embedding_dim if self.label_input else 0)
        for _ in range(cfg.g_layers):
            layers.append(nn.Linear(width_in, cfg.g_hidden))
            if cfg.g_batchnorm:
                layers.append(nn.BatchNorm1d(cfg.g_hidden))
            layers.append(nn.ReLU(inplace=True))
            width_in = cfg.g_hidden
        layers.append(nn.Linear(width_in, cfg.data_dim))
        self.net = nn.Sequential(*layers)
        # The shortcut keeps the regions of z that feed each mode laid out as the modes are,
        # where a plain MLP folds z into slivers with long borders between modes. Built from
        # the identity, it draws nothing from the RNG, so the other layers' init is unchanged.
        shortcut = cfg.g_shortcut_gain * torch.eye(cfg.data_dim, cfg.z_dim)  # (data_dim, z)
        self.shortcut = nn.Parameter(shortcut) if cfg.g_shortcut_gain > 0 else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(labels, self.num_classes, z.shape[0])
        x = self.label_input(z, labels) if self.label_input is not None else z
        out = self.net(x)  # (B, data_dim), unbounded
        if self.shortcut is not None:
            out = out + z @ self.shortcut.T
        return out


class MLPDiscriminator(nn.Module):
    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm if cfg.spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        width_in = cfg.data_dim * cfg.pack
        for _ in range(cfg.d_layers):
            if cfg.d_maxout > 1:
                block = Maxout(width_in, cfg.d_hidden, cfg.d_maxout)
                block.linear = sn(block.linear)
                layers.append(block)
            else:
                layers += [sn(nn.Linear(width_in, cfg.d_hidden)), nn.LeakyReLU(0.2, inplace=True)]
            width_in = cfg.d_hidden
        layers.append(sn(nn.Linear(width_in, 1)))
        self.net = nn.Sequential(*layers)
        self.pack = cfg.pack
        self.num_classes = cfg.num_classes
        self.projection = Projection(cfg.num_classes, width_in) if cfg.num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = x.reshape(x.shape[0] // self.pack, -1)  # (B / pack, pack * data_dim)
        check_labels(labels, self.num_classes, x.shape[0])
        if self.projection is None:
            return self.net(x).squeeze(1)  # (B / pack,) unscaled logits
        h = self.net[:-1](x)  # (B, d_hidden)
        return self.net[-1](h).squeeze(1) + self.projection(h, labels)
