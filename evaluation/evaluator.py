"""Score generated images of a labelled set against its held-out split.

The real data's own scores stand beside each figure: the Fréchet distance between the train and
held-out splits (the floor a generator can reach with this many samples), the held-out images'
confidence and class balance, and the Parzen estimate with the training images as the kernel
centres (the ceiling). The held-out split is halved by a fixed rule: even positions choose the
Parzen sigma, odd positions are scored.
"""

from __future__ import annotations

import functools
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from evaluation.classifier import CLASSIFIER_SETS, TrainedClassifier, load_classifier
from evaluation.image_metrics import (
    class_kl_to_uniform,
    frechet_distance,
    mean_confidence,
    parzen_estimate,
)
from training.datasets import load_dataset

EVAL_SAMPLES = 10_000  # generated images per score (Parzen centres, FD and class statistics)


class Scorer(Protocol):
    samples: int

    def score(
        self, images: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, float]: ...


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, C*H*W) in [0, 1]."""
    return ((images.float().clamp(-1, 1) + 1.0) / 2.0).flatten(1)


class ImageEvaluator:
    """Scores for images of `dataset` (digits or mnist-5k, grey, any size: resized to native,
    against references computed at the run's `image_size`)."""

    samples = EVAL_SAMPLES

    def __init__(self, classifier: TrainedClassifier, image_size: int | None = None) -> None:
        """`image_size`: the run's, when not native. The real splits then take the same round
        trip as generated images (loaded at that size, resized back), so the references stay
        the floor and the ceiling a generator at that size can reach: resampling blurs digits,
        which alone moves the Fréchet distance far above the native floor."""
        self.classifier = classifier
        name = classifier.dataset
        self.size = classifier.model.image_size
        train_t, test_t = (
            self.native(load_dataset(f"{name}:{part}", image_size=image_size).data)
            for part in ("train", "test")
        )  # (N, 1, S, S) at the classifier's size
        self.test_features, test_probs = classifier.outputs(test_t)  # (M, F), (M, 10)
        train_features, self.train_probs = classifier.outputs(train_t)  # (N, F), (N, 10)
        self.train_features = train_features
        self.parzen_validation = to_unit(test_t[0::2])
        self.parzen_test = to_unit(test_t[1::2])
        parzen_real = parzen_estimate(to_unit(train_t), self.parzen_validation, self.parzen_test)
        self.reference = {
            "fd_real": frechet_distance(train_features, self.test_features),
            "confidence_real": mean_confidence(test_probs),
            "class_kl_real": class_kl_to_uniform(test_probs),
            "parzen_real_nats": parzen_real["nats"],
            "parzen_real_se": parzen_real["se"],
            "classifier_accuracy": classifier.accuracy,
        }

    def native(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> (N, 1, S, S) at the classifier's size."""
        if images.shape[-1] == self.size and images.shape[-2] == self.size:
            return images.float()
        return F.interpolate(
            images.float(), size=(self.size, self.size), mode="bilinear", antialias=True
        ).clamp_(-1, 1)

    def score(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
        """images (N, 1, H, W) in [-1, 1] -> the metrics, with the real references beside.
        With `labels` (the classes a conditional generator was asked for), also the fraction
        the classifier reads as asked."""
        x = self.native(images)
        features, probs = self.classifier.outputs(x)
        parzen = parzen_estimate(to_unit(x), self.parzen_validation, self.parzen_test)
        asked = {}
        if labels is not None:
            asked["conditional_accuracy"] = float((probs.argmax(axis=1) == labels.numpy()).mean())
        return {
            **asked,
            "fd": frechet_distance(features, self.test_features),
            "class_kl": class_kl_to_uniform(probs),
            "confidence": mean_confidence(probs),
            "parzen_nats": parzen["nats"],
            "parzen_se": parzen["se"],
            "parzen_sigma": parzen["sigma"],
            **self.reference,
        }

    def class_histogram(self, images: torch.Tensor) -> np.ndarray:
        _, probs = self.classifier.outputs(self.native(images))
        return np.bincount(probs.argmax(axis=1), minlength=10)


def base_set(spec: str) -> str:
    return spec.partition(":")[0]


def scorer_for(spec: str, sample_shape: tuple[int, ...]) -> Scorer | None:
    """The scorer a run on `spec` reports at each checkpoint, or None (no labelled reference)."""
    from evaluation.stacked import StackedModeCounter

    if spec == "stacked-mnist":
        return StackedModeCounter(load_classifier("mnist-5k"))
    if base_set(spec) in CLASSIFIER_SETS and len(sample_shape) == 3 and sample_shape[0] == 1:
        return image_evaluator(base_set(spec), int(sample_shape[-1]))
    return None


@functools.cache
def image_evaluator(dataset: str, image_size: int | None = None) -> ImageEvaluator:
    return ImageEvaluator(load_classifier(dataset), image_size)
