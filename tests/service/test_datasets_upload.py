"""POST /datasets/{name} with good uploads of every format, and GET /datasets(/{name}): the
manifest, the layout on disk, the spec a job trains on, and names taken or malformed."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
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
    tar_bytes,
    tree,
    zip_bytes,
)

from training.datasets import load_dataset

MANIFEST_KEYS = {"name", "spec", "format", "samples", "image_size", "channels", "shape",
                 "classes", "class_counts", "bytes", "created"}  # fmt: skip


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def client(tmp: Path) -> Iterator[Any]:
    with app_client(tmp) as c:
        yield c


def upload(client: Any, name: str, body: bytes, **headers: str) -> Any:
    return client.post(f"/datasets/{name}", content=body, headers={**KEY, **headers})


def test_a_zip_of_class_folders_is_published_with_its_manifest(client: Any, tmp: Path) -> None:
    files = {f"faces/{k}": v for k, v in class_images().items()}  # zipped with its folder
    files["faces/README.txt"] = b"not an image: left out"
    files["__MACOSX/faces/._00.png"] = b"resource fork"
    body = zip_bytes(files)
    answer = upload(client, "faces", body, **{"Content-Type": "text/plain"})  # not trusted
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == "/datasets/faces"
    manifest = answer.json()
    assert set(manifest) == MANIFEST_KEYS
    assert manifest["spec"] == "folder:uploads/faces/images"
    assert manifest["format"] == "images"
    assert manifest["samples"] == 32 and manifest["bytes"] == len(body)
    assert manifest["classes"] == ["cat", "dog"]
    assert manifest["class_counts"] == {"cat": 16, "dog": 16}
    assert manifest["image_size"] == 64 and manifest["channels"] == 3  # the loader's default
    assert manifest["shape"] == [3, 64, 64]
    folder = tmp / "data" / "uploads" / "faces"
    assert sorted(p.name for p in folder.iterdir()) == ["images", "manifest.json"]
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["cat", "dog"]
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    # The spec is what a job gives: the training loader reads it from the data root.
    data = load_dataset(manifest["spec"], data_root=tmp / "data", image_size=8)
    assert data.classes == ("cat", "dog") and len(data) == 32


def test_tar_and_tar_gz_of_images_are_read_from_their_magic_bytes(client: Any) -> None:
    flat = [(f"{i:02d}.png", png((i, 2 * i, 3 * i))) for i in range(20)]
    for name, gz in (("flat-tar", False), ("flat-tgz", True)):
        answer = upload(client, name, tar_bytes(flat, gz=gz))
        assert answer.status_code == 201, answer.text
        manifest = answer.json()
        assert manifest["spec"] == f"folder:uploads/{name}/images"
        assert manifest["samples"] == 20
        assert manifest["classes"] == [] and manifest["class_counts"] == {}  # unlabelled


def test_arrays_npz_with_labels_and_bare_npy(client: Any, tmp: Path) -> None:
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    y = np.arange(40) % 4
    answer = upload(client, "ring", npz_bytes(x=x, y=y, classes=np.array(list("abcd"))))
    assert answer.status_code == 201, answer.text
    manifest = answer.json()
    assert manifest["spec"] == "npz:uploads/ring/data.npz" and manifest["format"] == "array"
    assert manifest["image_size"] is None and manifest["channels"] is None
    assert manifest["shape"] == [2] and manifest["samples"] == 40
    assert manifest["classes"] == ["a", "b", "c", "d"]
    assert manifest["class_counts"] == {"a": 10, "b": 10, "c": 10, "d": 10}
    assert (tmp / "data" / "uploads" / "ring" / "data.npz").is_file()

    images = np.random.default_rng(1).integers(0, 255, size=(16, 8, 8), dtype=np.uint8)
    answer = upload(client, "grey.npy", npy_bytes(images))
    assert answer.status_code == 201, answer.text
    manifest = answer.json()
    assert manifest["spec"] == "npz:uploads/grey.npy/data.npy"
    assert (manifest["image_size"], manifest["channels"], manifest["shape"]) == (8, 1, [1, 8, 8])


def test_an_npz_compressing_over_100_times_is_an_array_not_a_bomb(client: Any) -> None:
    """Sorted int64 labels deflate ~1000x: the ratio guards unpacking to disk, which an
    .npz never is (its size is still held to GAN_MAX_UNPACKED_BYTES)."""
    x = np.random.default_rng(3).normal(size=(20_000, 2)).astype(np.float32)
    y = np.repeat(np.arange(2, dtype=np.int64), 10_000)
    body = io.BytesIO()
    np.savez_compressed(body, x=x, y=y)
    with zipfile.ZipFile(body) as zf:
        info = zf.getinfo("y.npy")
        assert info.file_size > 100 * info.compress_size
    answer = upload(client, "sorted-labels", body.getvalue())
    assert answer.status_code == 201, answer.text
    assert answer.json()["class_counts"] == {"0": 10_000, "1": 10_000}


def test_list_is_newest_first_and_one_dataset_reads_alone(client: Any) -> None:
    for name in ("older", "newer"):
        assert upload(client, name, zip_bytes(class_images(8))).status_code == 201
    listed = client.get("/datasets")
    assert listed.status_code == 200
    names = [m["name"] for m in listed.json()]
    assert names.index("newer") < names.index("older")
    created = [m["created"] for m in listed.json()]
    assert created == sorted(created, reverse=True)
    one = client.get("/datasets/older")
    assert one.status_code == 200 and one.json()["name"] == "older"
    missing = client.get("/datasets/nothing-here")
    assert missing.status_code == 404 and "nothing-here" in missing.json()["detail"]


def test_a_taken_name_is_409_before_the_body_is_stored(client: Any, tmp: Path) -> None:
    assert upload(client, "taken", zip_bytes(class_images(8))).status_code == 201
    before = tree(tmp / "data" / "uploads")
    answer = upload(client, "taken", zip_bytes(class_images(8)))
    assert answer.status_code == 409
    assert "'taken'" in answer.json()["detail"] and "exists already" in answer.json()["detail"]
    assert tree(tmp / "data" / "uploads") == before


@pytest.mark.parametrize("name", ["Faces", "-x", ".hidden", "a" * 65, "sp ace"])
def test_a_bad_name_is_422_naming_the_path_field(client: Any, tmp: Path, name: str) -> None:
    before = tree(tmp / "data" / "uploads")
    answer = upload(client, name, zip_bytes(class_images(8)))
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"].startswith("path.name:")
    assert tree(tmp / "data" / "uploads") == before


def test_uploads_need_the_api_key(client: Any, tmp: Path) -> None:
    before = tree(tmp / "data" / "uploads")
    answer = client.post("/datasets/nokey", content=zip_bytes(class_images(8)))
    assert answer.status_code == 401
    assert client.delete("/datasets/faces").status_code == 401
    assert tree(tmp / "data" / "uploads") == before


def test_delete_of_an_unknown_dataset_is_404(client: Any) -> None:
    answer = client.delete("/datasets/never-uploaded", headers=KEY)
    assert answer.status_code == 404
    assert "never-uploaded" in answer.json()["detail"]


def test_zip_detection_ignores_the_suffix_of_the_entries_it_keeps(client: Any) -> None:
    """A zip holding .npy files and images is an image archive (an .npz holds only .npy)."""
    files = class_images(8) | {"extra.npy": npy_bytes(np.zeros(3))}
    answer = upload(client, "mixed", zip_bytes(files, zipfile.ZIP_STORED))
    assert answer.status_code == 201, answer.text
    assert answer.json()["format"] == "images" and answer.json()["samples"] == 16


def test_an_image_array_of_an_odd_size_is_checked_at_the_default_size(client: Any) -> None:
    images = np.random.default_rng(2).integers(0, 255, size=(16, 20, 24, 3), dtype=np.uint8)
    answer = upload(client, "odd-size", npy_bytes(images))
    assert answer.status_code == 201, answer.text
    manifest = answer.json()
    assert (manifest["image_size"], manifest["channels"], manifest["shape"]) == (64, 3, [3, 64, 64])


def test_a_damaged_manifest_hides_the_dataset_instead_of_failing(client: Any, tmp: Path) -> None:
    assert upload(client, "damaged", zip_bytes(class_images(8))).status_code == 201
    (tmp / "data" / "uploads" / "damaged" / "manifest.json").write_text('{"name": 1}')
    assert client.get("/datasets/damaged").status_code == 404
    assert "damaged" not in {m["name"] for m in client.get("/datasets").json()}


def test_publishing_onto_a_name_taken_meanwhile_is_409(tmp_path: Path) -> None:
    from service.datasets.store import DatasetStore
    from service.errors import DatasetExists

    store = DatasetStore(tmp_path)
    manifest = {"spec": "folder:uploads/x/images", "samples": 16, "bytes": 1}
    first, second = store.incoming(), store.incoming()
    (first / "images").mkdir()
    store.publish(first, "x", manifest)
    with pytest.raises(DatasetExists, match="'x'"):
        store.publish(second, "x", manifest)
    assert second.exists()  # the caller removes it


def test_temporary_folders_of_a_dead_process_are_swept(tmp_path: Path) -> None:
    import os
    import time

    from service.datasets.store import DatasetStore

    store = DatasetStore(tmp_path)
    old, fresh, kept = store.incoming(), store.incoming(), store.root / "faces"
    kept.mkdir()
    (old / "upload.bin").write_bytes(b"x")
    day_ago = time.time() - 25 * 3600
    for path in (old / "upload.bin", old):
        os.utime(path, (day_ago, day_ago))
    assert store.sweep() == [old.name]
    assert sorted(p.name for p in store.root.iterdir()) == sorted([fresh.name, "faces"])
