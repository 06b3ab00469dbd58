"""Mode metrics on hand-built samples whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.datasets import Mixture, load_dataset, mixture_for
from training.mode_metrics import PROTOCOL_SAMPLES, mode_metrics

RING = mixture_for("ring-8")


def test_a_checkpoint_scores_exactly_the_first_protocol_samples() -> None:
    from training.publish import quality_metrics

    good = load_dataset("ring-8").sample(PROTOCOL_SAMPLES, torch.Generator().manual_seed(0))
    far = torch.full((PROTOCOL_SAMPLES, 2), 50.0)  # off every mode
    scored = quality_metrics(torch.cat([good, far]), RING)
    assert scored == mode_metrics(good.numpy().astype(np.float64), RING)
    assert scored["high_quality_pct"] > 95


def test_true_distribution_covers_every_mode_uniformly() -> None:
    x = load_dataset("ring-8").sample(PROTOCOL_SAMPLES, torch.Generator().manual_seed(0))
    m = mode_metrics(x.numpy(), RING)
    assert (m["modes_covered"], m["num_modes"]) == (8, 8)
    # Within 3 std in 2-D: P(chi2_2 <= 9) = 1 - exp(-4.5) = 98.89%; 2500 draws: sd 0.2 points.
    assert abs(m["high_quality_pct"] - 100 * (1 - math.exp(-4.5))) < 1.0
    assert m["kl_to_uniform"] < 0.01


def test_exact_centres_give_zero_kl_and_full_quality() -> None:
    x = np.repeat(RING.centers, 10, axis=0)  # (80, 2)
    m = mode_metrics(x, RING)
    assert m == {
        "modes_covered": 8,
        "num_modes": 8,
        "high_quality_pct": 100.0,
        "kl_to_uniform": 0.0,
    }


def test_missing_modes_and_known_kl() -> None:
    x = np.repeat(RING.centers[:2], 50, axis=0)  # half on mode 0, half on mode 1
    m = mode_metrics(x, RING)
    assert m["modes_covered"] == 2
    assert math.isclose(m["kl_to_uniform"], math.log(8 / 2), rel_tol=1e-9)
    one = mode_metrics(np.repeat(RING.centers[3:4], 7, axis=0), RING)
    assert one["modes_covered"] == 1 and math.isclose(one["kl_to_uniform"], math.log(8))


def test_off_mode_samples_lower_quality_but_do_not_cover() -> None:
    on = RING.centers + np.array([0.02, 0.0])  # within 3 * 0.01 of each centre
    off = np.zeros((8, 2))  # the ring's centre: 1.0 from every mode
    off2 = RING.centers * 1.04  # 0.04 > 0.03 out from each centre
    m = mode_metrics(np.concatenate([on[:4], off, off2]), RING)
    assert m["modes_covered"] == 4
    assert math.isclose(m["high_quality_pct"], 100.0 * 4 / 20)
    assert math.isclose(m["kl_to_uniform"], math.log(2))


def test_no_high_quality_samples_reports_log_k() -> None:
    m = mode_metrics(np.full((10, 2), 5.0), RING)
    assert m["modes_covered"] == 0 and m["high_quality_pct"] == 0.0
    assert math.isclose(m["kl_to_uniform"], math.log(8))
    empty = mode_metrics(np.zeros((0, 2)), RING)
    assert empty["modes_covered"] == 0 and math.isclose(empty["kl_to_uniform"], math.log(8))


@pytest.mark.parametrize("spec", ["grid-25", "gaussian-1d"])
def test_other_mixtures(spec) -> None:
    mix = mixture_for(spec)
    x = load_dataset(spec).sample(PROTOCOL_SAMPLES, torch.Generator().manual_seed(1)).numpy()
    m = mode_metrics(x, mix)
    assert m["modes_covered"] == m["num_modes"] == mix.num_modes
    assert m["high_quality_pct"] > 95.0


def test_custom_mixture_three_modes_uneven() -> None:
    mix = Mixture(np.array([[0.0], [10.0], [20.0]]), 1.0)
    x = np.array([[0.0], [0.5], [10.0], [10.0]])  # counts (2, 2, 0) -> p = (1/2, 1/2, 0)
    m = mode_metrics(x, mix)
    assert m["modes_covered"] == 2
    assert math.isclose(m["kl_to_uniform"], math.log(3 / 2))
