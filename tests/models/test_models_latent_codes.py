"""Latent codes read from z (InfoGAN): uniform categories, G's one-hot input, D's code head."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from models.config import DCGANConfig, parse_arch_config
from models.dcgan import DCGANDiscriminator, DCGANGenerator
from models.latent_codes import code_indices, code_loss, code_one_hots


def test_each_code_is_the_argmax_of_its_own_block_of_z() -> None:
    z = torch.zeros(2, 8)
    z[0, 2], z[0, 3 + 4] = 1.0, 1.0  # code 0 = 2, code 1 = 4
    z[1, 0], z[1, 3 + 1] = 1.0, 1.0  # code 0 = 0, code 1 = 1
    assert code_indices(z, (3, 5)).tolist() == [[2, 4], [0, 1]]
    one_hots = code_one_hots(z, (3, 5))
    assert one_hots.tolist()[0] == [0, 0, 1, 0, 0, 0, 0, 1]
    assert one_hots.tolist()[1] == [1, 0, 0, 0, 1, 0, 0, 0]


def test_codes_of_gaussian_z_are_uniform() -> None:
    z = torch.randn(100_000, 10, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(code_indices(z, (10,))[:, 0], minlength=10).float() / 100_000
    assert counts.sub(0.1).abs().max() < 0.005


def test_code_loss_sums_the_codes_cross_entropies() -> None:
    indices = torch.tensor([[1, 0]])
    confident = torch.tensor([[-9.0, 9.0, 9.0, -9.0, -9.0]])  # right on both codes
    wrong = torch.tensor([[9.0, -9.0, -9.0, 9.0, -9.0]])
    assert code_loss(confident, indices, (2, 3)) < 1e-3
    assert code_loss(wrong, indices, (2, 3)) > 30
    even = torch.zeros(1, 5)
    expected = torch.log(torch.tensor(2.0)) + torch.log(torch.tensor(3.0))
    assert code_loss(even, indices, (2, 3)) == pytest.approx(float(expected))


def _config(**changes) -> DCGANConfig:
    values = {"image_size": 8, "channels": 1, "g_width": 8, "d_width": 8, "latent_codes": (10,)}
    return DCGANConfig(**{**values, **changes})


def test_g_takes_the_one_hot_codes_and_changing_a_code_changes_the_image() -> None:
    torch.manual_seed(0)
    generator = DCGANGenerator(_config()).eval()
    assert generator.net[0].in_channels == 100 + 10
    z = torch.randn(4, 100)
    other = z.clone()
    other[:, :10] = z[:, :10].roll(1, dims=1)  # every sample's code moves on by one
    with torch.no_grad():
        assert not torch.allclose(generator(z), generator(other))
        # a change of z outside the blocks that keeps the codes is only a change of z
        assert generator(z).shape == (4, 1, 8, 8)


def test_d_recovers_the_codes_of_every_sample_in_a_pack() -> None:
    discriminator = DCGANDiscriminator(_config(pack=2, latent_codes=(10, 5)))
    logits, codes = discriminator.forward_with_codes(torch.randn(6, 1, 8, 8))
    assert logits.shape == (3,) and codes.shape == (6, 15)
    plain = DCGANDiscriminator(_config(latent_codes=()))
    assert plain.code_head is None
    with pytest.raises(ValueError, match="no latent codes"):
        plain.forward_with_codes(torch.randn(2, 1, 8, 8))


def test_codes_must_fit_in_z_and_leave_the_classes_to_a_conditional_network() -> None:
    with pytest.raises(ValidationError, match="more than z_dim"):
        _config(z_dim=12, latent_codes=(10, 10))
    with pytest.raises(ValidationError, match="2 to 100 categories"):
        _config(latent_codes=(1,))
    with pytest.raises(ValidationError, match="unconditional"):
        _config(num_classes=10)
    # a checkpoint's JSON spells the codes as a list
    parsed = parse_arch_config({**_config().model_dump(mode="json")})
    assert parsed.latent_codes == (10,)
    assert DCGANConfig.model_validate({"latent_codes": [3, 4]}, strict=True).latent_codes == (3, 4)
