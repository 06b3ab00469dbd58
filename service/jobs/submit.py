"""Turn a request into a queued job: validate everything first, then record, then enqueue."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

from celery import Celery
from pydantic import ValidationError

from service.jobs.dataset_paths import FieldError, name_stem, resolve_dataset
from service.jobs.queue import enqueue
from service.jobs.redis_client import JobStoreUnavailable
from service.jobs.schemas import JobRequest, JobView
from service.jobs.store import JobStore
from service.settings import Settings
from training.config import TrainConfig
from training.errors import DatasetError, GanError


class NameTaken(Exception):
    """The model name is used by another job or already exists in the model directory."""


class QueueFull(Exception):
    """Too many jobs wait already (GAN_MAX_QUEUED_JOBS)."""


def prepare(request: JobRequest, settings: Settings, job_id: str) -> TrainConfig:
    """The config the worker will run: dataset path resolved in the data root, a unique name,
    and the recipe checked by the training presets (raises FieldError naming the field)."""
    config = request.train_config()
    dataset = resolve_dataset(config.dataset, settings.data_root)
    name = config.name or f"{name_stem(dataset)}-{job_id[:8]}"
    config = config.model_copy(update={"dataset": dataset, "name": name})
    check_recipe(config)
    return config


def check_recipe(config: TrainConfig) -> None:
    from training.presets import resolve_config  # the presets know which datasets exist

    try:
        resolve_config(config)
    except DatasetError as exc:
        raise FieldError("dataset", str(exc), config.dataset) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        field = f"arch_config.{where}" if where else "arch_config"
        raise FieldError(field, f"{field}: {first['msg']}", first.get("input")) from None
    except (GanError, ValueError) as exc:
        raise FieldError("arch_config", str(exc), config.arch_config) from None


def submit_job(settings: Settings, store: JobStore, celery: Celery, request: JobRequest) -> JobView:
    """Validate, record as queued, enqueue. Raises FieldError, NameTaken, QueueFull or
    JobStoreUnavailable; on any of them nothing is left in the queue."""
    job_id = uuid.uuid4().hex
    config = prepare(request, settings, job_id)
    name = config.name
    assert name is not None
    if (Path(settings.model_dir) / name).exists():
        raise NameTaken(
            f"name {name!r}: a model of that name already exists in the model directory; "
            "choose another name (or leave it out to get a fresh one)"
        )
    record = {
        "name": name,
        "dataset": request.dataset,
        "config": config.model_dump(mode="json"),
        "total_steps": config.steps,
        "step": 0,
        "auto_promote": request.auto_promote,
    }
    outcome = store.create(job_id, record, max_queued=settings.max_queued_jobs)
    if outcome == "full":
        raise QueueFull(
            f"{settings.max_queued_jobs} jobs are queued already (GAN_MAX_QUEUED_JOBS); "
            "try again when one has started"
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
