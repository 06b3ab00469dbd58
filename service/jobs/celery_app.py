"""The Celery app. Start a worker with

    celery -A service.jobs.celery_app worker --concurrency 1 --prefetch-multiplier 1 -l info

One job per device: concurrency 1, prefetch 1, and a message is acknowledged only when its job
ends (acks_late), so a worker that dies never swallows a job. Crash recovery does not wait for
Redis' visibility_timeout (which must outlast the longest job, or running jobs would be handed
out twice): each running job holds a lease its heartbeat renews, and reapers (in every worker
and in the API) put jobs whose lease expired back in the queue, where they resume from their
last saved state.
"""

from __future__ import annotations

import logging
import threading

from celery import Celery, signals
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


settings = Settings()
app = make_celery(settings)


def reap_once(store: JobStore, celery: Celery, max_crashes: int) -> list[str]:
    """Re-queue running jobs whose worker died (lease expired) and send their messages."""
    requeued = store.reap(max_crashes)
    for job_id in requeued:
        log.warning("job %s: its worker stopped renewing the lease; re-queued", job_id)
        enqueue(celery, job_id)
    return requeued


def _reaper_loop(stop: threading.Event) -> None:
    store = JobStore(settings.redis_url)
    while not stop.wait(settings.job_reaper_interval_s):
        try:
            reap_once(store, app, settings.job_max_crashes)
        except Exception as exc:  # Redis down: try again next round
            log.warning("job reaper: %s", exc)


_reaper_stop = threading.Event()


@signals.worker_ready.connect
def _start_reaper(sender: object = None, **_: object) -> None:
    hostname = getattr(sender, "hostname", None)
    if hostname:  # a drain request left by this worker's previous life
        try:
            JobStore(settings.redis_url).clear_drain(hostname)
        except Exception as exc:
            log.warning("could not clear the drain flag: %s", exc)
    threading.Thread(target=_reaper_loop, args=(_reaper_stop,), daemon=True).start()


@signals.worker_shutting_down.connect
def _drain(sender: str, **_: object) -> None:
    """Ask this worker's running job to stop at its next step and go back to the queue.
    Runs inside a signal handler, so the Redis call happens on its own thread."""
    _reaper_stop.set()

    def mark() -> None:
        try:
            JobStore(settings.redis_url).set_drain(sender, ttl_s=120)
        except Exception as exc:
            log.warning("could not ask the running job to stop: %s", exc)

    threading.Thread(target=mark, daemon=True).start()
