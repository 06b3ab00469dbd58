"""Pictures decode as PNGs of sensible size; metrics.jsonl gains one row per call."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from training.datasets import load_dataset, mixture_for
from training.plots import append_jsonl, save_curves, save_sample_picture

RING_MIXTURE = mixture_for("ring-8")


def _open(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return im.copy()


@pytest.mark.parametrize(("shape", "mode"), [((16, 1, 8, 8), "L"), ((9, 3, 32, 32), "RGB")])
def test_image_grid(tmp_path, shape, mode) -> None:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    path = tmp_path / "run" / "samples.png"
    save_sample_picture(x, "image", path)
    im = _open(path)
    assert im.mode == mode
    assert im.width >= 4 * shape[-1] and im.height >= 3 * shape[-2]
    assert im.width >= 128  # tiny 8x8 digits are upscaled to stay readable
    assert len(np.unique(np.asarray(im))) > 2  # the tiles carry the samples, not a blank
    assert not list(tmp_path.glob("run/.*.tmp"))


def test_grid_tile_holds_the_exact_pixels(tmp_path) -> None:
    x = -torch.ones(4, 1, 64, 64)  # 2x2 grid of black tiles on a white background
    x[0] = 1.0
    save_sample_picture(x, "image", tmp_path / "g.png")
    a = np.asarray(_open(tmp_path / "g.png"))
    assert a[2 + 5, 2 + 5] == 255 and a[2 + 5, 2 + 66 + 5] == 0 and a[1, 1] == 255


def test_scatter_for_2d_vectors(tmp_path) -> None:
    ds = load_dataset("ring-8")
    g = torch.Generator().manual_seed(0)
    save_sample_picture(
        ds.sample(500, g),
        "vector",
        tmp_path / "ring.png",
        mixture=mixture_for("ring-8"),
        data_sample=ds.sample(500, g),
        title="step 10",
    )
    im = _open(tmp_path / "ring.png")
    assert im.size == (500, 500)


def test_the_scatter_draws_the_points_where_they_are(tmp_path) -> None:
    spread = 0.1 * torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    right, left = spread + torch.tensor([0.9, 0.0]), spread - torch.tensor([0.9, 0.0])
    for name, points in (("right", right), ("left", left)):
        save_sample_picture(points, "vector", tmp_path / f"{name}.png", mixture=RING_MIXTURE)
    a = np.asarray(_open(tmp_path / "right.png").convert("L"), dtype=np.int16)
    b = np.asarray(_open(tmp_path / "left.png").convert("L"), dtype=np.int16)
    only_a = np.argwhere(a < b - 60)  # (row, col) drawn in the right picture, not the left
    only_b = np.argwhere(b < a - 60)
    assert len(only_a) > 50 and len(only_b) > 50  # points were drawn, not a blank frame
    assert only_a[:, 1].mean() > a.shape[1] / 2 > only_b[:, 1].mean()


def test_histogram_for_1d_vectors(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    real = load_dataset("gaussian-1d").sample(500, g)
    save_sample_picture(
        torch.randn(500, 1, generator=g), "vector", tmp_path / "h.png", data_sample=real
    )
    assert _open(tmp_path / "h.png").size == (600, 360)
    save_sample_picture(torch.zeros(10, 1), "vector", tmp_path / "flat.png")  # no data, one value
    assert _open(tmp_path / "flat.png").size == (600, 360)


def test_curves(tmp_path) -> None:
    history = [
        {"step": s, "losses": {"d": 1.0 / s, "g": 0.5 + 0.01 * s}, "d_real": 0.7, "d_fake": 0.3}
        for s in range(1, 30)
    ]
    save_curves(history, tmp_path / "curves.png")
    assert _open(tmp_path / "curves.png").size == (900, 360)
    save_curves([], tmp_path / "empty.png")
    assert _open(tmp_path / "empty.png").size == (900, 360)


def test_append_jsonl(tmp_path) -> None:
    path = tmp_path / "run" / "metrics.jsonl"
    append_jsonl(path, {"step": 1, "losses": {"d": 1.2, "g": 0.7}})
    append_jsonl(path, {"step": 2, "losses": {"d": 1.1, "g": 0.8}})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and rows[1]["losses"]["g"] == 0.8
