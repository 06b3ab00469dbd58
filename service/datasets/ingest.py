"""From a received body to a published dataset: tell the format, unpack or check it, load it
with the loader training uses, write the manifest, rename it into place.

Runs in a worker thread; everything happens inside the upload's temporary folder, which the
caller removes on any failure. Raises FieldError (422) naming the entry or array at fault,
UploadTooLarge (413), DatasetExists (409) or StorageFull (507).
"""

from __future__ import annotations

import re
import shutil
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.datasets.archives import (
    ZIP_READ_ERRORS,
    open_zip,
    unpack_tar,
    unpack_zip,
    zip_files,
)
from service.datasets.arrays import check_npy, check_npz
from service.datasets.entries import Unpacker
from service.datasets.formats import sniff
from service.datasets.limits import Limits, refused
from service.datasets.store import UPLOADS, DatasetStore
from service.errors import FieldError
from training.datasets import DEFAULT_FOLDER_IMAGE_SIZE, Dataset, dataset_kind, load_dataset
from training.errors import DatasetError

UPLOAD_FILE = "upload.bin"
IMAGES = "images"
CHECK_SIZE = 8  # the smallest size the loader takes: every image is decoded, little is kept


def ingest(
    store: DatasetStore, incoming: Path, name: str, size: int, limits: Limits
) -> dict[str, Any]:
    """Publish the upload received at `incoming/upload.bin`; returns its manifest."""
    upload = incoming / UPLOAD_FILE
    if size == 0:
        raise refused(
            "", "the request body is empty: send the archive or array file itself as the "
            "body (curl --data-binary @faces.zip)"
        )  # fmt: skip
    fmt = sniff(upload)
    names: dict[str, str] = {}  # image path under images/ -> its name in the archive
    if fmt == "npy":
        check_npy(upload)
        local = upload.rename(incoming / "data.npy")
    elif fmt == "zip":
        unpacker = Unpacker(incoming / "unpacked", limits)
        with open_zip(upload, limits) as zf:
            files, array = zip_files(zf, unpacker)
            if array:
                check_npz(zf)
            else:
                unpack_zip(zf, files, unpacker)
                names = unpacker.finish(incoming / IMAGES, "zip")
        local = upload.rename(incoming / "data.npz") if array else incoming / IMAGES
    else:
        unpacker = Unpacker(incoming / "unpacked", limits)
        unpack_tar(upload, fmt == "tar.gz", unpacker)
        names = unpacker.finish(incoming / IMAGES, fmt)
        local = incoming / IMAGES
    if local.name == IMAGES:
        upload.unlink()
        shutil.rmtree(incoming / "unpacked", ignore_errors=True)  # folders the images shared
    kind = "folder" if local.name == IMAGES else "npz"
    spec = f"{kind}:{UPLOADS}/{name}/{local.name}"
    dataset, shape = _check(f"{kind}:{local}", spec, incoming, names)
    manifest = _manifest(name, spec, dataset, shape, size)
    store.publish(incoming, name, manifest)
    return manifest


def _check(
    local_spec: str, spec: str, incoming: Path, names: dict[str, str]
) -> tuple[Dataset, tuple[int, ...]]:
    """Load with the training loader; returns the data and the sample shape a job gets.

    Folders are decoded whole but kept at CHECK_SIZE (100,000 images at 64 px would take
    5 GB here); a job gets them at the loader's default size. An image array whose own size
    no network takes (not square, or not 2**k times a whole number >= 4) is checked at that
    default size too, which a job on it then names as its image_size."""
    if local_spec.startswith("folder:"):
        dataset = _load(local_spec, CHECK_SIZE, spec, incoming, names)
        side = DEFAULT_FOLDER_IMAGE_SIZE
        return dataset, (dataset.sample_shape[0], side, side)
    try:
        dataset = _load(local_spec, None, spec, incoming, names)
    except FieldError:
        if not _image_array(local_spec):
            raise
        dataset = _load(local_spec, DEFAULT_FOLDER_IMAGE_SIZE, spec, incoming, names)
    return dataset, dataset.sample_shape


def _image_array(local_spec: str) -> bool:
    try:
        return dataset_kind(local_spec) == "image"
    except DatasetError:
        return False


def _load(
    local_spec: str, image_size: int | None, spec: str, incoming: Path, names: dict[str, str]
) -> Dataset:
    """The loader's verdict, with the temporary folder's paths replaced by archive names."""
    try:
        return load_dataset(local_spec, image_size=image_size)
    except DatasetError as exc:
        reason = str(exc)
    except (*ZIP_READ_ERRORS, SyntaxError, IndexError, struct.error) as exc:
        reason = f"the data cannot be read: {exc}"  # a decoder's own error, past the loader
    images = re.escape(f"{incoming / IMAGES}/")
    culprit = re.search(images + r"([^'\"]*)", reason)
    reason = re.sub(images + r"([^'\"]*)", lambda m: names.get(m[1], m[1]), reason)
    folder = spec.partition(":")[2].rpartition("/")[0]  # uploads/<name>
    reason = reason.replace(local_spec, spec).replace(str(incoming), folder)
    what = names.get(culprit[1], culprit[1]) if culprit else spec
    raise refused(what, reason)


def _manifest(
    name: str, spec: str, dataset: Dataset, shape: tuple[int, ...], size: int
) -> dict[str, Any]:
    image = dataset.kind == "image"
    return {
        "name": name,
        "spec": spec,
        "format": "images" if spec.startswith("folder:") else "array",
        "samples": len(dataset),
        "image_size": int(shape[-1]) if image else None,
        "channels": int(shape[0]) if image else None,
        "shape": [int(d) for d in shape],
        "classes": list(dataset.classes),
        "class_counts": dataset.class_counts(),
        "bytes": size,
        "created": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
