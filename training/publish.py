"""What a checkpoint step writes: the EMA generator (batch norm recalibrated) as a published
version, its quality metrics, and the run's pictures (<model_dir>/<name>/run/).

Quality metrics: mode coverage on the synthetic mixtures; on the labelled image sets the
evaluation package's scores (Fréchet distance, class balance, confidence, Parzen estimate, or
Stacked MNIST's mode count) for a fixed batch of generated images."""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from models.checkpoint import save_generator
from models.conditioning import cycle_labels
from models.config import DCGANConfig, MLPConfig
from models.latent import latent_batch
from training.config import TrainConfig
from training.datasets import Dataset, Mixture
from training.ema import recalibrate_batchnorm
from training.mode_metrics import PROTOCOL_SAMPLES, mode_metrics
from training.plots import save_curves, save_sample_picture

if TYPE_CHECKING:
    from evaluation.evaluator import Scorer

FIXED_IMAGES = 64  # the sample grid: latent_batch(seed, 0, 64, z_dim)
GRID_COLUMNS = 8  # a conditional model's picture: one row per class, 8 noises
GRID_CLASSES = 10  # rows shown at most (a 1,000-class model shows its first 10)
# Batch-norm recalibration: (batches, batch size); images are costly and have many
# positions per channel, so fewer samples estimate their statistics as well.
CALIBRATION = {"vector": (8, 256), "image": (4, 64)}
CALIBRATION_OFFSET = 1 << 40  # latent indices for batch-norm calibration, far from the grid's
DATA_POINTS = 1000  # real points drawn under a scatter plot


