"""A dataset upload's body, as a scripted server receives it: a folder becomes a tar (its files
by their paths inside it, hidden ones left out) sent in chunks with a Content-Length; a file
goes as it is; a retried upload sends the whole body again."""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from fake_server import Exchange, FakeServer

from gan_client import AsyncGanClient, GanClient, RetryPolicy
from gan_client.upload import CHUNK, prepare_upload

FAST = RetryPolicy(attempts=2, max_sleep=0.5, backoff=0.01)
MANIFEST = {"name": "faces", "spec": "folder:datasets/faces", "format": "tar", "samples": 3}


def accept(x: Exchange) -> None:
    if x.number == 0:  # the first try is turned away: the whole body must come again
        x.reply(503, {"detail": "busy"}, {"Retry-After": "0"})
    else:
        x.reply(201, MANIFEST)


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    rng = np.random.default_rng(0)
    files = {"a/1.png": rng.bytes(1000), "a/2.png": rng.bytes(512), "b/c/3.png": rng.bytes(1),
             "top.jpg": b"", "b/4.png": rng.bytes(CHUNK + 10)}  # fmt: skip
    root = tmp_path / "faces"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / ".DS_Store").write_bytes(b"junk")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_bytes(b"junk")
    return root, files


def members(body: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_a_folder_is_sent_as_a_streamed_tar(folder) -> None:
    root, files = folder
    sent: list[int] = []
    with FakeServer(accept) as server, GanClient(server.url, "k", retry=FAST) as gan:
        assert gan.upload_dataset("faces", root, progress=sent.append) == MANIFEST
    first, second = server.seen
    assert first.body == second.body and second.path == "/datasets/faces"
    assert second.headers["content-type"] == "application/octet-stream"
    assert int(second.headers["content-length"]) == len(second.body)
    assert "transfer-encoding" not in second.headers
    assert second.headers["authorization"] == "Bearer k"
    assert members(second.body) == files
    assert list(members(second.body)) == sorted(files)
    assert sum(sent) == 2 * len(second.body) and max(sent) <= CHUNK  # streamed in chunks


def test_a_file_is_sent_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "points.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32))
    with FakeServer(accept) as server, GanClient(server.url, retry=FAST) as gan:
        gan.upload_dataset("points", path)
    assert server.seen[-1].body == path.read_bytes()
    assert server.seen[-1].headers["content-length"] == str(path.stat().st_size)


def test_the_async_client_sends_the_same_body(folder) -> None:
    root, _ = folder

    async def main() -> dict:
        async with AsyncGanClient(server.url, retry=FAST) as gan:
            return await gan.upload_dataset("faces", root)

    with FakeServer(accept) as server:
        assert asyncio.run(main()) == MANIFEST
        async_body = server.seen[-1].body
    assert async_body == b"".join(prepare_upload(root).chunks())


def test_nothing_to_send_is_said_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    with pytest.raises(ValueError, match="no files"):
        prepare_upload(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        prepare_upload(tmp_path / "missing")


def test_a_file_that_changes_while_it_is_sent_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "data.npy"
    path.write_bytes(b"x" * 100)
    upload = prepare_upload(path)
    path.write_bytes(b"x" * 10)
    with pytest.raises(OSError, match="shrank"):
        b"".join(upload.chunks())
