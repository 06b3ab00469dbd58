"""What an upload is, told from its first bytes (never from its name or Content-Type)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from service.datasets.limits import refused

Format = Literal["zip", "tar", "tar.gz", "npy"]

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive's end record
GZIP_MAGIC = b"\x1f\x8b"
NPY_MAGIC = b"\x93NUMPY"
TAR_MAGIC_OFFSET = 257  # "ustar" in the first header block (POSIX and GNU tar)
EXPECTED = (
    "expected a zip, tar or tar.gz archive of PNG/JPEG images (optionally one sub-folder per "
    "class), an .npz of arrays or an .npy array"
)


def sniff(path: Path) -> Format:
    """The upload's format; a 422 naming its first bytes when it is none of them."""
    with path.open("rb") as f:
        head = f.read(512)
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(GZIP_MAGIC):
        return "tar.gz"
    if head[TAR_MAGIC_OFFSET : TAR_MAGIC_OFFSET + 5] == b"ustar":
        return "tar"
    raise refused(head[:8].hex(" "), f"the upload is not a format the service reads: {EXPECTED}")
