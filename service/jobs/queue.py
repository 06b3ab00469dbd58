"""Celery plumbing shared by the API and the workers: the app factory and the job messages."""

from __future__ import annotations

import logging

from celery import Celery
from kombu.exceptions import OperationalError

from service.jobs.redis_client import REDIS_DOWN_ERRORS, unavailable
from service.jobs.store import JobStore
from service.settings import Settings

log = logging.getLogger(__name__)

TASK_NAME = "gan.train_job"
QUEUE = "gan-train"


def make_celery(settings: Settings) -> Celery:
    app = Celery("gan", include=["service.jobs.tasks"])
    transport = {
        "visibility_timeout": settings.job_visibility_timeout_s,
        "socket_timeout": 10,
        "socket_connect_timeout": 2,
    }
    app.conf.update(
        broker_url=settings.redis_url,
        result_backend=settings.redis_url,
        broker_transport_options=transport,
        result_backend_transport_options={"socket_timeout": 10, "socket_connect_timeout": 2},
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=7 * 24 * 3600,
        worker_send_task_events=False,
    )
    return app


def enqueue(app: Celery, job_id: str) -> None:
    """Send the job's message; raises when Redis cannot take it (after one quick retry)."""
    policy = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "interval_max": 0.5}
    try:
        app.send_task(TASK_NAME, args=[job_id], queue=QUEUE, retry=True, retry_policy=policy)
    except (OperationalError, *REDIS_DOWN_ERRORS) as exc:
        raise unavailable(app.conf.broker_url, exc) from exc


def reap_once(store: JobStore, celery: Celery, max_crashes: int) -> list[str]:
    """Re-queue running jobs whose worker died (lease expired) and send their messages."""
    requeued = store.reap(max_crashes)
    for job_id in requeued:
        log.warning("job %s: its worker stopped renewing the lease; re-queued", job_id)
        enqueue(celery, job_id)
    return requeued
