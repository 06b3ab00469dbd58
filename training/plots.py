"""Pictures and logs written beside a run: sample grids, scatter plots, curves, metrics.jsonl.

Pictures are rendered in memory and written atomically, so a reader never sees half a PNG.
matplotlib figures are built with the Agg canvas directly, leaving pyplot's global state alone.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from models.atomic import atomic_write_bytes
from models.output import to_uint8_images
from training.datasets import Mixture

MIN_TILE = 64  # tiny images (8x8 digits) are upscaled so the grid is readable


def save_sample_picture(
    samples: torch.Tensor,
    kind: Literal["vector", "image"],
    path: Path,
    *,
    mixture: Mixture | None = None,
    data_sample: torch.Tensor | None = None,
    title: str = "",
    columns: int | None = None,
) -> None:
    """Images -> a grid (`columns` wide, else square); 2-D vectors -> a scatter with mode
    centres; 1-D -> histograms."""
    if kind == "image":
        png = _image_grid(samples, columns)
    elif samples.shape[1] == 1:
        png = _histogram(samples, data_sample, title)
    else:
        png = _scatter(samples, mixture, data_sample, title)
    atomic_write_bytes(Path(path), png)


def save_curves(history: list[dict], path: Path) -> None:
    """Two panels over step: the losses of D and G, and D's mean outputs on real and fake."""
    fig = _figure(figsize=(9, 3.6))
    ax_loss, ax_d = fig.subplots(1, 2)
    steps = [row["step"] for row in history]
    for key in ("d", "g"):
        values = [_num(row.get("losses", {}).get(key)) for row in history]
        ax_loss.plot(steps, values, label=key)
    ax_loss.set(title="losses", xlabel="step")
    ax_loss.legend()
    for key, label in (("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        ax_d.plot(steps, [_num(row.get(key)) for row in history], label=label)
    ax_d.axhline(0.5, linestyle="--", color="gray", linewidth=1)
    ax_d.set(title="discriminator outputs", xlabel="step", ylim=(-0.02, 1.02))
    ax_d.legend()
    fig.tight_layout()
    atomic_write_bytes(Path(path), _png(fig))


def append_jsonl(path: Path, row: dict) -> None:
    """Append one JSON line and flush it, creating the folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")
        f.flush()


def _num(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def _image_grid(samples: torch.Tensor, columns: int | None = None) -> bytes:
    from PIL import Image

    pixels = to_uint8_images(samples)  # (B, H, W, C) uint8
    b, h, w, c = pixels.shape
    cols = columns or math.ceil(math.sqrt(b))
    rows = math.ceil(b / cols)
    pad = 2
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(b):
        r, q = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        grid[top : top + h, left : left + w] = pixels[i]
    image = Image.fromarray(grid[..., 0] if c == 1 else grid, mode="L" if c == 1 else "RGB")
    scale = max(1, math.ceil(MIN_TILE / max(h, w)))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _scatter(
    samples: torch.Tensor, mixture: Mixture | None, data_sample: torch.Tensor | None, title: str
) -> bytes:
    fig = _figure(figsize=(5, 5))
    ax = fig.subplots()
    pts = samples.detach().float().cpu().numpy()  # (B, D)
    if data_sample is not None:
        real = data_sample.detach().float().cpu().numpy()  # (N, D)
        ax.scatter(real[:, 0], real[:, 1], s=4, alpha=0.3, color="tab:gray", label="data")
    ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.6, color="tab:blue", label="generated")
    if mixture is not None:
        c = mixture.centers
        ax.scatter(c[:, 0], c[:, 1], marker="x", s=60, color="tab:red", label="mode centres")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _histogram(samples: torch.Tensor, data_sample: torch.Tensor | None, title: str) -> bytes:
    fig = _figure(figsize=(6, 3.6))
    ax = fig.subplots()
    fake = samples.detach().float().cpu().numpy().ravel()  # (B,)
    arrays = [fake]
    if data_sample is not None:
        arrays.append(data_sample.detach().float().cpu().numpy().ravel())
    finite = np.concatenate(arrays)
    finite = finite[np.isfinite(finite)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 50)
    if data_sample is not None:
        ax.hist(arrays[1], bins=bins, density=True, alpha=0.5, color="tab:gray", label="data")
    ax.hist(fake, bins=bins, density=True, alpha=0.6, color="tab:blue", label="generated")
    ax.set(title=title, xlabel="x", ylabel="density")
    ax.legend()
    fig.tight_layout()
    return _png(fig)


def _figure(figsize: tuple[float, float]):  # noqa: ANN202 - matplotlib Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:  # noqa: ANN001 - matplotlib Figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
