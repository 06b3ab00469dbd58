"""A dataset upload's body: a file as it is, or a folder packed into a tar on the fly.

The tar is streamed: headers are made up front (so the length is known and sent as
Content-Length), and each file is read in chunks while the body is sent, so a folder of any size
takes a chunk of memory, not the folder's. Entries are the folder's files by their paths inside
it ('7/0001.png'), sorted; hidden files and folders (a leading '.') are left out.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

from gan_client.calls import Upload

CHUNK = 1 << 20
BLOCK = tarfile.BLOCKSIZE  # 512: each member's data is padded to whole blocks


def prepare_upload(path: str | os.PathLike[str]) -> Upload:
    path = Path(path)
    if path.is_dir():
        return _folder(path)
    if path.is_file():
        size = path.stat().st_size
        return Upload(size, lambda: _file_chunks(path, size))
    raise FileNotFoundError(f"{path}: no such file or folder")


def _file_chunks(path: Path, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of the file, in chunks; an error if it changed size meanwhile."""
    left = size
    with path.open("rb") as f:
        while left:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                raise OSError(f"{path} shrank while it was being sent ({size - left} of {size})")
            left -= len(chunk)
            yield chunk
        if f.read(1):
            raise OSError(f"{path} grew while it was being sent (more than {size} bytes)")


def _visible_files(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder, f) for f in sorted(files) if not f.startswith(".")]
    files = [p for p in found if p.is_file()]  # follows links to files; drops sockets, fifos
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _folder(root: Path) -> Upload:
    members: list[tuple[bytes, Path, int]] = []
    for path in _visible_files(root):
        stat = path.stat()
        info = tarfile.TarInfo(path.relative_to(root).as_posix())
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        members.append((header, path, info.size))
    if not members:
        raise ValueError(f"{root}: the folder holds no files to upload")
    # Two zero blocks end the archive (no padding to tar's 10 KiB records: readers need none).
    length = sum(len(header) + _padded(size) for header, _, size in members) + 2 * BLOCK

    def chunks() -> Iterator[bytes]:
        for header, path, size in members:
            yield header
            yield from _file_chunks(path, size)
            if pad := _padded(size) - size:
                yield bytes(pad)
        yield bytes(2 * BLOCK)

    return Upload(length, chunks)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def counted(upload: Upload, progress: Callable[[int], object]) -> Upload:
    """The same body, calling `progress(bytes)` after each chunk is handed over."""

    def chunks() -> Iterator[bytes]:
        for chunk in upload.chunks():
            yield chunk
            progress(len(chunk))

    return Upload(upload.length, chunks, upload.content_type)
