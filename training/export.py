"""`python -m training.export SPEC FOLDER`: write a dataset's images as PNG files, one
sub-folder per class when it is labelled (the layout `folder:` datasets and uploads read).

    python -m training.export digits my-digits          # my-digits/0/0000.png ... 9/...
    python -m training.export mnist-5k:test held-out

A quick way to try the bring-your-own-images flow with real pictures; it refuses a folder
that already holds files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from models.output import to_uint8_images
from training.datasets import load_dataset
from training.errors import GanError


def export(spec: str, folder: Path) -> int:
    """The number of images written."""
    dataset = load_dataset(spec)
    if dataset.kind != "image" or dataset.data is None or dataset.stack > 1:
        raise GanError(f"{spec!r} is not a set of stored images; nothing to export")
    if folder.exists() and any(folder.iterdir()):
        raise GanError(f"{str(folder)!r} is not empty; choose a new folder")
    pixels = to_uint8_images(dataset.data)  # (N, H, W, C)
    labels = dataset.labels.tolist() if dataset.labels is not None else [None] * len(pixels)
    for i, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        target = folder / dataset.classes[label] if label is not None else folder
        target.mkdir(parents=True, exist_ok=True)
        grey = image.shape[-1] == 1
        Image.fromarray(image[..., 0] if grey else image).save(target / f"{i:05d}.png")
    return len(pixels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__)
    parser.add_argument("spec", help="A dataset spec, e.g. digits or mnist-5k:test.")
    parser.add_argument("folder", type=Path, help="Where the PNG files go (new or empty).")
    args = parser.parse_args(argv)
    try:
        count = export(args.spec, args.folder)
    except GanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{count} images of {args.spec} written to {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
