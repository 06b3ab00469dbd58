"""Checks of one archive's entries, and the writer of its images (zip or tar alike).

Every entry is counted and checked before anything of it is written: a relative path that
stays inside the archive, a regular file or a folder (links, devices, fifos are refused), and
its declared size against the limits. While an image is written its real bytes are counted
again (a header may lie), and its pixel count is read from its header before anything decodes
it. Images land under `root` with their archive paths; `finish` moves them into place.
"""

from __future__ import annotations

import errno
import os
import re
import warnings
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from service.datasets.limits import DISK_FULL, Limits, refused
from service.errors import StorageFull, UploadTooLarge

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_FORMATS = ["PNG", "JPEG"]
COPY_CHUNK = 1 << 20
_SKIPPED_SHOWN = 5
_DRIVE = re.compile(r"^[A-Za-z]:")
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


def entry_path(raw: str) -> PurePosixPath:
    """The entry's path inside the archive; refuses absolute paths and '..'. Backslashes
    count as separators (archives made on Windows)."""
    name = raw.replace("\\", "/")
    if "\x00" in name:
        raise refused(raw, "an archive entry's name holds a NUL character")
    if name.startswith("/") or _DRIVE.match(name):
        raise refused(raw, "an archive entry has an absolute path; entries must be relative")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise refused(raw, "an archive entry's path climbs out of the archive with '..'")
    return PurePosixPath(*parts)


class Unpacker:
    """Counts and checks the entries of one archive and writes its images under `root`."""

    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.limits = limits
        self.entries = 0
        self.declared = 0  # bytes the entries' headers declare
        self.written = 0  # bytes really written
        self.images: dict[PurePosixPath, str] = {}  # path under root -> name in the archive
        self.skipped: list[str] = []

    def check(self, raw: str, kind: str, size: int, packed: int | None) -> PurePosixPath | None:
        """Count and check one entry: its path, or None for a folder. `kind`: 'file', 'dir',
        or what else it is ('symbolic link', 'fifo', ...); `packed`: its compressed size
        when the format has one per entry (zip)."""
        self.entries += 1
        if self.entries > self.limits.max_files:
            raise UploadTooLarge(
                f"the archive holds more than {self.limits.max_files:,} entries "
                "(GAN_MAX_UPLOAD_FILES)"
            )
        path = entry_path(raw)
        if kind in ("symbolic link", "hard link"):
            raise refused(raw, f"an archive entry is a {kind}; links of any kind are refused")
        if kind not in ("file", "dir"):
            raise refused(
                raw, f"an archive entry is a {kind}; only regular files and folders are allowed"
            )
        if kind == "dir":
            return None
        if not path.parts:
            raise refused(raw, "an archive entry has no name")
        self.declared += size
        if self.declared > self.limits.max_unpacked_bytes:
            raise UploadTooLarge(
                f"the archive declares more than {self.limits.max_unpacked_bytes:,} unpacked "
                f"bytes (GAN_MAX_UNPACKED_BYTES), passed at entry {raw!r}"
            )
        if packed is not None and size > self.limits.max_ratio * packed:
            raise UploadTooLarge(self._bomb(raw, size, packed))
        return path

    def wants(self, raw: str, path: PurePosixPath) -> bool:
        """Whether the entry is an image to keep (hidden files and __MACOSX are not)."""
        hidden = any(p.startswith(".") or p == "__MACOSX" for p in path.parts)
        if path.suffix.lower() in IMAGE_SUFFIXES and not hidden:
            return True
        if len(self.skipped) < _SKIPPED_SHOWN:
            self.skipped.append(raw)
        return False

    def write(self, raw: str, path: PurePosixPath, src: BinaryIO, packed: int | None) -> None:
        target = self.root.joinpath(*path.parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            out = target.open("xb")
        except OSError as exc:
            raise self._os_error(raw, exc) from None
        with out:
            size = 0
            while chunk := src.read(COPY_CHUNK):
                size += len(chunk)
                self.written += len(chunk)
                if self.written > self.limits.max_unpacked_bytes:
                    raise UploadTooLarge(
                        f"the archive unpacks to more than {self.limits.max_unpacked_bytes:,} "
                        f"bytes (GAN_MAX_UNPACKED_BYTES), passed at entry {raw!r}"
                    )
                if packed is not None and size > self.limits.max_ratio * packed:
                    raise UploadTooLarge(self._bomb(raw, size, packed))
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise self._os_error(raw, exc) from None
        self.images[path] = raw
        check_image(target, raw, self.limits.max_image_pixels)

    def finish(self, images_dir: Path, what: str) -> dict[str, str]:
        """Move the images to `images_dir`, without the folders that all of them share (a
        zipped `faces/cat/1.png` becomes `cat/1.png`, so `cat` is a class); returns each
        image's path there -> its name in the archive."""
        if not self.images:
            plural = "entry" if self.entries == 1 else "entries"
            seen = f"; it holds {self.entries:,} {plural}" if self.entries else " (it is empty)"
            if self.skipped:
                seen += ", e.g. " + ", ".join(repr(s) for s in self.skipped)
            raise refused(what, f"the archive holds no PNG or JPEG images{seen}")
        paths = list(self.images)
        depth = 0
        while all(len(p.parts) > depth + 1 for p in paths) and (
            len({p.parts[depth] for p in paths}) == 1
        ):
            depth += 1
        os.rename(self.root.joinpath(*paths[0].parts[:depth]), images_dir)
        return {PurePosixPath(*p.parts[depth:]).as_posix(): raw for p, raw in self.images.items()}

    def _bomb(self, raw: str, size: int, packed: int) -> str:
        return (
            f"archive entry {raw!r} unpacks {packed:,} bytes to {size:,} or more, over "
            f"{self.limits.max_ratio:g} times its packed size (a zip bomb?)"
        )

    @staticmethod
    def _os_error(raw: str, exc: OSError) -> Exception:
        if exc.errno in _FULL_DISK:
            return StorageFull(DISK_FULL)
        if isinstance(exc, FileExistsError | NotADirectoryError | IsADirectoryError):
            return refused(
                raw,
                "an archive entry's path is taken by another entry (the same file twice, or a "
                "file and a folder of the same name)",
            )
        return refused(raw, f"an archive entry cannot be written: {exc.strerror or exc}")


def check_image(path: Path, raw: str, max_pixels: int) -> None:
    """A PNG or JPEG of at most `max_pixels`, told from its header (nothing is decoded);
    a truncated body is found later, by the loader."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:
        raise refused(raw, f"the image is over the {max_pixels:,}-pixel limit: {exc}") from None
    except UnidentifiedImageError:
        raise refused(raw, "the file is not a PNG or JPEG image") from None
    except (OSError, ValueError, SyntaxError) as exc:
        reason = str(exc).replace(str(path), raw)  # no host paths in answers
        raise refused(raw, f"the image cannot be read: {reason}") from None
    if width * height > max_pixels:
        raise refused(
            raw,
            f"the image is {width}x{height} = {width * height:,} pixels, over the "
            f"{max_pixels:,}-pixel limit (a decompression bomb?)",
        )
