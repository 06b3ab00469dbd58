"""DCGAN's layer plan: stride-2 stages by image size, and the extra 3x3 layers at half size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.config import DCGANConfig
from models.dcgan import DCGANDiscriminator, DCGANGenerator


def _shapes(net: nn.Sequential, x: torch.Tensor) -> list[tuple[type, tuple[int, ...]]]:
    out = []
    for layer in net:
        x = layer(x)
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            out.append((type(layer), tuple(x.shape[1:])))
    return out


@pytest.mark.parametrize("extra", [0, 3])
def test_extra_layers_run_at_half_the_image_size_in_g_and_d(extra: int) -> None:
    cfg = DCGANConfig(image_size=28, channels=1, z_dim=8, g_width=4, d_width=4, extra_layers=extra)
    g, d = DCGANGenerator(cfg).eval(), DCGANDiscriminator(cfg).eval()
    g_plan = _shapes(g.net, torch.randn(2, 8, 1, 1))
    # z -> 8 x 7 x 7 -> 4 x 14 x 14 -> (extra 3x3 at 14 x 14) -> 1 x 28 x 28
    assert g_plan[:2] == [(nn.ConvTranspose2d, (8, 7, 7)), (nn.ConvTranspose2d, (4, 14, 14))]
    assert g_plan[2 : 2 + extra] == [(nn.Conv2d, (4, 14, 14))] * extra
    assert g_plan[-1] == (nn.ConvTranspose2d, (1, 28, 28)) and len(g_plan) == 3 + extra
    d_plan = _shapes(d.net, torch.randn(2, 1, 28, 28))
    # 1 x 28 x 28 -> 4 x 14 x 14 -> (extra 3x3 at 14 x 14) -> 8 x 7 x 7 -> one logit
    assert d_plan[0] == (nn.Conv2d, (4, 14, 14))
    assert d_plan[1 : 1 + extra] == [(nn.Conv2d, (4, 14, 14))] * extra
    assert d_plan[-2:] == [(nn.Conv2d, (8, 7, 7)), (nn.Conv2d, (1, 1, 1))]


def test_d_has_no_batch_norm_on_its_input_layer_and_none_at_all_when_asked() -> None:
    cfg = DCGANConfig(image_size=32, channels=3, g_width=8, d_width=8, extra_layers=1)
    layers = list(DCGANDiscriminator(cfg).net)
    assert isinstance(layers[0], nn.Conv2d) and isinstance(layers[1], nn.LeakyReLU)
    assert any(isinstance(m, nn.BatchNorm2d) for m in layers)
    plain = DCGANDiscriminator(cfg.model_copy(update={"d_batchnorm": False}))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())


def test_initialisation_follows_radford_et_al() -> None:
    torch.manual_seed(0)
    g = DCGANGenerator(DCGANConfig(image_size=64, channels=3, g_width=32))
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    weights = torch.cat([m.weight.detach().flatten() for m in convs])
    assert abs(float(weights.mean())) < 1e-3 and abs(float(weights.std()) - 0.02) < 1e-3
    norms = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in norms)
    scales = torch.cat([m.weight.detach() for m in norms])
    assert abs(float(scales.mean()) - 1.0) < 0.01 and abs(float(scales.std()) - 0.02) < 0.01
