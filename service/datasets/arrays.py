"""Checks of uploaded arrays (.npy, and each array of an .npz) read from their headers alone:
nothing that needs pickle, and no shape that claims more bytes than the file holds (numpy
would allocate the claimed size before finding out)."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from service.datasets.archives import ZIP_READ_ERRORS
from service.datasets.limits import refused


def check_npy(path: Path) -> None:
    with path.open("rb") as f:
        _check_header(f, "data.npy", path.stat().st_size)


def check_npz(zf: zipfile.ZipFile) -> None:
    """Every array of an .npz whose entries were checked as archive entries already."""
    for info in zf.infolist():
        if info.is_dir():
            continue
        with zf.open(info) as f:
            _check_header(f, info.filename, info.file_size)


def _check_header(f: BinaryIO, what: str, size: int) -> None:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:  # 2.0 and 3.0 differ only in the header's text encoding
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
    except ZIP_READ_ERRORS as exc:  # OSError and ValueError cover a bare .npy's
        raise refused(what, f"the array cannot be read: {exc}") from None
    if dtype.hasobject:
        raise refused(
            what,
            f"the array has dtype {dtype}, which only pickle can load, and uploads are never "
            "unpickled; store numbers (uint8 images, float vectors, integer labels)",
        )
    claimed = math.prod(shape) * dtype.itemsize
    held = size - f.tell()
    if claimed > held:
        raise refused(
            what,
            f"the array's header declares shape {tuple(shape)} of {dtype} ({claimed:,} bytes) "
            f"but only {held:,} bytes follow it",
        )
