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

from celery import signals

from service.jobs.queue import make_celery, reap_once
from service.jobs.store import JobStore
from service.settings import Settings

log = logging.getLogger(__name__)

settings = Settings()
if not settings.redis_url:
    raise RuntimeError(
        "GAN_REDIS_URL is not set: a worker needs the Redis the API uses, e.g. "
        "GAN_REDIS_URL=redis://localhost:6379/0 (`python -m service` alone embeds one)"
    )
app = make_celery(settings)


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
