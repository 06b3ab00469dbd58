"""Stacked MNIST mode counting (Metz et al. 2017; VEEGAN; PacGAN).

Each generated image has three channels; the mnist-5k classifier reads one digit per channel,
so an image falls in one of 1,000 modes (R * 100 + G * 10 + B). Reported, over PROTOCOL_SAMPLES
images: the modes covered, and the KL divergence of the mode histogram to uniform.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from evaluation.classifier import TrainedClassifier

PROTOCOL_SAMPLES = 26_000
NUM_MODES = 1000


class StackedModeCounter:
    samples = PROTOCOL_SAMPLES

    def __init__(self, classifier: TrainedClassifier) -> None:
        self.classifier = classifier

    def modes(self, images: torch.Tensor) -> np.ndarray:
        """images (N, 3, H, W) in [-1, 1] -> mode index per image (N,); resized to 28x28."""
        n, c = images.shape[:2]
        grey = images.float().reshape(n * c, 1, *images.shape[2:])  # (N * 3, 1, H, W)
        size = self.classifier.model.image_size
        if grey.shape[-2:] != (size, size):  # a run with --image-size: read at native size
            grey = F.interpolate(grey, size=(size, size), mode="bilinear", antialias=True)
            grey = grey.clamp_(-1, 1)  # (N * 3, 1, 28, 28)
        _, probs = self.classifier.outputs(grey)
        digits = probs.argmax(axis=1).reshape(n, c)  # (N, 3)
        return digits @ np.array([100, 10, 1])

    def score(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
        """The mode metrics; with `labels` (the modes a conditional generator was asked for),
        also the fraction of images whose three digits all read as asked."""
        modes = self.modes(images)
        counts = np.bincount(modes, minlength=NUM_MODES)
        p = counts / counts.sum()
        nz = p > 0
        kl = float(max(0.0, (p[nz] * np.log(p[nz] * NUM_MODES)).sum()))
        out = {"modes_covered": int(nz.sum()), "num_modes": NUM_MODES, "kl_to_uniform": kl}
        if labels is not None:
            out["conditional_accuracy"] = float((modes == labels.numpy()).mean())
        return out
