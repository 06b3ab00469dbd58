"""One place that turns an architecture config into networks."""

from __future__ import annotations

from torch import nn

from models.config import DCGANConfig, MLPConfig
from models.dcgan import DCGANDiscriminator, DCGANGenerator
from models.mlp import MLPDiscriminator, MLPGenerator


def build_generator(cfg: MLPConfig | DCGANConfig) -> nn.Module:
    if isinstance(cfg, MLPConfig):
        return MLPGenerator(cfg)
    return DCGANGenerator(cfg)


def build_discriminator(cfg: MLPConfig | DCGANConfig) -> nn.Module:
    if isinstance(cfg, MLPConfig):
        return MLPDiscriminator(cfg)
    return DCGANDiscriminator(cfg)


def build_pair(cfg: MLPConfig | DCGANConfig) -> tuple[nn.Module, nn.Module]:
    return build_generator(cfg), build_discriminator(cfg)
