"""The latent contract: z of sample j depends only on (seed, j), and is standard normal."""

from __future__ import annotations

import numpy as np
import pytest

from models.latent import latent_batch, truncate


def test_index_alone_equals_index_within_a_batch() -> None:
    batch = latent_batch(7, 0, 256, 100)  # (256, 100)
    for j in (0, 1, 99, 255):
        assert np.array_equal(latent_batch(7, j, 1, 100)[0], batch[j])
    assert np.array_equal(latent_batch(7, 100, 50, 100), batch[100:150])


def test_same_call_same_values_and_seeds_differ() -> None:
    assert np.array_equal(latent_batch(3, 5, 10, 7), latent_batch(3, 5, 10, 7))
    assert not np.allclose(latent_batch(3, 0, 10, 7), latent_batch(4, 0, 10, 7))
    assert latent_batch(3, 0, 10, 7).dtype == np.float32


def test_statistics_are_standard_normal() -> None:
    z = latent_batch(0, 0, 4000, 50).astype(np.float64).ravel()  # 200k values
    assert abs(z.mean()) < 0.01
    assert z.std() == pytest.approx(1.0, abs=0.01)
    assert np.mean(np.abs(z) < 1.0) == pytest.approx(0.6827, abs=0.01)  # one-sigma mass
    corr = np.corrcoef(latent_batch(0, 0, 4000, 2).T)[0, 1]
    assert abs(corr) < 0.05


def test_odd_dimensions_and_bad_arguments() -> None:
    assert latent_batch(1, 0, 3, 1).shape == (3, 1)
    with pytest.raises(ValueError):
        latent_batch(-1, 0, 1, 2)
    with pytest.raises(ValueError):
        latent_batch(1, -1, 1, 2)


def test_truncation_scales_toward_the_mean() -> None:
    z = latent_batch(0, 0, 4, 8)
    assert np.allclose(truncate(z, 0.5), z * 0.5)
    assert truncate(z, 0.5).dtype == np.float32
