"""Shapes, output ranges, logits and initialization of both network families."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from models.config import DCGANConfig, MLPConfig
from models.factory import build_pair


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize(
    ("size", "channels", "pack"),
    [(8, 1, 1), (28, 1, 1), (32, 3, 2), (64, 3, 1), (64, 1, 4)],
)
def test_dcgan_shapes_and_ranges(size: int, channels: int, pack: int) -> None:
    torch.manual_seed(0)
    cfg = DCGANConfig(image_size=size, channels=channels, z_dim=16, g_width=8, d_width=8, pack=pack)
    g, d = build_pair(cfg)
    z = torch.randn(8, 16, generator=_gen())  # (8, 16)
    x = g(z)
    assert x.shape == (8, channels, size, size)
    assert x.min() >= -1.0 and x.max() <= 1.0  # tanh output
    logits = d(x)
    assert logits.shape == (8 // pack,)
    assert cfg.output_shape == (channels, size, size) and cfg.output_kind == "image"


def test_dcgan_discriminator_returns_unbounded_logits() -> None:
    torch.manual_seed(0)
    g, d = build_pair(DCGANConfig(image_size=32, channels=1, z_dim=8, g_width=8, d_width=8))
    last = [m for m in d.modules() if isinstance(m, nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.mul_(1000.0)  # a confident D: an unscaled logit is free to leave [0, 1]
    x = torch.rand(8, 1, 32, 32, generator=_gen()) * 2 - 1
    logits = d(x)
    assert logits.abs().max() > 1.0
    assert not isinstance(list(d.net)[-1], nn.Sigmoid)


def test_dcgan_init_is_normal_0_002() -> None:
    torch.manual_seed(0)
    g, d = build_pair(DCGANConfig(image_size=64, channels=3, z_dim=100))
    weights = torch.cat(
        [m.weight.detach().flatten() for net in (g, d) for m in net.modules()
         if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    )  # fmt: skip
    assert abs(float(weights.mean())) < 1e-3
    assert float(weights.std()) == pytest.approx(0.02, rel=0.02)
    bn = torch.cat([m.weight.detach() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert float(bn.mean()) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(("data_dim", "pack", "maxout"), [(1, 1, 1), (2, 4, 5), (3, 2, 2)])
def test_mlp_shapes(data_dim: int, pack: int, maxout: int) -> None:
    cfg = MLPConfig(
        z_dim=3, data_dim=data_dim, g_hidden=16, d_hidden=16, pack=pack, d_maxout=maxout
    )
    g, d = build_pair(cfg)
    x = g(torch.randn(8, 3, generator=_gen()))
    assert x.shape == (8, data_dim)
    assert d(x).shape == (8 // pack,)
    assert cfg.output_kind == "vector" and cfg.output_shape == (data_dim,)


def test_mlp_generator_output_is_unbounded_data_coordinates() -> None:
    g, _ = build_pair(MLPConfig(z_dim=2, data_dim=2, g_hidden=8, g_layers=1, g_batchnorm=False))
    last = list(g.net)[-1]
    with torch.no_grad():
        last.bias.fill_(25.0)  # e.g. the grid-25 corner at (4, 4) needs values beyond [-1, 1]
    assert g(torch.zeros(4, 2)).min() > 20.0


@pytest.mark.parametrize("z_dim", [2, 3])
def test_mlp_shortcut_starts_as_a_linear_spread_of_z(z_dim: int) -> None:
    torch.manual_seed(0)
    plain_g, plain_d = build_pair(MLPConfig(z_dim=z_dim, data_dim=2, g_hidden=8, d_hidden=8))
    torch.manual_seed(0)
    g, d = build_pair(
        MLPConfig(z_dim=z_dim, data_dim=2, g_hidden=8, d_hidden=8, g_shortcut_gain=2.5)
    )
    z = torch.randn(16, z_dim, generator=_gen())  # (16, z_dim)
    g.eval(), plain_g.eval()
    with torch.no_grad():
        torch.testing.assert_close(g(z), plain_g(z) + 2.5 * z[:, :2])
    # the shortcut is trainable and draws nothing from the RNG: the other layers, and D built
    # after G, start exactly as without it
    assert g.shortcut.requires_grad and "shortcut" in g.state_dict()
    for a, b in zip(plain_d.state_dict().values(), d.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert plain_g.shortcut is None and "shortcut" not in plain_g.state_dict()


def test_spectral_norm_option_bounds_the_layers() -> None:
    torch.manual_seed(0)
    cfg = DCGANConfig(image_size=32, channels=3, spectral_norm=True, d_width=8)
    _, d = build_pair(cfg)
    x = torch.randn(8, 3, 32, 32, generator=_gen())
    with torch.no_grad():
        for layer in d.modules():  # weights far above norm 1: the bound must do the work
            if hasattr(layer, "parametrizations"):
                layer.parametrizations.weight.original.mul_(50.0)
        d.train()
        for _ in range(30):  # power iteration runs one step per training forward
            d(x)
    d.eval()
    wrapped = [m for m in d.modules() if hasattr(m, "parametrizations")]
    assert len(wrapped) == 4  # every conv layer of D
    for layer in wrapped:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, abs=0.05)
    _, plain = build_pair(cfg.model_copy(update={"spectral_norm": False}))
    convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    assert not any(hasattr(m, "parametrizations") for m in convs)


@pytest.mark.parametrize("size", [7, 9, 200])
def test_dcgan_rejects_sizes_without_a_stride_2_path(size: int) -> None:
    with pytest.raises(ValidationError):
        DCGANConfig(image_size=size)
