"""Turn a request into a queued job: check everything first, then record, then enqueue.

The recipe is resolved here, once: the record's `config` is the complete recipe (presets
applied, architecture spelled out), and the worker trains exactly that.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from pathlib import Path

from celery import Celery
from pydantic import ValidationError

from models.config import DCGANConfig, MLPConfig
from service.errors import FieldError, JobStoreUnavailable, NameTaken, QueueFull
from service.jobs.api.datasets import load_checked, name_stem, resolve_dataset
from service.jobs.api.schemas import JobRequest, JobView
from service.jobs.store.job_store import JobStore
from service.jobs.store.queue import enqueue
from service.jobs.store.records import JobState
from service.settings import Settings
from training.budget import estimate_memory
from training.config import TrainConfig
from training.datasets import Dataset
from training.errors import DatasetError, GanError, RecipeError
from training.presets import resolve_config

RETRY_AFTER_BOUNDS_S = (5, 3600)


def prepare(
    request: JobRequest, settings: Settings, job_id: str
) -> tuple[TrainConfig, MLPConfig | DCGANConfig]:
    """The complete recipe the worker will run, with its architecture: dataset path resolved
    in the data root and loaded, a unique name, presets applied, and the memory budget checked.
    Raises FieldError naming the field."""
    given = request.train_config()
    dataset_spec = resolve_dataset(given.dataset, settings.data_root)
    name = given.name or f"{name_stem(dataset_spec)}-{job_id[:8]}"
    config = given.model_copy(update={"dataset": dataset_spec, "name": name})
    dataset = load_checked(
        dataset_spec,
        given.dataset,
        settings.data_root,
        image_size=config.image_size,
        channels=config.channels,
    )
    resolved, arch = _resolve(config, dataset, settings.data_root)
    data_bytes = dataset.data.nbytes if dataset.data is not None else 0
    check_budget(resolved, arch, data_bytes, settings.max_job_memory_mb)
    return resolved, arch


def _resolve(
    config: TrainConfig, dataset: Dataset, data_root: Path
) -> tuple[TrainConfig, MLPConfig | DCGANConfig]:
    try:
        return resolve_config(
            config, dataset.sample_shape, data_root=data_root, classes=dataset.classes
        )
    except DatasetError as exc:
        raise FieldError("dataset", config.dataset, str(exc)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        field = f"arch_config.{where}" if where else "arch_config"
        raise FieldError(field, first.get("input"), f"{field}: {first['msg']}") from None
    except RecipeError as exc:
        raise FieldError(exc.field, getattr(config, exc.field, None), str(exc)) from None
    except (GanError, ValueError) as exc:
        raise FieldError("arch_config", config.arch_config, str(exc)) from None


def check_budget(
    config: TrainConfig, arch: MLPConfig | DCGANConfig, data_bytes: int, limit_mb: int
) -> None:
    """Refuse a recipe whose estimated memory exceeds GAN_MAX_JOB_MEMORY_MB, naming the field
    that drives it: batch_size when activations dominate, arch_config otherwise."""
    estimate = estimate_memory(config, arch, data_bytes=data_bytes)
    if estimate.total_mb <= limit_mb:
        return
    weights = estimate.weights_bytes + estimate.optimizer_bytes + estimate.ema_bytes
    field = "batch_size" if estimate.activation_bytes >= weights else "arch_config"
    value = config.batch_size if field == "batch_size" else config.arch_config
    raise FieldError(
        field,
        value,
        f"this recipe needs {estimate.describe()}, over the {limit_mb:,} MB a job may use "
        f"(GAN_MAX_JOB_MEMORY_MB); use a smaller batch_size or a smaller network",
    )


def retry_after_s(store: JobStore) -> int:
    """When a queue slot should free up: the soonest ETA among running jobs."""
    running, _ = store.list(JobState.running, 50, 0)
    etas = [job.eta_s for job in running if job.eta_s is not None and math.isfinite(job.eta_s)]
    low, high = RETRY_AFTER_BOUNDS_S
    return int(min(high, max(low, min(etas)))) if etas else 30


def submit_job(settings: Settings, store: JobStore, celery: Celery, request: JobRequest) -> JobView:
    """Check, record as queued, enqueue. Raises FieldError, NameTaken, QueueFull or
    JobStoreUnavailable; on any of them nothing is left in the queue."""
    job_id = uuid.uuid4().hex
    config, _arch = prepare(request, settings, job_id)
    name = config.name
    assert name is not None
    if (Path(settings.model_dir) / name).exists():
        raise NameTaken(
            f"name {name!r}: a model of that name already exists in the model directory; "
            "choose another name (or leave it out to get a fresh one)"
        )
    record = {
        "name": name,
        "dataset": config.dataset,  # folder:/npz: paths relative to the data root
        "config": config.model_dump(mode="json"),
        "total_steps": config.steps,
        "step": 0,
        "auto_promote": request.auto_promote,
    }
    outcome = store.create(job_id, record, max_queued=settings.max_queued_jobs)
    if outcome == "full":
        raise QueueFull(
            f"{settings.max_queued_jobs} jobs are queued already (GAN_MAX_QUEUED_JOBS); "
            "try again when one has started",
            retry_after_s=retry_after_s(store),
        )
    if outcome == "name":
        owner = store.name_owner(name)
        raise NameTaken(f"name {name!r}: already used by training job {owner}; choose another")
    try:
        enqueue(celery, job_id)
    except JobStoreUnavailable:
        with contextlib.suppress(JobStoreUnavailable):
            store.forget(job_id)
        raise
    view = store.get(job_id)
    assert view is not None
    return view
