"""ImageEvaluator on digits (the cached classifier): real images reach the references,
noise does not, and a run at another size is scored against references at its size."""

from __future__ import annotations

import pytest
import torch

from evaluation.evaluator import ImageEvaluator, image_evaluator, scorer_for, to_unit
from evaluation.stacked import StackedModeCounter
from training.datasets import load_dataset

REFERENCE_KEYS = {
    "fd_real", "confidence_real", "class_kl_real", "parzen_real_nats", "parzen_real_se",
    "classifier_accuracy",
}  # fmt: skip


def _noise(n: int, size: int) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_training_images_score_as_the_real_reference_and_noise_far_worse() -> None:
    ev = image_evaluator("digits")
    ref = ev.reference
    assert set(ref) == REFERENCE_KEYS
    assert 0 < ref["fd_real"] < 5 and ref["confidence_real"] > 0.9 and ref["class_kl_real"] < 0.01
    train = load_dataset("digits:train").data  # (1437, 1, 8, 8)
    real = ev.score(train)
    # the train split is what the references compare with the held-out one
    assert real["fd"] == pytest.approx(ref["fd_real"], rel=1e-9)
    assert real["parzen_nats"] == pytest.approx(ref["parzen_real_nats"], rel=1e-9)
    assert real["confidence"] >= 0.9 and real["class_kl"] < 0.01
    noise = ev.score(_noise(train.shape[0], 8))
    assert noise["fd"] > 50 * ref["fd_real"]
    assert noise["parzen_nats"] < ref["parzen_real_nats"] - 30
    assert noise["class_kl"] > 10 * real["class_kl"] and noise["confidence"] < real["confidence"]


@pytest.mark.slow
def test_a_run_at_another_size_is_scored_against_references_at_that_size() -> None:
    native = image_evaluator("digits")
    up = load_dataset("digits:train", image_size=16).data  # what a 16x16 run trains on
    assert up.shape[1:] == (1, 16, 16)
    # Against the native references, resampling alone looks like a poor generator ...
    assert native.score(up)["fd"] > 20 * native.reference["fd_real"]
    # ... so the scorer of a 16x16 run computes its references on the same round trip.
    ev = scorer_for("digits:train", (1, 16, 16))
    assert isinstance(ev, ImageEvaluator) and ev is image_evaluator("digits", 16)
    real = ev.score(up)
    assert real["fd"] == pytest.approx(ev.reference["fd_real"], rel=1e-9)
    assert real["fd"] < 2 * native.reference["fd_real"] and real["class_kl"] < 0.1
    assert ev.score(_noise(500, 16))["fd"] > 50 * real["fd"]


def test_scorer_for_picks_by_dataset_and_shape() -> None:
    assert isinstance(scorer_for("digits", (1, 8, 8)), ImageEvaluator)
    assert isinstance(scorer_for("digits:test", (1, 8, 8)), ImageEvaluator)
    assert isinstance(scorer_for("stacked-mnist", (3, 28, 28)), StackedModeCounter)
    assert scorer_for("ring-8", (2,)) is None
    assert scorer_for("digits", (3, 8, 8)) is None  # colour digits: no grey classifier
    assert scorer_for("folder:/data/cats", (3, 64, 64)) is None


def test_to_unit_flattens_into_the_unit_interval() -> None:
    x = torch.tensor([[[[-1.0, 0.0], [1.0, 3.0]]]])  # (1, 1, 2, 2), one value out of range
    assert torch.equal(to_unit(x), torch.tensor([[0.0, 0.5, 1.0, 1.0]]))
