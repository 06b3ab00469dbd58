"""Builders for dataset uploads (PNGs, zips, tars, arrays) and an in-process app to send them
to: the real app with its lifespan, through Starlette's TestClient."""

from __future__ import annotations

import contextlib
import io
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

API_KEY = "upload-key"
KEY = {"Authorization": f"Bearer {API_KEY}"}


@contextlib.contextmanager
def app_client(tmp: Path, **settings: Any) -> Iterator[Any]:
    """A TestClient on `create_app(Settings(...))` in `tmp` (no Redis: the jobs routes answer
    503), with its lifespan started and stopped."""
    with warnings.catch_warnings():  # Starlette's notice that it would rather have httpx2
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import Settings

    values = {"model_dir": tmp / "models", "data_root": tmp / "data", "var_dir": tmp / "var",
              "device": "cpu", "api_keys": [API_KEY], "redis_url": ""} | settings  # fmt: skip
    with TestClient(create_app(Settings(**values))) as client:
        yield client


def png(colour: tuple[int, int, int] = (200, 30, 30), size: int = 8) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), colour, np.uint8)).save(out, "PNG")
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds none (a decompression bomb's
    header: nothing to decode, but a decoder would allocate it all)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def class_images(per_class: int = 16, classes: Iterable[str] = ("cat", "dog")) -> dict[str, bytes]:
    """`{'cat/00.png': ..., 'dog/00.png': ...}`: distinct small PNGs, one folder per class."""
    files = {}
    for c, name in enumerate(classes):
        for i in range(per_class):
            files[f"{name}/{i:02d}.png"] = png((40 + 100 * c, 8 * i, 60))
    return files


def zip_bytes(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return out.getvalue()


def tar_bytes(members: Iterable[tarfile.TarInfo | tuple[str, bytes]], gz: bool = False) -> bytes:
    """A tar (or tar.gz) of (name, data) files and ready-made TarInfos (links, fifos)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def npz_bytes(**arrays: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def tree(root: Path) -> list[str]:
    """Every path under `root` (empty when it does not exist), to compare before and after."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
