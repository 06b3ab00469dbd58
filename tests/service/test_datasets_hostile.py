"""Hostile and broken uploads: each is a 4xx whose message names the problem (and the entry),
shows no host path, and leaves nothing in uploads/ (the temporary folder goes every time)."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pytest
from upload_helpers import (
    KEY,
    app_client,
    class_images,
    npy_bytes,
    npz_bytes,
    png,
    png_header,
    tar_bytes,
    tree,
    zip_bytes,
)

from service.datasets.archives import count_zip_entries
from service.datasets.entries import Unpacker
from service.datasets.limits import Limits
from service.errors import UploadTooLarge

MAX_UPLOAD = 200_000
MAX_FILES = 64
MAX_UNPACKED = 4 * 2**20


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def client(tmp: Path) -> Iterator[Any]:
    limits = {"max_upload_bytes": MAX_UPLOAD, "max_upload_files": MAX_FILES,
              "max_unpacked_bytes": MAX_UNPACKED}  # fmt: skip
    with app_client(tmp, **limits) as c:
        yield c


def refused(client: Any, tmp: Path, body: Any, status: int, *needles: str) -> str:
    """Upload `body`; assert the status, that the message holds every needle and no host
    path, and that uploads/ is as it was. Returns the message."""
    uploads = tmp / "data" / "uploads"
    before = tree(uploads)
    answer = client.post("/datasets/hostile", content=body, headers=KEY)
    assert answer.status_code == status, answer.text
    reply = answer.json()
    message = reply.get("message") or reply["detail"]
    for needle in needles:
        assert needle in message, message
    assert str(tmp) not in answer.text
    assert tree(uploads) == before
    return message


def good() -> dict[str, bytes]:
    return class_images(8)


def member(name: str, kind: bytes, **fields: Any) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


# ---- paths and entry kinds ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("/etc/evil.png", "absolute path"),
        ("C:\\evil.png", "absolute path"),
        ("../evil.png", "climbs out of the archive with '..'"),
        ("cat/../../evil.png", "climbs out of the archive with '..'"),
        ("..\\evil.png", "climbs out of the archive with '..'"),
    ],
)
def test_zip_entries_outside_the_archive_are_422(
    client: Any, tmp: Path, entry: str, problem: str
) -> None:
    body = zip_bytes(good() | {entry: png()})
    message = refused(client, tmp, body, 422, problem, repr(entry))
    assert message.startswith("body: ")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (("/abs.png", png()), "absolute path"),
        (("../up.png", png()), "climbs out of the archive"),
        (member("cat/link.png", tarfile.SYMTYPE, linkname="/etc/passwd"), "symbolic link"),
        (member("cat/hard.png", tarfile.LNKTYPE, linkname="cat/00.png"), "hard link"),
        (member("cat/pipe.png", tarfile.FIFOTYPE), "fifo"),
        (member("cat/dev.png", tarfile.CHRTYPE, devmajor=1, devminor=3), "character device"),
    ],
    ids=["absolute", "dotdot", "symlink", "hardlink", "fifo", "device"],
)
def test_tar_entries_that_are_not_plain_files_inside_are_422(
    client: Any, tmp: Path, entry: Any, problem: str
) -> None:
    name = entry.name if isinstance(entry, tarfile.TarInfo) else entry[0]
    for gz in (False, True):
        body = tar_bytes([*good().items(), entry], gz=gz)
        refused(client, tmp, body, 422, problem, repr(name))


def test_an_entry_name_that_is_not_utf8_is_echoed_escaped(client: Any, tmp: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("cat/\udcff/../../evil.png")  # the byte 0xff, as tar holds it
        info.size = 4
        tf.addfile(info, io.BytesIO(b"data"))
    before = tree(tmp / "data" / "uploads")
    answer = client.post("/datasets/hostile", content=out.getvalue(), headers=KEY)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["input"] == "cat/\\xff/../../evil.png"
    assert "climbs out" in answer.json()["message"]
    assert tree(tmp / "data" / "uploads") == before


def test_a_zip_symlink_is_422(client: Any, tmp: Path) -> None:
    link = zipfile.ZipInfo("cat/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in good().items():
            zf.writestr(name, data)
        zf.writestr(link, "/etc/passwd")
    refused(client, tmp, out.getvalue(), 422, "symbolic link", "'cat/link.png'")


def test_a_name_used_twice_is_422(client: Any, tmp: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        for name, data in good().items():
            zf.writestr(name, data)
        zf.writestr("cat/00.png", png())
    refused(client, tmp, out.getvalue(), 422, "taken by another entry", "'cat/00.png'")


# ---- sizes: bodies, entry counts, bombs ---------------------------------------------------


def test_a_body_over_the_upload_limit_is_413_from_content_length(client: Any, tmp: Path) -> None:
    body = b"PK\x03\x04" + bytes(MAX_UPLOAD)
    refused(client, tmp, body, 413, f"{MAX_UPLOAD}-byte limit (GAN_MAX_UPLOAD_BYTES)")


def test_a_chunked_body_over_the_upload_limit_is_413_while_streaming(
    client: Any, tmp: Path
) -> None:
    chunks = (bytes(16_384) for _ in range(MAX_UPLOAD // 16_384 + 2))  # no Content-Length
    refused(client, tmp, chunks, 413, "GAN_MAX_UPLOAD_BYTES")


def test_too_many_entries_are_413(client: Any, tmp: Path) -> None:
    many = {f"x/{i:03d}.png": png() for i in range(MAX_FILES + 1)}
    refused(client, tmp, zip_bytes(many, zipfile.ZIP_STORED), 413, "GAN_MAX_UPLOAD_FILES")
    refused(client, tmp, tar_bytes(many.items()), 413, "GAN_MAX_UPLOAD_FILES")


def test_a_zip_bomb_over_the_unpacked_limit_is_413_from_its_declared_size(
    client: Any, tmp: Path
) -> None:
    body = zip_bytes({"zeros.png": bytes(2 * MAX_UNPACKED)})  # 8 MiB of zeros: ~8 KB packed
    assert len(body) < MAX_UPLOAD
    refused(client, tmp, body, 413, "GAN_MAX_UNPACKED_BYTES", "'zeros.png'")


def test_an_entry_inflating_over_100_times_is_413(client: Any, tmp: Path) -> None:
    body = zip_bytes(good() | {"cat/zeros.png": bytes(2 * 2**20)})  # under the total, ~1000x
    refused(client, tmp, body, 413, "over 100 times its packed size", "'cat/zeros.png'")


def test_a_gzip_bomb_is_413_from_the_bytes_it_really_unpacks(client: Any, tmp: Path) -> None:
    """A tar.gz has no per-entry packed size: the stream's ratio is judged as it inflates."""
    body = tar_bytes([*good().items(), ("padding.bin", bytes(2 * 2**20))], gz=True)
    refused(client, tmp, body, 413, "gzip bomb")


