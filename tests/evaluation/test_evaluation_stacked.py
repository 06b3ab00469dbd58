"""Stacked MNIST mode counting with the (cached) mnist-5k classifier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from evaluation.classifier import load_classifier
from evaluation.stacked import NUM_MODES, PROTOCOL_SAMPLES, StackedModeCounter, kl_parts
from training.datasets import labelled_images, load_dataset


@pytest.fixture(scope="module")
def counter() -> StackedModeCounter:
    return StackedModeCounter(load_classifier("mnist-5k"))


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    return labelled_images("mnist-5k:train")  # (4000, 1, 28, 28), (4000,)


def _digit(
    counter: StackedModeCounter, digits: tuple[np.ndarray, np.ndarray], label: int
) -> torch.Tensor:
    """The first mnist-5k:train image of `label` that the classifier reads as `label`."""
    x, y = digits
    for image in torch.from_numpy(x[y == label][:20]):
        if counter.modes(image.expand(1, 3, 28, 28).contiguous())[0] == label * 111:
            return image  # (1, 28, 28)
    raise AssertionError(f"no clean {label}")


def test_each_channel_is_one_digit_red_first(counter: StackedModeCounter, digits) -> None:
    image = torch.cat([_digit(counter, digits, d) for d in (3, 7, 1)])[None]  # (1, 3, 28, 28)
    assert counter.modes(image).tolist() == [371]


def test_a_collapsed_generator_covers_one_mode(counter: StackedModeCounter, digits) -> None:
    image = torch.cat([_digit(counter, digits, d) for d in (4, 0, 9)])
    scores = counter.score(image.expand(64, 3, 28, 28).contiguous())  # the same image, 64 times
    assert scores["modes_covered"] == 1 and scores["num_modes"] == NUM_MODES
    assert scores["kl_to_uniform"] == pytest.approx(math.log(NUM_MODES))


def test_another_image_size_is_read_at_28(counter: StackedModeCounter, digits) -> None:
    x, _ = digits
    real = torch.from_numpy(x[:600]).reshape(200, 3, 28, 28)  # 200 stacked images
    big = F.interpolate(real, size=(32, 32), mode="bilinear", antialias=True)  # a 32x32 run's
    assert (counter.modes(real) == counter.modes(big)).mean() >= 0.9


@pytest.mark.slow
def test_real_stacked_samples_cover_almost_every_mode(counter: StackedModeCounter) -> None:
    real = load_dataset("stacked-mnist").sample(PROTOCOL_SAMPLES, torch.Generator().manual_seed(0))
    scores = counter.score(real)  # 78,000 digits through the classifier
    assert scores["modes_covered"] >= 990 and scores["kl_to_uniform"] < 0.1


def test_kl_parts_tell_uneven_channels_from_correlated_ones() -> None:
    rng = np.random.default_rng(1)
    digit = rng.integers(0, 10, 20_000)
    same = kl_parts(digit * 111)  # every channel the same digit: 10 modes of 1,000
    assert same["kl_channels"] < 0.01
    assert same["kl_dependence"] == pytest.approx(math.log(100), abs=0.1)
    green, blue = rng.integers(0, 10, 20_000), rng.integers(0, 10, 20_000)
    no_red = kl_parts(green * 10 + blue)  # red always 0, the others independent
    assert no_red["kl_channels"] == pytest.approx(math.log(10), abs=0.01)
    assert abs(no_red["kl_dependence"]) < 0.02


def _between(counter: StackedModeCounter, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The blend of images a and b (1, 28, 28) where the classifier's reading leaves a's digit:
    a digit the classifier cannot be sure of."""
    first = counter.modes(a.expand(1, 3, 28, 28).contiguous())[0] % 10
    lo, hi = 0.0, 1.0
    for _ in range(16):
        mid = (lo + hi) / 2
        blend = ((1 - mid) * a + mid * b).expand(1, 3, 28, 28).contiguous()
        lo, hi = (mid, hi) if counter.modes(blend)[0] % 10 == first else (lo, mid)
    return (1 - lo) * a + lo * b


def test_confidence_names_the_weakest_channel(counter: StackedModeCounter, digits) -> None:
    clean = torch.cat([_digit(counter, digits, d) for d in (2, 5, 8)])  # (3, 28, 28)
    unsure = clean.clone()
    unsure[1] = _between(counter, _digit(counter, digits, 4), _digit(counter, digits, 7))[0]
    sharp = counter.score(clean.expand(16, 3, 28, 28).contiguous())
    mixed = counter.score(unsure.expand(16, 3, 28, 28).contiguous())
    assert sharp["confidence"] > 0.9 and sharp["confidence_weakest_channel"] > 0.9
    assert mixed["confidence_weakest_channel"] < 0.75
    # the weakest channel's mean, well below the mean over the three channels
    assert mixed["confidence_weakest_channel"] < mixed["confidence"] - 0.1
