"""`python -m training.sample`: draw samples from a published checkpoint, deterministically.

Sample i of a seed is generated from models.latent.latent_batch(seed, i, 1, z_dim), so the
same command writes the same bytes, and --offset continues a sequence without overlap.

    images, --out DIR     DIR/seed-<seed>-<index>.png, one PNG per sample
    vectors, --out DIR    DIR/seed-<seed>.npy (float32 (n, D)) and DIR/seed-<seed>.json
    --grid FILE.png       one picture: an image grid, or a scatter plot / histogram of vectors
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch

from models.atomic import atomic_write_bytes, atomic_write_text
from models.checkpoint import CheckpointError, load_generator
from models.latent import MAX_SEED, latent_batch, truncate
from models.output import to_uint8_images, to_vectors

MAX_SAMPLES = 100_000
CHUNK = 256


def _bounded(kind: type, lo: float, hi: float, what: str):  # noqa: ANN202 - argparse type
    def parse(text: str):  # noqa: ANN202
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a {kind.__name__}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be in [{lo}, {hi}], got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.sample", description="Sample from a published checkpoint."
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="The version's .json file.")
    p.add_argument(
        "-n", type=_bounded(int, 1, MAX_SAMPLES, "-n"), default=16,
        help=f"Number of samples, 1..{MAX_SAMPLES}. Default 16.",
    )  # fmt: skip
    p.add_argument(
        "--seed", type=_bounded(int, 0, MAX_SEED, "--seed"), default=0,
        help="Seed: sample i of a seed is always the same. 0..2**63-1. Default 0.",
    )  # fmt: skip
    p.add_argument(
        "--offset", type=_bounded(int, 0, MAX_SEED, "--offset"), default=0,
        help="Index of the first sample. Default 0.",
    )  # fmt: skip
    p.add_argument(
        "--truncation", type=_bounded(float, 0.0, 1.0, "--truncation"), default=None,
        help="Truncation psi in [0, 1]: scale z toward 0 (less variety, more typical samples).",
    )  # fmt: skip
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="Folder for one file per sample (or points).")
    where.add_argument("--grid", type=Path, help="One PNG of all the samples.")
    p.add_argument("--device", default="cpu", help="Torch device. Default cpu.")
    return p


@torch.no_grad()
def draw(
    checkpoint: Path, n: int, seed: int, offset: int = 0, truncation: float | None = None,
    device: str = "cpu",
) -> tuple[torch.Tensor, str]:  # fmt: skip
    """Samples offset .. offset+n-1 of `seed`: ((n, *shape) float32 on the CPU, output kind)."""
    generator, meta = load_generator(checkpoint, device)
    chunks = []
    for start in range(offset, offset + n, CHUNK):
        z = latent_batch(seed, start, min(CHUNK, offset + n - start), meta.z_dim)  # (b, z_dim)
        if truncation is not None:
            z = truncate(z, truncation)
        chunks.append(generator(torch.from_numpy(z).to(device)).float().cpu())
    return torch.cat(chunks), meta.output_kind


def write_files(samples: torch.Tensor, kind: str, out: Path, seed: int, offset: int) -> list[Path]:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    if kind == "vector":
        points = to_vectors(samples)  # (n, D)
        buf = io.BytesIO()
        np.save(buf, points)
        npy, js = out / f"seed-{seed}.npy", out / f"seed-{seed}.json"
        atomic_write_bytes(npy, buf.getvalue())
        indices = list(range(offset, offset + len(points)))
        doc = {"seed": seed, "indices": indices, "points": points.tolist()}
        atomic_write_text(js, json.dumps(doc) + "\n")
        return [npy, js]
    paths = []
    for i, pixels in enumerate(to_uint8_images(samples)):  # (H, W, C) uint8
        image = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        path = out / f"seed-{seed}-{offset + i}.png"
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        samples, kind = draw(
            args.checkpoint, args.n, args.seed, args.offset, args.truncation, args.device
        )
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.grid is not None:
        from training.plots import save_sample_picture

        save_sample_picture(samples, kind, args.grid, title=f"seed {args.seed}")  # type: ignore[arg-type]
        print(args.grid)
    else:
        paths = write_files(samples, kind, args.out, args.seed, args.offset)
        print(f"wrote {len(paths)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
