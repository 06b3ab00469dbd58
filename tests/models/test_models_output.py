"""Generator output to pixels and points: the mapping every sample's bytes go through."""

from __future__ import annotations

import numpy as np
import torch

from models.output import to_uint8_images, to_vectors


def test_pixels_map_minus_one_to_0_and_one_to_255_rounding_to_nearest() -> None:
    x = torch.tensor([-1.0, -2.0, 1.0, 5.0, 0.0, -0.996, 0.996, float("-0")])
    pixels = to_uint8_images(x.view(1, 1, 1, 8))  # (1, 1, 8, 1)
    assert pixels.dtype == np.uint8 and pixels.shape == (1, 1, 8, 1)
    # clamped outside [-1, 1]; 0 -> 127.5 rounds half to even -> 128; -0.996 -> 0.51 -> 1
    assert pixels.ravel().tolist() == [0, 0, 255, 255, 128, 1, 254, 128]


def test_channels_move_last_and_the_layout_is_plain() -> None:
    x = torch.linspace(-1, 1, 2 * 3 * 4 * 5).view(2, 3, 4, 5)
    channels_last = x.to(memory_format=torch.channels_last)  # what the service's G returns
    pixels = to_uint8_images(channels_last)
    assert pixels.shape == (2, 4, 5, 3) and pixels.flags["C_CONTIGUOUS"]
    assert np.array_equal(pixels, to_uint8_images(x))
    assert pixels[1, 2, 3, 0] == round((float(x[1, 0, 2, 3]) + 1) * 127.5)


def test_vectors_stay_float32_values() -> None:
    x = torch.tensor([[1.5, -2.25]], dtype=torch.float64)
    out = to_vectors(x)
    assert out.dtype == np.float32 and out.tolist() == [[1.5, -2.25]]
