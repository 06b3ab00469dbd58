"""How a 2-D mixture generator divides its noise plane among the modes.

G maps z ~ N(0, I) (2-D) to the data. Each mode is fed by a region of z; between two regions
G must jump from one mode to the next, and the z near that border lands between the modes:
those samples are the misses of the high-quality count. So

    miss mass  ~  border density  x  border width

where the border density is the length of the borders weighted by the density of z (a 5 x 5
grid of equal-mass cells measures 2.6) and the width shrinks as G's jumps get steeper.

For each checkpoint this prints both, and with --png draws the regions (misses in black).

    python benchmarks/latent_partition.py models/grid-25/00020000.json [more.json ...] [--png F]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.checkpoint import load_generator  # noqa: E402
from training.datasets import mixture_for  # noqa: E402
from training.mode_metrics import HQ_STDS, nearest_mode  # noqa: E402

LIMIT = 3.5  # the z plane is scanned over [-LIMIT, LIMIT]^2: 99.8 % of the mass
STEP = 0.004
CHUNK = 65536
BAND = 0.02  # half-width of the strip around the borders that measures their length


def scan(generator: torch.nn.Module, centers: np.ndarray, step: float = STEP):
    """The nearest mode (H, W) and the distance to it (H, W) on a grid over the z plane."""
    axis = np.arange(-LIMIT, LIMIT, step, dtype=np.float32)
    z = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)  # (H*W, 2)
    labels, dists = [], []
    with torch.inference_mode():
        for start in range(0, len(z), CHUNK):
            x = generator(torch.from_numpy(z[start : start + CHUNK])).double().numpy()  # (n, 2)
            nearest, dist = nearest_mode(x, centers)  # (n,), (n,)
            labels.append(nearest)
            dists.append(dist)
    shape = (len(axis), len(axis))
    return axis, np.concatenate(labels).reshape(shape), np.concatenate(dists).reshape(shape)


def partition_figures(axis: np.ndarray, label: np.ndarray, dist: np.ndarray, hq_radius: float):
    """Border density (density-weighted border length) and the mass of z that misses."""
    from scipy import ndimage

    step = float(axis[1] - axis[0])
    density = np.exp(-0.5 * (axis[:, None] ** 2 + axis[None] ** 2)) / (2 * np.pi)  # (H, W)
    border_px = np.zeros(label.shape, dtype=bool)
    border_px[:-1, :] |= label[1:, :] != label[:-1, :]
    border_px[:, :-1] |= label[:, 1:] != label[:, :-1]
    # The z mass within BAND of a border, over the band's width, is the border's length
    # weighted by the density, whatever the borders' directions.
    band_px = round(BAND / step)
    near = ndimage.distance_transform_edt(~border_px) <= band_px + 1e-6  # (H, W)
    border = float((near * density).sum()) * step / (2 * band_px + 1)
    miss = float(((dist > hq_radius) * density).sum()) * step * step
    return border, miss


def draw(path: Path, panels: list[tuple[str, np.ndarray, np.ndarray]], hq_radius: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    for ax, (title, label, dist) in zip(axes[0], panels, strict=True):
        rgb = plt.cm.tab20((label * 7 % 25) / 24.0)[..., :3]  # neighbours get unlike colours
        rgb[dist > hq_radius] = 0.0
        ax.imshow(rgb.transpose(1, 0, 2), extent=(-LIMIT, LIMIT, -LIMIT, LIMIT), origin="lower")
        ax.add_patch(plt.Circle((0, 0), 2.0, fill=False, color="white", lw=0.8))
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint JSON files")
    parser.add_argument("--png", type=Path, help="draw the regions of z into this PNG")
    args = parser.parse_args()
    torch.set_num_threads(1)
    panels = []
    for path in args.checkpoints:
        generator, meta = load_generator(path)
        mixture = mixture_for(meta.dataset)
        if mixture is None or meta.arch.z_dim != 2 or meta.output_shape != [2]:
            sys.exit(f"{path}: needs a 2-D mixture generator with z_dim 2")
        hq_radius = HQ_STDS * mixture.std
        axis, label, dist = scan(generator, mixture.centers)
        border, miss = partition_figures(axis, label, dist, hq_radius)
        name = f"{path.parent.name}/{path.stem}"
        print(f"{name}: border density {border:.2f}, miss mass {100 * miss:.2f} %, "
              f"miss / border {100 * miss / border:.2f}")  # fmt: skip
        panels.append((name, label, dist))
    if args.png:
        draw(args.png, panels, hq_radius)
        print(f"regions of z: {args.png}")


if __name__ == "__main__":
    main()