def test_a_zip_entry_that_understates_its_size_is_refused(client: Any, tmp: Path) -> None:
    """Headers that claim 100 bytes for 1 MiB: no more than 100 are ever written (the CRC
    then fails)."""
    body = bytearray(zip_bytes({"liar.png": bytes(2**20)}))
    local, central = 0, body.index(b"PK\x01\x02")
    body[local + 22 : local + 26] = (100).to_bytes(4, "little")  # uncompressed size
    body[central + 24 : central + 28] = (100).to_bytes(4, "little")
    refused(client, tmp, bytes(body), 422, "'liar.png'")


def test_unpacking_counts_the_bytes_really_written(tmp_path: Path) -> None:
    unpacker = Unpacker(tmp_path, Limits(max_files=10, max_unpacked_bytes=1000))
    path = unpacker.check("a.png", "file", 10, None)  # the header says 10 bytes
    assert path == PurePosixPath("a.png")
    with pytest.raises(UploadTooLarge, match="unpacks to more than 1,000 bytes"):
        unpacker.write("a.png", path, io.BytesIO(bytes(5000)), None)


def test_zip_entries_are_counted_without_reading_the_whole_directory(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    path.write_bytes(zip_bytes({f"{i}.png": b"" for i in range(500)}, zipfile.ZIP_STORED))
    assert count_zip_entries(path, stop_after=10_000) == 500
    assert count_zip_entries(path, stop_after=65) == 65


# ---- images and arrays --------------------------------------------------------------------


def test_a_decompression_bomb_image_is_422_before_it_is_decoded(client: Any, tmp: Path) -> None:
    body = zip_bytes(good() | {"cat/huge.png": png_header(20_000, 20_000)})
    refused(client, tmp, body, 422, "pixel limit", "'cat/huge.png'")
    body = zip_bytes(good() | {"cat/big.png": png_header(8000, 8000)})  # PIL alone allows it
    refused(client, tmp, body, 422, "8000x8000 = 64,000,000 pixels", "50,000,000-pixel limit")


def test_a_truncated_image_is_422_from_the_loader(client: Any, tmp: Path) -> None:
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 255, size=(32, 32, 3), dtype=np.uint8)
    whole = io.BytesIO()
    Image.fromarray(noise).save(whole, "PNG")
    body = zip_bytes(good() | {"cat/cut.png": whole.getvalue()[:1500]})  # of ~3 KB
    refused(client, tmp, body, 422, "cannot be read", "cat/cut.png")


