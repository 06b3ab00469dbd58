"""Reading uploaded zip and tar (or tar.gz) archives entry by entry, through the Unpacker's
checks. Nothing is extracted with the libraries' own extract functions: every byte written
goes through `Unpacker.write`."""

from __future__ import annotations

import gzip
import lzma
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from service.datasets.entries import Unpacker
from service.datasets.limits import Limits, refused
from service.errors import UploadTooLarge

GZIP_RATIO_FLOOR = 1 << 20  # unpacked bytes before a tar.gz stream's ratio is judged
# What reading a broken zip entry raises, by compression method (stored, deflate, bzip2, lzma).
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                   NotImplementedError, ValueError)  # fmt: skip

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL_HEADER_SIZE = 46
_SPECIAL = {
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}


# ---- zip ----------------------------------------------------------------------------------


def count_zip_entries(path: Path, stop_after: int) -> int:
    """The entries of a zip's central directory, counted header by header up to
    `stop_after`, without building zipfile's object per entry (~500 bytes each: 1.5 GB for a
    256 MiB upload of empty entries). 0 when there is no directory (zipfile then says why)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        tail_len = min(size, _EOCD.size + 0xFFFF)  # the record, then at most a 64 KiB comment
        f.seek(size - tail_len)
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < _EOCD.size:
            return 0
        cd_end = size - tail_len + at
        cd_size = _EOCD.unpack_from(tail, at)[5]
        zip64_at = cd_end - _ZIP64_LOCATOR_SIZE - _ZIP64_EOCD.size
        if zip64_at >= 0:
            f.seek(zip64_at)
            record = f.read(_ZIP64_EOCD.size)
            if record[:4] == b"PK\x06\x06":
                cd_end, cd_size = zip64_at, _ZIP64_EOCD.unpack(record)[8]
        count, pos = 0, cd_end - cd_size
        if pos < 0:
            return 0
        f.seek(pos)
        while pos < cd_end and count < stop_after:
            header = f.read(_CENTRAL_HEADER_SIZE)
            if len(header) < _CENTRAL_HEADER_SIZE or header[:4] != b"PK\x01\x02":
                break
            skip = sum(struct.unpack_from("<3H", header, 28))  # name, extra, comment lengths
            f.seek(skip, 1)
            pos += _CENTRAL_HEADER_SIZE + skip
            count += 1
        return count


def open_zip(path: Path, limits: Limits) -> zipfile.ZipFile:
    if count_zip_entries(path, limits.max_files + 1) > limits.max_files:
        raise UploadTooLarge(
            f"the archive holds more than {limits.max_files:,} entries (GAN_MAX_UPLOAD_FILES)"
        )
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise refused("zip", f"the zip archive cannot be read: {exc}") from None


def zip_files(
    zf: zipfile.ZipFile, unpacker: Unpacker
) -> tuple[list[tuple[zipfile.ZipInfo, PurePosixPath]], bool]:
    """Every entry checked (nothing written yet): the files among them with their paths, and
    whether the zip is an .npz (its files all `.npy` arrays). An .npz's arrays are held to
    the unpacked limit but not to the ratio: they are never unpacked to disk, zipfile reads
    no more than an entry declares, and arrays may compress far beyond 100x (sorted int64
    labels reach ~1000x)."""
    infos = zf.infolist()
    named = [i.filename for i in infos if not i.is_dir()]
    npz = bool(named) and all(n.endswith(".npy") for n in named)
    files = []
    for info in infos:
        if info.flag_bits & 0x1:
            raise refused(info.filename, "an archive entry is encrypted")
        packed = None if npz else info.compress_size
        path = unpacker.check(info.filename, _zip_kind(info), info.file_size, packed)
        if path is not None:
            files.append((info, path))
    return files, npz


def unpack_zip(
    zf: zipfile.ZipFile, files: list[tuple[zipfile.ZipInfo, PurePosixPath]], unpacker: Unpacker
) -> None:
    for info, path in files:
        if not unpacker.wants(info.filename, path):
            continue
        try:
            with zf.open(info) as src:
                unpacker.write(info.filename, path, src, info.compress_size)
        except ZIP_READ_ERRORS as exc:  # the Unpacker's own errors are ServiceErrors
            raise refused(info.filename, f"an archive entry cannot be read: {exc}") from None


def _zip_kind(info: zipfile.ZipInfo) -> str:
    """What a zip entry is, from the Unix mode in its external attributes (zero when the
    archiver wrote none: a file, or a folder when the name ends in '/')."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        return "symbolic link"
    if kind in _SPECIAL:
        return _SPECIAL[kind]
    if kind == stat.S_IFDIR or (kind == 0 and info.is_dir()):
        return "dir"
    return "file" if kind in (0, stat.S_IFREG) else "special file"


# ---- tar ----------------------------------------------------------------------------------


class _Metered:
    """The tar bytes the reader takes, counted against GAN_MAX_UNPACKED_BYTES and, for a
    tar.gz, against the packed bytes read so far (a gzip stream has no per-entry sizes)."""

    def __init__(self, source: BinaryIO, packed: BinaryIO | None, limits: Limits) -> None:
        self.source = source
        self.packed = packed
        self.limits = limits
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n)
        self.count += len(data)
        if self.count > self.limits.max_unpacked_bytes:
            raise UploadTooLarge(
                f"the archive unpacks to more than {self.limits.max_unpacked_bytes:,} bytes "
                "(GAN_MAX_UNPACKED_BYTES)"
            )
        if self.packed is not None and self.count > GZIP_RATIO_FLOOR:
            packed = max(1, self.packed.tell())
            if self.count > self.limits.max_ratio * packed:
                raise UploadTooLarge(
                    f"the gzip stream unpacks {packed:,} bytes to {self.count:,} or more, over "
                    f"{self.limits.max_ratio:g} times its packed size (a gzip bomb?)"
                )
        return data


def unpack_tar(path: Path, compressed: bool, unpacker: Unpacker) -> None:
    """Read the archive once, in order (a tar.gz is never decompressed twice): each member
    is checked when its header is read, before its data."""
    what = "tar.gz" if compressed else "tar"
    with path.open("rb") as raw:
        source: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        stream = _Metered(source, raw if compressed else None, unpacker.limits)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tf:  # type: ignore[call-overload]
                for member in tf:
                    path_in = unpacker.check(member.name, _tar_kind(member), member.size, None)
                    if path_in is None or not unpacker.wants(member.name, path_in):
                        continue
                    src = tf.extractfile(member)
                    assert src is not None  # a regular file
                    unpacker.write(member.name, path_in, src, None)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise refused(what, f"the {what} archive cannot be read: {exc}") from None


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symbolic link"
    if member.islnk():
        return "hard link"
    if member.isdir():
        return "dir"
    if member.isreg():
        return "file"
    if member.ischr():
        return "character device"
    if member.isblk():
        return "block device"
    if member.isfifo():
        return "fifo"
    return "special file"
