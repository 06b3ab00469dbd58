"""The noise-plane measure behind the README's account of grid-25's misses."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import norm

from models.config import MLPConfig
from models.factory import build_generator
from training.datasets import mixture_for

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "latent_partition.py"
spec = importlib.util.spec_from_file_location("latent_partition", SCRIPT)
assert spec is not None and spec.loader is not None
latent_partition = importlib.util.module_from_spec(spec)
spec.loader.exec_module(latent_partition)

AXIS = np.arange(-latent_partition.LIMIT, latent_partition.LIMIT, latent_partition.STEP)
QUINTILES = norm.ppf([0.2, 0.4, 0.6, 0.8])
# A 5 x 5 grid of equal-mass cells: borders at the 4 quintiles of each axis, phi(q) each
GRID_BORDER = 2 * float(norm.pdf(QUINTILES).sum())  # 2.665


@pytest.mark.parametrize("angle", [0.0, 0.5, 1.1])
def test_border_density_of_an_equal_mass_grid_in_any_direction(angle: float) -> None:
    x, y = np.meshgrid(AXIS, AXIS, indexing="ij")
    u, v = np.cos(angle) * x + np.sin(angle) * y, -np.sin(angle) * x + np.cos(angle) * y
    label = np.searchsorted(QUINTILES, u) * 5 + np.searchsorted(QUINTILES, v)
    border, miss = latent_partition.partition_figures(AXIS, label, np.zeros(label.shape), 0.15)
    assert border == pytest.approx(GRID_BORDER, rel=0.05)  # strips overlap where borders cross
    assert miss == 0.0


def test_miss_mass_is_the_z_mass_far_from_every_mode() -> None:
    x, _ = np.meshgrid(AXIS, AXIS, indexing="ij")
    dist = np.where(x > 1.0, 1.0, 0.0)  # everything right of z1 = 1 misses
    _, miss = latent_partition.partition_figures(AXIS, np.zeros(x.shape, int), dist, 0.15)
    assert miss == pytest.approx(float(norm.sf(1.0)), rel=0.01)


def test_a_linear_generator_splits_z_like_the_grid() -> None:
    """G(z) = 2.83 z (the shortcut alone) sends z to the nearest grid mode: a grid of cells."""
    generator = build_generator(MLPConfig(z_dim=2, data_dim=2, g_hidden=4, g_shortcut_gain=2.83))
    with torch.no_grad():
        generator.net[-1].weight.zero_(), generator.net[-1].bias.zero_()
    mixture = mixture_for("grid-25")
    assert mixture is not None
    axis, label, dist = latent_partition.scan(generator.eval(), mixture.centers, step=0.01)
    border, miss = latent_partition.partition_figures(axis, label, dist, 3 * mixture.std)
    # borders at z = +-1/2.83, +-3/2.83 on both axes
    lines = 2 * 2 * float(norm.pdf(np.array([1.0, 3.0]) / 2.83).sum())
    assert border == pytest.approx(lines, rel=0.05)
    assert miss > 0.9  # a linear map puts almost nothing within 0.15 of a mode
