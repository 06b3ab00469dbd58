"""The uploads folder of the data root: incoming folders, published datasets, manifests.

A dataset appears only by renaming its complete folder into place (its manifest written last)
and disappears by renaming it away before it is removed, so a reader lists whole datasets or
none. Names match MODEL_NAME_PATTERN, which cannot start with '.': the temporary folders
(`.incoming-*`, `.deleting-*`) never clash with a dataset and are never listed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from service.datasets.schemas import DatasetView
from service.errors import DatasetExists, UnknownDataset

log = logging.getLogger("service.datasets")

UPLOADS = "uploads"
MANIFEST = "manifest.json"
INCOMING = ".incoming-"
DELETING = ".deleting-"
STALE_AFTER_S = 24 * 3600  # temporary folders untouched this long are a dead process's


class DatasetStore:
    def __init__(self, data_root: Path) -> None:
        self.root = Path(data_root) / UPLOADS

    def folder(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        return self.folder(name).exists()

    def incoming(self) -> Path:
        """A new, empty temporary folder for one upload."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{INCOMING}{uuid.uuid4().hex}"
        path.mkdir()
        return path

    def discard(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def publish(self, incoming: Path, name: str, manifest: dict[str, Any]) -> None:
        """Write the manifest last, then rename the folder into place (atomic; refused when
        the name was taken meanwhile: a rename onto a folder that holds files fails)."""
        tmp = incoming / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        tmp.rename(incoming / MANIFEST)
        try:
            os.rename(incoming, self.folder(name))
        except OSError:
            if self.exists(name):
                raise DatasetExists(taken_message(name)) from None
            raise
        log.info(
            "dataset %s published: %s, %d samples, %s bytes uploaded",
            name, manifest["spec"], manifest["samples"], manifest["bytes"],
        )  # fmt: skip

    def manifest(self, name: str) -> dict[str, Any] | None:
        """The dataset's manifest; None when there is none, or none the API could answer."""
        try:
            text = (self.folder(name) / MANIFEST).read_text(encoding="utf-8")
            return DatasetView.model_validate_json(text).model_dump(mode="json")
        except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
            return None

    def list(self) -> list[dict[str, Any]]:
        """Every published dataset's manifest, newest first."""
        if not self.root.is_dir():
            return []
        found = []
        for child in self.root.iterdir():
            if child.name.startswith("."):
                continue
            manifest = self.manifest(child.name)
            if manifest is not None:
                found.append(manifest)
        return sorted(found, key=lambda m: (str(m.get("created", "")), m.get("name")), reverse=True)

    def delete(self, name: str) -> None:
        """Rename the dataset away (it is gone for every reader at once), then remove it."""
        doomed = self.root / f"{DELETING}{uuid.uuid4().hex}"
        try:
            os.rename(self.folder(name), doomed)
        except FileNotFoundError:
            raise UnknownDataset(f"no uploaded dataset named {name!r}") from None
        shutil.rmtree(doomed, ignore_errors=True)

    def sweep(self, older_than_s: float = STALE_AFTER_S) -> list[str]:
        """Remove temporary folders left by a process that died mid-upload or mid-delete
        (another replica may be using a fresh one, so only old ones go)."""
        if not self.root.is_dir():
            return []
        removed = []
        cutoff = time.time() - older_than_s
        for child in self.root.iterdir():
            if not child.name.startswith((INCOMING, DELETING)):
                continue
            with contextlib.suppress(OSError):
                if _newest_mtime(child) < cutoff:
                    shutil.rmtree(child, ignore_errors=True)
                    removed.append(child.name)
        if removed:
            log.info("removed %d stale temporary upload folder(s): %s", len(removed), removed)
        return removed


def taken_message(name: str) -> str:
    return (
        f"name {name!r}: an uploaded dataset of that name exists already; choose another "
        f"name or DELETE /datasets/{name} first"
    )


def _newest_mtime(folder: Path) -> float:
    newest = folder.stat().st_mtime
    for child in folder.iterdir():  # the upload file grows while it is received
        newest = max(newest, child.stat().st_mtime)
    return newest
