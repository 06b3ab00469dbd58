"""The limits an upload is held to, and the errors that name a broken one."""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import FieldError
from service.settings import Settings

MAX_RATIO = 100  # unpacked / packed bytes of one entry; deflate manages ~1000 on zeros
MAX_IMAGE_PIXELS = 50_000_000  # per image, read from its header before anything decodes it
DISK_FULL = "no space left for the upload in the data root; try later"


@dataclass(frozen=True)
class Limits:
    max_files: int
    max_unpacked_bytes: int
    max_ratio: float = MAX_RATIO
    max_image_pixels: int = MAX_IMAGE_PIXELS

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.max_upload_files, settings.max_unpacked_bytes)


def refused(what: str, message: str) -> FieldError:
    """A 422 on the body: `message` says what is wrong, `what` (an archive entry, an array)
    is echoed as the input, so the answer reads 'body: <message> (got '<what>')'."""
    return FieldError("", _printable(what), _printable(message), location="body")


def _printable(text: str) -> str:
    """Tar entry names may hold bytes that are not UTF-8 (read as lone surrogates), which a
    JSON answer cannot carry: they are shown as backslash escapes."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
