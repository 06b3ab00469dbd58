"""Where a job's data may come from (built-in datasets, or paths inside the data root), the
submit-time check that it is usable, and which active jobs read a folder of the data root."""

from __future__ import annotations

import string
from pathlib import Path, PurePosixPath

from service.errors import FieldError
from service.jobs.store.job_store import JobStore
from service.jobs.store.records import JobState
from training.datasets import Dataset, load_dataset
from training.errors import DatasetError

PATH_KINDS = ("folder", "npz")
_NAME_CHARS = set(string.ascii_lowercase + string.digits + "._-")


def resolve_dataset(dataset: str, data_root: Path) -> str:
    """`folder:PATH` / `npz:PATH` become paths relative to `data_root`, checked to lie inside
    it after following symlinks and `..` (records and answers never show host paths; every
    process reads them from its own GAN_DATA_ROOT); built-in names pass through unchanged."""
    kind, sep, raw = dataset.partition(":")
    if not sep or kind not in PATH_KINDS:
        return dataset
    if not raw.strip():
        raise FieldError(
            "dataset", dataset, f"dataset {dataset!r}: the path after '{kind}:' is empty"
        )
    root = Path(data_root).resolve()
    path = Path(raw)
    real = (path if path.is_absolute() else root / path).resolve()
    if not real.is_relative_to(root):
        raise FieldError(
            "dataset",
            dataset,
            f"dataset {dataset!r}: the path is outside the data root (GAN_DATA_ROOT); "
            "give a path relative to it",
        )
    if kind == "folder" and not real.is_dir():
        raise FieldError(
            "dataset", dataset, f"dataset {dataset!r}: no such folder in the data root"
        )
    if kind == "npz" and not real.is_file():
        raise FieldError("dataset", dataset, f"dataset {dataset!r}: no such file in the data root")
    return f"{kind}:{real.relative_to(root)}"


def name_stem(dataset: str) -> str:
    """A model-name-safe stem for a dataset: 'ring-8' -> 'ring-8', 'folder:faces/x' -> 'x'."""
    kind, sep, raw = dataset.partition(":")
    base = Path(raw).stem if sep and kind in PATH_KINDS else dataset
    cleaned = "".join(c if c in _NAME_CHARS else "-" for c in base.lower())
    cleaned = cleaned.strip("._-")[:40]
    return cleaned or "job"


def load_checked(
    spec: str, given: str, data_root: Path, *, image_size: int | None, channels: int | None
) -> Dataset:
    """Load the dataset with the loader training uses, so what would fail in the worker (an
    object array, an empty folder, too few samples, an unreadable image) fails here, naming
    the field. `spec` is the resolved spec, `given` the user's (quoted in the message)."""
    try:
        return load_dataset(spec, image_size=image_size, channels=channels, data_root=data_root)
    except DatasetError as exc:
        reason = str(exc).replace(f"{Path(data_root).resolve()}/", "")  # no host paths shown
        raise FieldError("dataset", given, f"dataset {given!r}: {reason}") from None


def jobs_reading(store: JobStore, folder: str, data_root: Path) -> list[str]:
    """Ids of the queued and running jobs whose dataset lies inside `folder` (a path relative
    to the data root) or holds it (a job on `folder:uploads` reads every upload)."""
    target = PurePosixPath(folder)
    root = Path(data_root).resolve()
    readers = []
    for state in (JobState.queued, JobState.running):
        offset, total = 0, 1
        while offset < total:
            jobs, total = store.list(state, 200, offset)
            offset += 200
            for job in jobs:
                kind, sep, raw = str(job.config.get("dataset", job.dataset)).partition(":")
                if not sep or kind not in PATH_KINDS:
                    continue
                path = Path(raw)
                if path.is_absolute():  # records hold relative paths; older ones may not
                    if not path.is_relative_to(root):
                        continue
                    path = path.relative_to(root)
                used = PurePosixPath(path.as_posix())
                if used.is_relative_to(target) or target.is_relative_to(used):
                    readers.append(job.id)
    return readers