def test_a_file_that_is_not_png_or_jpeg_is_422(client: Any, tmp: Path) -> None:
    from PIL import Image

    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    body = zip_bytes(good() | {"cat/fake.png": gif.getvalue()})
    refused(client, tmp, body, 422, "not a PNG or JPEG", "'cat/fake.png'")


def test_arrays_that_need_pickle_are_422(client: Any, tmp: Path) -> None:
    objects = np.array([{"a": 1}] * 20, dtype=object)
    refused(client, tmp, npy_bytes(objects), 422, "dtype object", "pickle")
    body = npz_bytes(x=objects, y=np.zeros(20, np.int64))
    refused(client, tmp, body, 422, "dtype object", "'x.npy'")


def test_an_array_header_claiming_more_than_the_file_holds_is_422(client: Any, tmp: Path) -> None:
    body = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": (9_999_999_999, 2)}
    np.lib.format.write_array_header_1_0(body, header)
    body.write(np.zeros((20, 2), np.float32).tobytes())  # 160 bytes
    refused(client, tmp, body.getvalue(), 422, "(9999999999, 2)", "only 160 bytes follow")


def test_an_npz_whose_data_is_corrupt_past_its_header_is_422(client: Any, tmp: Path) -> None:
    packed = io.BytesIO()
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    np.savez_compressed(packed, x=x)
    body = bytearray(packed.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(body))) as zf:
        info = zf.getinfo("x.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    middle = start + info.compress_size // 2
    body[middle : middle + 16] = bytes(16)  # the header inflates; the data past it does not
    refused(client, tmp, bytes(body), 422, "cannot be read")


# ---- not a dataset at all -----------------------------------------------------------------


def test_an_empty_body_is_422(client: Any, tmp: Path) -> None:
    refused(client, tmp, b"", 422, "the request body is empty")


def test_an_unknown_format_is_422(client: Any, tmp: Path) -> None:
    refused(client, tmp, b"hello, world\n" * 50, 422, "not a format the service reads", "zip")


def test_gzip_that_is_not_a_tar_is_422(client: Any, tmp: Path) -> None:
    refused(client, tmp, gzip.compress(png() * 4), 422, "tar.gz archive cannot be read")


def test_an_archive_without_images_is_422(client: Any, tmp: Path) -> None:
    body = zip_bytes({"notes/a.txt": b"a", "notes/b.csv": b"1,2"})
    refused(client, tmp, body, 422, "no PNG or JPEG images", "'notes/a.txt'")
    refused(client, tmp, zip_bytes({}), 422, "no PNG or JPEG images", "empty")
    refused(client, tmp, tar_bytes([("readme.md", b"# hi")]), 422, "no PNG or JPEG images")


def test_too_few_images_for_training_is_422_from_the_loader(client: Any, tmp: Path) -> None:
    body = zip_bytes(class_images(2))
    refused(client, tmp, body, 422, "has 4 samples; at least 16 are needed", "uploads/hostile")
