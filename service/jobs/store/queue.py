"""Celery plumbing shared by the API and the workers: the configured app and the job messages."""

from __future__ import annotations

import logging

from celery import Celery
from kombu.exceptions import OperationalError

from service.jobs.store.job_store import JobStore
from service.jobs.store.redis_client import REDIS_DOWN_ERRORS, unavailable
from service.settings import Settings

log = logging.getLogger(__name__)

TASK_NAME = "gan.train_job"
QUEUE = "gan-train"


def make_celery(settings: Settings) -> Celery:
    app = Celery("gan")
    transport = {
        "visibility_timeout": settings.job_visibility_timeout_s,
        "socket_timeout": 10,
        "socket_connect_timeout": 2,
    }
    app.conf.update(
        broker_url=settings.redis_url,
        broker_transport_options=transport,
        # The job record is the result: a task that ends while Redis is down must not fail
        # storing a second copy of it.
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # While Redis is down a worker keeps its running job and waits for Redis to return.
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        task_serializer="json",
        accept_content=["json"],
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


def reap_once(store: JobStore, celery: Celery, settings: Settings) -> list[str]:
    """Re-queue running jobs whose worker died (lease missing for a whole lease period) and
    send their messages."""
    requeued = store.reap(settings.job_max_crashes, grace_s=settings.job_lease_s)
    for job_id in requeued:
        log.warning("job %s: its worker stopped renewing the lease; re-queued", job_id)
        enqueue(celery, job_id)
    return requeued
