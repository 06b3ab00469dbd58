"""Stacked MNIST mode counting (Metz et al. 2017; VEEGAN; PacGAN).

Each generated image has three channels; the mnist-5k classifier reads one digit per channel,
so an image falls in one of 1,000 modes (R * 100 + G * 10 + B). Reported, over PROTOCOL_SAMPLES
images: the modes covered, and the KL divergence of the mode histogram to uniform, with where
that KL comes from (`kl_parts`): the channels' own digit histograms, and their dependence.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from evaluation.classifier import TrainedClassifier

PROTOCOL_SAMPLES = 26_000
NUM_MODES = 1000
PLACES = np.array([100, 10, 1])  # a mode's index from its (R, G, B) digits


class StackedModeCounter:
    samples = PROTOCOL_SAMPLES

    def __init__(self, classifier: TrainedClassifier) -> None:
        self.classifier = classifier

    def modes(self, images: torch.Tensor) -> np.ndarray:
        """images (N, 3, H, W) in [-1, 1] -> mode index per image (N,); resized to 28x28."""
        return self._read(images)[0]

    def _read(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """The mode index per image (N,) and the classifier's largest probability for each
        channel's digit (N, 3)."""
        n, c = images.shape[:2]
        grey = images.float().reshape(n * c, 1, *images.shape[2:])  # (N * 3, 1, H, W)
        size = self.classifier.model.image_size
        if grey.shape[-2:] != (size, size):  # a run with --image-size: read at native size
            grey = F.interpolate(grey, size=(size, size), mode="bilinear", antialias=True)
            grey = grey.clamp_(-1, 1)  # (N * 3, 1, 28, 28)
        _, probs = self.classifier.outputs(grey)
        digits = probs.argmax(axis=1).reshape(n, c)  # (N, 3)
        return digits @ PLACES, probs.max(axis=1).reshape(n, c)

    def score(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
        """The mode metrics; with `labels` (the modes a conditional generator was asked for),
        also the fraction of images whose three digits all read as asked."""
        modes, confidence = self._read(images)
        counts = np.bincount(modes, minlength=NUM_MODES)
        out = {
            "modes_covered": int((counts > 0).sum()),
            "num_modes": NUM_MODES,
            **kl_parts(modes),
            "confidence": float(confidence.mean()),
            "confidence_weakest_channel": float(confidence.mean(axis=0).min()),
        }
        if labels is not None:
            out["conditional_accuracy"] = float((modes == labels.numpy()).mean())
        return out


def _kl_to_uniform(counts: np.ndarray) -> float:
    p = counts / counts.sum()
    nz = p > 0
    return float(max(0.0, (p[nz] * np.log(p[nz] * len(counts))).sum()))


def kl_parts(modes: np.ndarray) -> dict[str, float]:
    """The mode histogram's KL to uniform (`kl_to_uniform`) and where it comes from.
    `kl_channels`: the three channels' digit histograms against uniform, summed (what uneven
    digits in each channel cost). `kl_dependence`: the KL of `modes` less that of the same
    digits with each channel shuffled on its own (same histograms and sample count, no
    dependence between the channels): what the channels' correlation adds."""
    digits = modes[:, None] // PLACES % 10  # (N, 3)
    channels = sum(_kl_to_uniform(np.bincount(digits[:, i], minlength=10)) for i in range(3))
    rng = np.random.default_rng(0)
    shuffled = np.stack([rng.permutation(column) for column in digits.T], axis=1) @ PLACES
    joint = _kl_to_uniform(np.bincount(modes, minlength=NUM_MODES))
    apart = _kl_to_uniform(np.bincount(shuffled, minlength=NUM_MODES))
    return {"kl_to_uniform": joint, "kl_channels": channels, "kl_dependence": joint - apart}
