"""A small CNN digit classifier, trained by the project on a labelled set's `:train` split.

Its penultimate features (FEATURES wide) are the space of the Fréchet distance, its softmax
gives the class histogram and confidence. Weights are cached as safetensors with a JSON sidecar
holding their sha256, the held-out accuracy and the recipe; a cached file whose hash or recipe
does not match is retrained, never trusted.

Cache folder: $GAN_CACHE_DIR, else ~/.cache/gan-service (classifiers/<set>.safetensors).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn

from models.atomic import atomic_write_bytes, atomic_write_text
from training.datasets import labelled_images

log = logging.getLogger(__name__)

FEATURES = 128
CLASSIFIER_SETS = ("digits", "mnist-5k")
# Bump when the network or its training changes: cached weights of another recipe retrain.
RECIPE = {"version": 2, "batch_size": 128, "lr": 1e-3, "seed": 0}
EPOCHS = {"digits": 40, "mnist-5k": 30}


class DigitClassifier(nn.Module):
    """(B, 1, S, S) in [-1, 1] -> 10 logits; S = 8 (digits) or 28 (mnist-5k)."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        self.image_size = image_size
        pooled = image_size // 4
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 32 x S/2 x S/2
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 64 x S/4 x S/4
        )
        self.fc = nn.Linear(64 * pooled * pooled, FEATURES)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURES, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(self.conv(x).flatten(1)))  # (B, FEATURES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))  # (B, 10)


@dataclass(frozen=True)
class TrainedClassifier:
    dataset: str  # "digits" or "mnist-5k"
    model: DigitClassifier  # eval mode, CPU
    accuracy: float  # on the held-out split
    sha256: str  # of the safetensors file
    path: Path | None  # None when the cache could not be written

    @torch.no_grad()
    def outputs(self, images: torch.Tensor, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """images (N, 1, S, S) in [-1, 1] -> features (N, FEATURES), softmax (N, 10)."""
        feats, probs = [], []
        for start in range(0, images.shape[0], batch):
            x = images[start : start + batch].float()
            f = self.model.features(x)
            feats.append(f.numpy())
            probs.append(torch.softmax(self.model.head(f), dim=1).numpy())
        return np.concatenate(feats).astype(np.float64), np.concatenate(probs).astype(np.float64)


def cache_dir() -> Path:
    configured = os.environ.get("GAN_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "gan-service"


def load_classifier(dataset: str, *, folder: Path | None = None) -> TrainedClassifier:
    """The cached classifier for `dataset` (digits or mnist-5k), trained first if missing."""
    if dataset not in CLASSIFIER_SETS:
        raise ValueError(f"no classifier for {dataset!r}; known: {', '.join(CLASSIFIER_SETS)}")
    folder = (folder or cache_dir()) / "classifiers"
    weights_path, meta_path = folder / f"{dataset}.safetensors", folder / f"{dataset}.json"
    cached = _read_cached(dataset, weights_path, meta_path)
    if cached is not None:
        return cached
    return train_classifier(dataset, folder=folder)


def train_classifier(dataset: str, *, folder: Path | None = None) -> TrainedClassifier:
    """Train on `<dataset>:train`, score on `<dataset>:test`, cache (best effort) and return."""
    t0 = time.monotonic()
    x, y = (torch.from_numpy(a) for a in labelled_images(f"{dataset}:train"))
    x_test, y_test = (torch.from_numpy(a) for a in labelled_images(f"{dataset}:test"))
    # Seeded throughout, dropout included (it draws from the global generator), so every
    # machine trains the same classifier.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RECIPE["seed"])
        model = DigitClassifier(int(x.shape[-1]))
        _fit(model, x, y, EPOCHS[dataset])
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    blob = safetensors.torch.save(state, metadata={"dataset": dataset})
    sha = hashlib.sha256(blob).hexdigest()
    log.info(
        "trained the %s classifier in %.0f s: held-out accuracy %.4f",
        dataset, time.monotonic() - t0, accuracy,
    )  # fmt: skip
    path = _try_cache(folder or cache_dir() / "classifiers", dataset, blob, sha, accuracy)
    return TrainedClassifier(dataset, model, accuracy, sha, path)


def _fit(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    """Adam with a one-cycle schedule on random shifts of (x, y); the batch order is seeded."""
    gen = torch.Generator().manual_seed(RECIPE["seed"])
    opt = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    batch = RECIPE["batch_size"]
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=RECIPE["lr"], total_steps=epochs * -(-x.shape[0] // batch)
    )
    shift = max(1, int(x.shape[-1]) // 10)  # 2 px on 28x28, 1 px on 8x8
    model.train()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=gen)
        for start in range(0, x.shape[0], batch):
            idx = order[start : start + batch]
            xb = _random_shift(x[idx], shift, gen)  # (b, 1, S, S)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()


def _recipe(dataset: str) -> dict:
    return {**RECIPE, "epochs": EPOCHS[dataset]}


def _random_shift(x: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to `shift` pixels (zero-padded with the background, -1)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift), value=-1.0)
    dx = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
    dy = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]  # (b, h, 1)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]  # (b, 1, w)
    return padded[:, 0][torch.arange(b)[:, None, None], rows, cols][:, None]  # (b, 1, h, w)


def _try_cache(folder: Path, dataset: str, blob: bytes, sha: str, accuracy: float) -> Path | None:
    weights_path = folder / f"{dataset}.safetensors"
    meta = {"dataset": dataset, "sha256": sha, "accuracy": accuracy, "recipe": _recipe(dataset)}
    try:
        atomic_write_bytes(weights_path, blob)
        atomic_write_text(folder / f"{dataset}.json", json.dumps(meta, indent=2) + "\n")
    except OSError as exc:
        log.warning("cannot cache the %s classifier in %s (%s); keeping it in memory",
                    dataset, folder, exc)  # fmt: skip
        return None
    return weights_path


def _read_cached(dataset: str, weights_path: Path, meta_path: Path) -> TrainedClassifier | None:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        blob = weights_path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("accuracy"), float):
        log.warning("cached %s classifier has an unreadable record; retraining", dataset)
        return None
    intact = hashlib.sha256(blob).hexdigest() == meta.get("sha256")
    if meta.get("recipe") != _recipe(dataset) or not intact:
        log.warning("cached %s classifier does not match its record; retraining", dataset)
        return None
    size = 8 if dataset == "digits" else 28
    model = DigitClassifier(size)
    model.load_state_dict(safetensors.torch.load(blob))
    return TrainedClassifier(dataset, model.eval(), float(meta["accuracy"]), meta["sha256"],
                             weights_path)  # fmt: skip
