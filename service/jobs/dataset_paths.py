"""Where a job's data may come from: built-in datasets, or paths inside the data root."""

from __future__ import annotations

import string
from pathlib import Path

PATH_KINDS = ("folder", "npz")
_NAME_CHARS = set(string.ascii_lowercase + string.digits + "._-")


class FieldError(ValueError):
    """A request field is wrong; `field` names it, the message says why and quotes the value."""

    def __init__(self, field: str, message: str, value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


def resolve_dataset(dataset: str, data_root: Path) -> str:
    """`folder:PATH` / `npz:PATH` become absolute paths checked to lie inside `data_root`
    (after following symlinks and `..`); built-in dataset names pass through unchanged."""
    kind, sep, raw = dataset.partition(":")
    if not sep or kind not in PATH_KINDS:
        return dataset
    if not raw.strip():
        raise FieldError("dataset", f"dataset {dataset!r}: the path after '{kind}:' is empty")
    root = Path(data_root).resolve()
    path = Path(raw)
    real = (path if path.is_absolute() else root / path).resolve()
    if not real.is_relative_to(root):
        raise FieldError(
            "dataset",
            f"dataset {dataset!r}: the path is outside the data root (GAN_DATA_ROOT); "
            "give a path relative to it",
            dataset,
        )
    if kind == "folder" and not real.is_dir():
        raise FieldError(
            "dataset", f"dataset {dataset!r}: no such folder in the data root", dataset
        )
    if kind == "npz" and not real.is_file():
        raise FieldError("dataset", f"dataset {dataset!r}: no such file in the data root", dataset)
    return f"{kind}:{real}"


def name_stem(dataset: str) -> str:
    """A model-name-safe stem for a dataset: 'ring-8' -> 'ring-8', 'folder:faces/x' -> 'x'."""
    kind, sep, raw = dataset.partition(":")
    base = Path(raw).stem if sep and kind in PATH_KINDS else dataset
    cleaned = "".join(c if c in _NAME_CHARS else "-" for c in base.lower())
    cleaned = cleaned.strip("._-")[:40]
    return cleaned or "job"
