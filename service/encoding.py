"""Samples to bytes: PNG, JPEG, WebP, a ZIP of PNGs, a PNG grid, JSON, raw .npy; points as JSON;
a latent walk's frames as an animated GIF or WebP.

Every encoder is a pure function of its input, so the same samples give the same bytes (ZIP
entries carry a fixed timestamp). They run in a thread pool, off the event loop; zlib and
Pillow release the GIL while they compress, so the pool uses every core.

A sample's PNG is written here directly (8-bit grey or RGB, rows unfiltered, one zlib
stream): for the small images a generator makes, Pillow (an image object, then a filter
chosen per row) took 2.7x this writer's time at level 1 and made files no smaller. A grid is
large and enlarged by repeating pixels, where Pillow's row filters make the file up to a
fifth smaller, so grids, like JPEG, WebP and animations, go through Pillow.
"""

from __future__ import annotations

import base64
import io
import json
import math
import struct
import zipfile
import zlib
from collections.abc import Sequence
from typing import Literal

import numpy as np
from PIL import Image

Format = Literal["png", "jpeg", "webp", "zip", "grid", "json", "npy"]
IMAGE_FORMATS: tuple[Format, ...] = ("png", "jpeg", "webp", "zip", "grid", "json", "npy")
VECTOR_FORMATS: tuple[Format, ...] = ("json", "npy")
SINGLE_IMAGE_FORMATS: tuple[Format, ...] = ("png", "jpeg", "webp")
MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "zip": "application/zip",
    "grid": "image/png",
    "json": "application/json",
    "npy": "application/x-npy",
    "gif": "image/gif",
}
JPEG_QUALITY = 92
WEBP_QUALITY = 90
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same samples give the same archive


def _image(pixels: np.ndarray) -> Image.Image:
    """(H, W, C) uint8 -> a Pillow image, L for one channel, RGB for three."""
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPE = {1: 0, 3: 2}  # channels -> greyscale, truecolour
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk and its CRC


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png(pixels: np.ndarray, compress_level: int) -> bytes:
    """(H, W, C) uint8, C 1 or 3 -> a PNG (see the module's docstring)."""
    h, w, c = pixels.shape
    rows = np.zeros((h, 1 + w * c), dtype=np.uint8)  # each row: filter type 0, then its bytes
    rows[:, 1:] = pixels.reshape(h, w * c)
    header = struct.pack(">IIBBBBB", w, h, 8, _PNG_COLOUR_TYPE[c], 0, 0, 0)
    return b"".join((
        _PNG_SIGNATURE,
        _png_chunk(b"IHDR", header),
        _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), compress_level)),
        _PNG_END,
    ))  # fmt: skip


def _pillow_png(pixels: np.ndarray, compress_level: int) -> bytes:
    buf = io.BytesIO()
    _image(pixels).save(buf, "PNG", compress_level=compress_level)
    return buf.getvalue()


def jpeg(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    _image(pixels).save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def webp(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    _image(pixels).save(buf, "WEBP", quality=WEBP_QUALITY, method=4)
    return buf.getvalue()


def pngs(images: np.ndarray, compress_level: int) -> list[bytes]:
    """(n, H, W, C) uint8 -> n PNG files."""
    return [png(img, compress_level) for img in images]


def sample_name(seed: int, index: int) -> str:
    return f"seed-{seed}-{index}.png"


def zip_of_pngs(files: Sequence[bytes], seed: int, offset: int) -> bytes:
    """PNGs stored (not deflated again) as seed-<seed>-<offset + i>.png."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for i, data in enumerate(files):
            info = zipfile.ZipInfo(sample_name(seed, offset + i), date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buf.getvalue()


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns): ceil(sqrt(n)) columns, as many rows as needed."""
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


GRID_TILE_PX = 64  # the default scale makes each sample at least this wide (8x8 digits: 8x)


def grid_scale(height: int, width: int) -> int:
    """The default upscaling of a grid: samples at least GRID_TILE_PX wide."""
    return max(1, math.ceil(GRID_TILE_PX / max(height, width)))


def grid(images: np.ndarray, compress_level: int, scale: int = 1, padding: int = 0) -> bytes:
    """One PNG of the samples in row-major order, each enlarged `scale` times by nearest
    neighbour, with `padding` white pixels between and around them; empty cells are black."""
    n, h, w, c = images.shape
    rows, cols = grid_shape(n)
    tiles = np.zeros((rows * cols, h, w, c), dtype=np.uint8)
    tiles[:n] = images
    if scale > 1:
        tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)  # (cells, h*s, w*s, c)
    th, tw = h * scale, w * scale
    canvas = np.full(
        (rows * th + (rows + 1) * padding, cols * tw + (cols + 1) * padding, c), 255, np.uint8
    )
    for i in range(rows * cols):
        r, q = divmod(i, cols)
        top, left = padding + r * (th + padding), padding + q * (tw + padding)
        canvas[top : top + th, left : left + tw] = tiles[i]
    return _pillow_png(canvas, compress_level)  # row filters pay on large, enlarged images


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def images_json(files: Sequence[bytes], header: dict, seed: int, offset: int) -> bytes:
    samples = [
        {"index": offset + i, "seed": seed, "media_type": "image/png",
         "png_base64": base64.b64encode(data).decode("ascii")}
        for i, data in enumerate(files)
    ]  # fmt: skip
    return json.dumps({**header, "samples": samples}, separators=(",", ":")).encode()


def points_json(points: np.ndarray, header: dict) -> bytes:
    """(n, D) float32 -> {"...header", "points": [[x, y], ...]}; float32 values printed exactly."""
    return json.dumps({**header, "points": points.tolist()}, separators=(",", ":")).encode()


def animation(images: np.ndarray, fmt: Literal["gif", "webp"], frame_ms: int) -> bytes:
    """(n, H, W, C) uint8 -> an animated GIF or lossless WebP that loops forever."""
    frames = [_image(img) for img in images]
    buf = io.BytesIO()
    options = {"lossless": True, "method": 4} if fmt == "webp" else {"optimize": False}
    frames[0].save(buf, fmt.upper(), save_all=True, append_images=frames[1:],
                   duration=frame_ms, loop=0, **options)  # fmt: skip
    return buf.getvalue()


def zip_of_frames(files: Sequence[bytes]) -> bytes:
    """A walk's PNG frames as frame-000.png, frame-001.png, ..."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for k, data in enumerate(files):
            info = zipfile.ZipInfo(f"frame-{k:03d}.png", date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buf.getvalue()


def frames_json(files: Sequence[bytes], header: dict) -> bytes:
    frames = [
        {"frame": k, "media_type": "image/png", "png_base64": base64.b64encode(data).decode()}
        for k, data in enumerate(files)
    ]
    return json.dumps({**header, "frames": frames}, separators=(",", ":")).encode()
