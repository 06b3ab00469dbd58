"""DCGAN (Radford et al., 2015) for square images of 8 to 128 px, 1 or 3 channels."""

from __future__ import annotations

import torch
from torch import nn

from models.conditioning import LabelInput, Projection, check_labels
from models.config import DCGANConfig, dcgan_upsamplings
from models.latent_codes import code_one_hots

CODE_HEAD_WIDTH = 128  # the hidden layer of D's latent-code head (InfoGAN's Q)


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) for convolutions; N(1, 0.02) scale and zero shift for batch norm."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        k = dcgan_upsamplings(cfg.image_size)
        width = cfg.g_width * 2 ** (k - 1)
        self.num_classes = cfg.num_classes
        self.label_input = LabelInput(cfg.num_classes) if cfg.num_classes else None
        width_in = cfg.z_dim + (self.label_input.embed.embedding_dim if self.label_input else 0)
        self.latent_codes = cfg.latent_codes
        width_in += sum(cfg.latent_codes)
        layers: list[nn.Module] = [
            # z (and the class embedding) as a 1x1 map -> (g_width * 2**(k-1)) x base x base
            nn.ConvTranspose2d(width_in, width, cfg.base_size, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        for _ in range(k - 1):
            # each stage doubles the size and halves the width
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(inplace=True),
            ]
            width //= 2
        for _ in range(cfg.extra_layers):
            # g_width x size/2 -> the same: depth without changing the size
            layers += [
                nn.Conv2d(width, width, 3, 1, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
        # g_width x size/2 -> channels x size x size, in [-1, 1]
        layers += [nn.ConvTranspose2d(width, cfg.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = cfg.z_dim
        self.apply(init_dcgan_weights)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(labels, self.num_classes, z.shape[0])
        x = self.label_input(z, labels) if self.label_input is not None else z
        if self.latent_codes:
            # read from z as given (float32 from the service) before any cast: a block's top
            # two components can round to one value in bfloat16
            x = torch.cat([x, code_one_hots(z, self.latent_codes)], dim=1)
        x = x.to(self.net[0].weight.dtype)  # the service may run the weights in bfloat16
        return self.net(x.view(x.shape[0], -1, 1, 1))  # (B, C, H, W)


class DCGANDiscriminator(nn.Module):
    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm if cfg.spectral_norm else (lambda m: m)
        k = dcgan_upsamplings(cfg.image_size)
        # (channels * pack) x size x size -> d_width x size/2; no batch norm on the input layer
        layers: list[nn.Module] = [
            sn(nn.Conv2d(cfg.channels * cfg.pack, cfg.d_width, 4, 2, 1, bias=False)),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = cfg.d_width
        for _ in range(cfg.extra_layers):
            # d_width x size/2 -> the same
            layers.append(sn(nn.Conv2d(width, width, 3, 1, 1, bias=False)))
            if cfg.d_batchnorm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        for _ in range(k - 1):
            layers.append(sn(nn.Conv2d(width, width * 2, 4, 2, 1, bias=False)))
            if cfg.d_batchnorm:
                layers.append(nn.BatchNorm2d(width * 2))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            width *= 2
        # (d_width * 2**(k-1)) x base x base -> one logit
        layers.append(sn(nn.Conv2d(width, 1, cfg.base_size, 1, 0, bias=False)))
        self.net = nn.Sequential(*layers)
        self.pack = cfg.pack
        self.apply(init_dcgan_weights)
        self.num_classes = cfg.num_classes
        features = width * cfg.base_size**2
        self.projection = Projection(cfg.num_classes, features) if cfg.num_classes else None
        # InfoGAN's Q on D's features: every sample's code logits from its pack's features
        self.code_head = (
            nn.Sequential(
                nn.Linear(features, CODE_HEAD_WIDTH),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(CODE_HEAD_WIDTH, cfg.pack * sum(cfg.latent_codes)),
            )
            if cfg.latent_codes
            else None
        )

    def _packed(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x.reshape(b // self.pack, self.pack * c, h, w)  # PacGAN: packs stacked on channels

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self._packed(x)
        check_labels(labels, self.num_classes, x.shape[0])
        if self.projection is None:
            return self.net(x).view(-1)  # (B / pack,) unscaled logits
        features = self.net[:-1](x)  # (B, width, base, base)
        return self.net[-1](features).view(-1) + self.projection(features, labels)

    def forward_with_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """An unconditional D's logits (B / pack,) and the code logits of every sample,
        (B, sum(latent_codes)), from one pass through the shared layers."""
        if self.code_head is None:
            raise ValueError("this discriminator has no latent codes to recover")
        features = self.net[:-1](self._packed(x))
        codes = self.code_head(features.flatten(1))  # (B / pack, pack * sum(codes))
        return self.net[-1](features).view(-1), codes.reshape(x.shape[0], -1)
