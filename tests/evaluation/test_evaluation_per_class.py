"""Per-class scores: real held-out digits scored as if generated meet their own references."""

from __future__ import annotations

import torch

from evaluation.per_class import per_class_evaluator
from training.datasets import load_dataset


def test_real_digits_asked_by_their_labels_score_like_real_data() -> None:
    evaluator = per_class_evaluator("digits")
    test = load_dataset("digits:test")
    scores = evaluator.score(test.data, test.labels)
    accuracy = evaluator.evaluator.classifier.accuracy
    assert abs(scores["conditional_accuracy"] - accuracy) < 1e-6  # the classifier's own figure
    for c, row in scores["per_class"].items():
        assert row["count"] == int((test.labels == c).sum())
        assert row["fd"] < 1e-6  # the held-out images of class c against themselves
        assert 0.5 < row["confidence"] <= 1.0 and row["fd_real"] > 0


def test_unconditional_samples_are_grouped_by_the_class_read() -> None:
    evaluator = per_class_evaluator("digits")
    test = load_dataset("digits:test")
    sevens = test.data[test.labels == 7]
    scores = evaluator.score(torch.cat([sevens, sevens]))  # no labels: grouped as read
    assert "conditional_accuracy" not in scores
    counts = {c: row["count"] for c, row in scores["per_class"].items()}
    assert counts[7] >= 0.9 * 2 * len(sevens) and sum(counts.values()) == 2 * len(sevens)
    empty = [row for row in scores["per_class"].values() if row["count"] == 0]
    assert empty and all(row["fd"] is None and row["confidence"] is None for row in empty)
