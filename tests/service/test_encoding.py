"""The encoders (service/encoding.py): pixels survive a lossless round trip, archives and
grids are laid out as documented, and the same samples always give the same bytes."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from service import encoding

RNG = np.random.default_rng(0)
GRAY = RNG.integers(0, 256, (3, 5, 4, 1), dtype=np.uint8)  # (n, H, W, 1)
RGB = RNG.integers(0, 256, (2, 4, 6, 3), dtype=np.uint8)


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("images", [GRAY, RGB], ids=["gray", "rgb"])
def test_png_and_lossless_formats_round_trip_exactly(images: np.ndarray) -> None:
    for level in (0, 1, 9):
        got = _decoded(encoding.png(images[0], level))
        assert np.array_equal(got.reshape(images[0].shape), images[0])
    assert encoding.png(images[0], 1) == encoding.png(images[0], 1)
    assert _decoded(encoding.jpeg(images[0])).shape[:2] == images[0].shape[:2]  # lossy: size
    assert np.load(io.BytesIO(encoding.npy(images)), allow_pickle=False).tolist() == images.tolist()


@pytest.mark.parametrize(("images", "mode"), [(GRAY, "L"), (RGB, "RGB")], ids=["gray", "rgb"])
def test_a_sample_png_is_8_bit_with_valid_chunk_checksums(images: np.ndarray, mode: str) -> None:
    data = encoding.png(images[0], 6)
    opened = Image.open(io.BytesIO(data))
    assert (opened.format, opened.mode, opened.size) == ("PNG", mode, images.shape[2:0:-1])
    Image.open(io.BytesIO(data)).verify()  # raises on a bad CRC or a missing IEND
    broken = bytearray(data)
    broken[-17] ^= 0xFF  # the last byte of IDAT (IDAT's CRC and IEND follow: 16 bytes)
    with pytest.raises(SyntaxError, match="broken PNG"):
        Image.open(io.BytesIO(bytes(broken))).verify()


def test_a_zip_names_samples_by_seed_and_index_and_is_reproducible() -> None:
    files = encoding.pngs(GRAY, 1)
    data = encoding.zip_of_pngs(files, seed=7, offset=10)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["seed-7-10.png", "seed-7-11.png", "seed-7-12.png"]
    assert [archive.read(n) for n in archive.namelist()] == files
    assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
    assert encoding.zip_of_pngs(files, seed=7, offset=10) == data  # fixed timestamps


@pytest.mark.parametrize(("n", "shape"), [(1, (1, 1)), (2, (1, 2)), (5, (2, 3)), (9, (3, 3))])
def test_grid_shape_is_square_ish(n: int, shape: tuple[int, int]) -> None:
    assert encoding.grid_shape(n) == shape


def test_grid_places_scaled_tiles_with_white_padding_and_black_empty_cells() -> None:
    images = GRAY[:3]  # 3 samples -> 2 x 2 cells, the last empty
    pixels = _decoded(encoding.grid(images, 1, scale=2, padding=1))
    h, w = 5 * 2, 4 * 2
    assert pixels.shape == (2 * h + 3, 2 * w + 3)
    assert (pixels[0] == 255).all() and (pixels[:, 0] == 255).all()  # the padding
    for i, (r, q) in enumerate([(0, 0), (0, 1), (1, 0)]):
        top, left = 1 + r * (h + 1), 1 + q * (w + 1)
        tile = pixels[top : top + h, left : left + w]
        assert np.array_equal(tile, images[i, :, :, 0].repeat(2, 0).repeat(2, 1))
    assert (pixels[h + 2 : 2 * h + 2, w + 2 : 2 * w + 2] == 0).all()  # the empty cell
    assert encoding.grid_scale(8, 8) == 8 and encoding.grid_scale(64, 32) == 1


def test_json_carries_exact_float32_points_and_indexed_images() -> None:
    points = np.array([[0.1, -2.5], [1e-7, 3.0]], dtype=np.float32)
    body = json.loads(encoding.points_json(points, {"model": "m@1"}))
    assert body["model"] == "m@1"
    assert np.array_equal(np.asarray(body["points"], dtype=np.float32), points)

    files = encoding.pngs(GRAY[:2], 1)
    body = json.loads(encoding.images_json(files, {"model": "m@1"}, seed=3, offset=4))
    assert [s["index"] for s in body["samples"]] == [4, 5]
    assert all(s["seed"] == 3 and s["media_type"] == "image/png" for s in body["samples"])


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_animations_hold_every_frame_and_loop(fmt: str) -> None:
    frames = np.stack([np.full((4, 4, 1), v, np.uint8) for v in (0, 128, 255)])
    image = Image.open(io.BytesIO(encoding.animation(frames, fmt, frame_ms=50)))
    assert image.n_frames == 3 and image.info.get("loop") == 0
    for k, value in enumerate((0, 128, 255)):
        image.seek(k)
        assert np.asarray(image.convert("L")).mean() == pytest.approx(value, abs=1)
