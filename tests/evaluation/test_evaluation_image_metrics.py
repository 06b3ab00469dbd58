"""Image metrics against closed forms and a brute-force numpy Parzen window."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from evaluation.image_metrics import (
    PARZEN_SIGMAS,
    class_kl_to_uniform,
    frechet_distance,
    mean_confidence,
    parzen_estimate,
)


def _with_moments(
    rng: np.random.Generator, n: int, mean: np.ndarray, cov: np.ndarray
) -> np.ndarray:
    """n points whose sample mean and (n - 1) covariance are exactly `mean` and `cov`."""
    z = rng.normal(size=(n, mean.size))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # np.cov(z) = I
    return z @ np.linalg.cholesky(cov).T + mean  # (n, F)


def test_frechet_distance_of_a_set_with_itself_is_zero() -> None:
    a = np.random.default_rng(0).normal(size=(500, 6))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_the_closed_form() -> None:
    rng = np.random.default_rng(1)
    angle = 0.7
    rot = np.eye(3)
    rot[:2, :2] = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    cov_a = 4.0 * np.eye(3)
    cov_b = rot @ np.diag([1.0, 9.0, 16.0]) @ rot.T  # not diagonal
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([3.0, 1.0, -2.0])
    a = _with_moments(rng, 400, mu_a, cov_a)
    b = _with_moments(rng, 300, mu_b, cov_b)
    # (cov_a cov_b)^(1/2) = 2 cov_b^(1/2), whose trace is 2 (1 + 3 + 4)
    expected = (9.0 + 0.0 + 16.0) + 12.0 + 26.0 - 2.0 * 2.0 * 8.0
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)


def test_class_kl_to_uniform_is_zero_when_balanced_and_log_k_on_a_point_mass() -> None:
    k = 10
    soft = np.full((50, k), 0.05)
    soft[np.arange(50), np.arange(50) % k] = 0.55  # soft, but the argmax classes are balanced
    assert class_kl_to_uniform(soft) == pytest.approx(0.0, abs=1e-12)
    point_mass = np.zeros((30, k))
    point_mass[:, 3] = 1.0
    assert class_kl_to_uniform(point_mass) == pytest.approx(math.log(k))
    halves = np.eye(k)[[0, 1] * 20]  # two classes of ten: KL = log(10 / 2)
    assert class_kl_to_uniform(halves) == pytest.approx(math.log(5))


def test_mean_confidence_is_the_mean_largest_probability() -> None:
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.9, 0.0], [0.2, 0.2, 0.6]])
    assert mean_confidence(probs) == pytest.approx((0.5 + 0.9 + 0.6) / 3)


def _brute_force_log_likelihoods(
    centres: np.ndarray, points: np.ndarray, sigma: float
) -> np.ndarray:
    """log (1/N) sum_i N(x; c_i, sigma^2 I), one point at a time."""
    n, d = centres.shape
    out = []
    for x in points:
        e = -((x - centres) ** 2).sum(axis=1) / (2 * sigma**2)  # (N,)
        top = e.max()
        out.append(
            top + math.log(np.exp(e - top).sum() / n) - d / 2 * math.log(2 * math.pi * sigma**2)
        )
    return np.array(out)


def test_parzen_estimate_matches_a_brute_force_computation() -> None:
    rng = np.random.default_rng(2)
    centres, val, test = (rng.uniform(size=(n, 6)) for n in (50, 20, 30))
    got = parzen_estimate(*(torch.from_numpy(a) for a in (centres, val, test)))
    val_means = [_brute_force_log_likelihoods(centres, val, s).mean() for s in PARZEN_SIGMAS]
    sigma = PARZEN_SIGMAS[int(np.argmax(val_means))]
    ll = _brute_force_log_likelihoods(centres, test, sigma)
    assert got["sigma"] == sigma
    assert got["nats"] == pytest.approx(ll.mean(), rel=1e-5)
    assert got["se"] == pytest.approx(ll.std(ddof=1) / math.sqrt(ll.size), rel=1e-4)


def test_parzen_sigma_is_chosen_on_the_validation_points_not_the_test_points() -> None:
    # One centre at 0 in D = 4; points all at distance r: log p = -r^2 / 2s^2 - D/2 log 2 pi s^2,
    # largest at s = r / sqrt(D). Validation is put where that is the 11th sigma, test the 26th.
    d, s_val, s_test = 4, PARZEN_SIGMAS[10], PARZEN_SIGMAS[25]
    centres = torch.zeros(1, d, dtype=torch.float64)
    validation = torch.eye(d, dtype=torch.float64) * s_val * math.sqrt(d)  # (4, 4), |x| = 2 s_val
    test = torch.eye(d, dtype=torch.float64) * s_test * math.sqrt(d)
    got = parzen_estimate(centres, validation, test)
    assert got["sigma"] == s_val
    r2 = d * s_test**2
    expected = -r2 / (2 * s_val**2) - d / 2 * math.log(2 * math.pi * s_val**2)
    assert got["nats"] == pytest.approx(expected, rel=1e-5)
    assert got["se"] == pytest.approx(0.0, abs=1e-6)  # every test point alike