def fixed_noise(seed: int, count: int, z_dim: int, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(latent_batch(seed, 0, count, z_dim)).to(device)  # (count, z_dim)


def labels_for(offset: int, n: int, num_classes: int, device: torch.device) -> torch.Tensor | None:
    """Every class in turn for samples offset..offset+n-1 (None when unconditional): the rule
    the service applies when no class is asked for."""
    if not num_classes:
        return None
    return torch.from_numpy(cycle_labels(offset, n, num_classes)).to(device)  # (n,)


@torch.no_grad()
def publishable_generator(
    ema_module: nn.Module, seed: int, z_dim: int, kind: str = "vector", num_classes: int = 0
) -> nn.Module:
    """A copy of the EMA generator whose batch-norm statistics were re-estimated for its own
    (averaged) weights, in eval mode: what a sampler sees, independent of batch composition.
    A conditional generator is calibrated over every class in turn."""
    # The layout a loaded checkpoint has, so its scores reproduce from the file exactly
    generator = copy.deepcopy(ema_module).to(memory_format=torch.contiguous_format)
    device = next(generator.parameters()).device
    count, size = CALIBRATION[kind]
    batches = [
        torch.from_numpy(latent_batch(seed, CALIBRATION_OFFSET + i * size, size, z_dim)).to(
            device
        )  # (size, z_dim)
        for i in range(count)
    ]

    def forward(z: torch.Tensor) -> torch.Tensor:
        return generator(z, labels_for(0, z.shape[0], num_classes, device))

    return recalibrate_batchnorm(generator, batches, forward if num_classes else None)


@torch.no_grad()
def generate(
    generator: nn.Module, seed: int, count: int, z_dim: int, num_classes: int = 0
) -> torch.Tensor:
    """Samples 0..count-1 of `seed` from an eval-mode generator, as float32 on the CPU; a
    conditional one draws every class in turn (labels_for)."""
    device = next(generator.parameters()).device
    out = []
    for start in range(0, count, 1024):
        n = min(1024, count - start)
        z = torch.from_numpy(latent_batch(seed, start, n, z_dim)).to(device)  # (n, z_dim)
        labels = labels_for(start, n, num_classes, device)
        out.append((generator(z, labels) if labels is not None else generator(z)).float().cpu())
    return torch.cat(out)  # (count, *sample_shape)


@torch.no_grad()
def class_grid(generator: nn.Module, seed: int, z_dim: int, num_classes: int) -> torch.Tensor:
    """The picture of a conditional image generator: one row per class (the first
    GRID_CLASSES), GRID_COLUMNS noises shared down each column. (rows * columns, C, H, W)."""
    device = next(generator.parameters()).device
    rows = min(num_classes, GRID_CLASSES)
    z = torch.from_numpy(latent_batch(seed, 0, GRID_COLUMNS, z_dim)).to(device)  # (cols, z)
    z = z.repeat(rows, 1)  # (rows * cols, z_dim)
    labels = torch.arange(rows, device=device).repeat_interleave(GRID_COLUMNS)  # (rows * cols,)
    return generator(z, labels).float().cpu()


def quality_metrics(samples: torch.Tensor, mixture: Mixture | None) -> dict[str, float]:
    """Mode metrics (VEEGAN/PacGAN protocol) on the first PROTOCOL_SAMPLES samples."""
    if mixture is None:
        return {}
    points = samples[:PROTOCOL_SAMPLES].numpy().astype(np.float64)  # (2500, D)
    return dict(mode_metrics(points, mixture))


@dataclass
class Snapshot:
    """The generator as it will be published, its fixed samples and their metrics."""

    step: int
    generator: nn.Module
    samples: torch.Tensor  # (count, *sample_shape) on the CPU: the picture's samples
    metrics: dict[str, float]


def take_snapshot(
    ema_module: nn.Module, seed: int, z_dim: int, step: int, dataset: Dataset,
    mixture: Mixture | None, scorer: Scorer | None = None, num_classes: int = 0,
) -> Snapshot:  # fmt: skip
    k = num_classes
    generator = publishable_generator(ema_module, seed, z_dim, dataset.kind, k)
    if dataset.kind == "vector":
        samples = generate(generator, seed, PROTOCOL_SAMPLES, z_dim, k)
        return Snapshot(step, generator, samples, quality_metrics(samples, mixture))
    metrics: dict[str, float] = {}
    if scorer is None:
        samples = generate(generator, seed, FIXED_IMAGES, z_dim, k)
    else:
        samples = generate(generator, seed, max(FIXED_IMAGES, scorer.samples), z_dim, k)
        metrics = scorer.score(samples, labels_for(0, samples.shape[0], k, torch.device("cpu")))
    picture = class_grid(generator, seed, z_dim, k) if k else samples[:FIXED_IMAGES]
    return Snapshot(step, generator, picture, metrics)


def write_snapshot(
    model_dir: Path,
    config: TrainConfig,
    arch: MLPConfig | DCGANConfig,
    snap: Snapshot,
    dataset: Dataset,
    mixture: Mixture | None,
) -> str:
    """Publish version `snap.step` and its sample pictures; returns the ref name@version."""
    assert config.name is not None
    _, meta = save_generator(
        model_dir,
        config.name,
        snap.generator,
        arch,
        step=snap.step,
        dataset=config.dataset,
        loss=config.loss,
        hyperparameters=config.model_dump(mode="json"),
        metrics=snap.metrics,
        classes=dataset.classes if arch.num_classes else (),
    )
    folder = run_folder(model_dir, config.name)
    columns = GRID_COLUMNS if arch.num_classes and dataset.kind == "image" else None
    save_pictures(folder, snap.samples, dataset, mixture, snap.step, config.seed, columns)
    return meta.ref


def run_folder(model_dir: Path, name: str) -> Path:
    return Path(model_dir) / name / "run"


def save_pictures(
    folder: Path,
    samples: torch.Tensor,
    dataset: Dataset,
    mixture: Mixture | None,
    step: int,
    seed: int,
    columns: int | None = None,
) -> None:
    data_sample = None
    if dataset.kind == "vector":
        data_sample = dataset.sample(DATA_POINTS, torch.Generator().manual_seed(seed))
    path = folder / f"samples-{step:08d}.png"
    title = f"{dataset.spec}, step {step}"
    save_sample_picture(
        samples,
        dataset.kind,
        path,
        mixture=mixture,
        data_sample=data_sample,
        title=title,
        columns=columns,
    )
    latest = folder / "samples.png"
    tmp = folder / ".samples.png.tmp"
    shutil.copyfile(path, tmp)
    tmp.replace(latest)


def save_loss_curves(folder: Path, history: list[dict[str, Any]]) -> None:
    if history:
        save_curves(history, folder / "loss.png")
