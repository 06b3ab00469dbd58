"""Per-class quality of generated digits: for each class, the Fréchet distance to the held-out
images of that class and the classifier's confidence, beside the same figures for the real
training images of that class (the floor and the reference).

A conditional generator's samples are grouped by the class they were asked for; an
unconditional generator's by the class the classifier reads, so both rows mean "the sevens
this model makes". Conditional accuracy is the fraction read as the class asked for.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from evaluation.evaluator import ImageEvaluator, image_evaluator
from evaluation.image_metrics import frechet_distance
from training.datasets import labelled_images

NUM_DIGITS = 10


class PerClassEvaluator:
    def __init__(self, evaluator: ImageEvaluator, dataset: str) -> None:
        self.evaluator = evaluator
        # The evaluator's features and probabilities are in the splits' order
        self.test_labels = labelled_images(f"{dataset}:test")[1]
        train_labels = labelled_images(f"{dataset}:train")[1]
        self.test_features = evaluator.test_features  # (M, F)
        self.reference = {
            c: {
                "fd_real": frechet_distance(
                    evaluator.train_features[train_labels == c], self._test(c)
                ),
                "confidence_real": float(evaluator.train_probs[train_labels == c].max(1).mean()),
            }
            for c in range(NUM_DIGITS)
        }

    def _test(self, c: int) -> np.ndarray:
        return self.test_features[self.test_labels == c]

    def score(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        """{"per_class": {c: {...}}, "conditional_accuracy": ...}: by asked class when labels
        are given (a conditional model), else by the class read."""
        features, probs = self.evaluator.classifier.outputs(self.evaluator.native(images))
        read = probs.argmax(axis=1)
        groups = labels.numpy() if labels is not None else read
        rows = {}
        for c in range(NUM_DIGITS):
            mine = groups == c
            count = int(mine.sum())
            rows[c] = {
                "count": count,
                "fd": frechet_distance(features[mine], self._test(c)) if count > 1 else None,
                "confidence": float(probs[mine].max(1).mean()) if count else None,
                "accuracy": float((read[mine] == c).mean()) if count else None,
                **self.reference[c],
            }
        out: dict = {"per_class": rows}
        if labels is not None:
            out["conditional_accuracy"] = float((read == groups).mean())
        return out


@functools.cache
def per_class_evaluator(dataset: str) -> PerClassEvaluator:
    return PerClassEvaluator(image_evaluator(dataset), dataset)
