"""The worker's Celery app, built from a Settings object by `create_worker_app` (see
`python -m service.jobs.worker`, which reads the settings and starts the worker).

One job per device: concurrency 1, prefetch 1, and a message is acknowledged only when its job
ends (acks_late), so a worker that dies never swallows a job. Crash recovery does not wait for
Redis' visibility_timeout (which must outlast the longest job, or running jobs would be handed
out twice): each running job holds a lease its heartbeat renews, and reapers (in every worker
and in the API) put jobs whose lease stayed missing for a lease period back in the queue,
where they resume from their last saved state.
"""

from __future__ import annotations

import logging
import os
import threading

from celery import Celery, signals

from service.jobs.store.job_store import JobStore
from service.jobs.store.queue import TASK_NAME, enqueue, make_celery, reap_once
from service.jobs.worker.runner import run_job
from service.settings import Settings

log = logging.getLogger(__name__)


class WorkerContext:
    """What the task needs: the settings and a job store for the current process (the pool
    process forks from the main one, so each process opens its own connections)."""

    def __init__(self, settings: Settings, app: Celery) -> None:
        self.settings = settings
        self.app = app
        self._store: JobStore | None = None
        self._store_pid = 0

    @property
    def store(self) -> JobStore:
        if self._store is None or self._store_pid != os.getpid():
            self._store = JobStore(self.settings.redis_url)
            self._store_pid = os.getpid()
        return self._store

    def run(self, job_id: str, worker: str) -> str:
        return run_job(
            self.settings,
            self.store,
            job_id,
            worker=worker,
            enqueue=lambda jid: enqueue(self.app, jid),
        )


def create_worker_app(settings: Settings) -> Celery:
    if not settings.redis_url:
        raise ValueError(
            "GAN_REDIS_URL is not set: a worker needs the Redis the API uses, e.g. "
            "GAN_REDIS_URL=redis://localhost:6379/0 (`python -m service` alone embeds one)"
        )
    app = make_celery(settings)
    context = WorkerContext(settings, app)

    @app.task(name=TASK_NAME, bind=True)
    def train_job(task, job_id: str) -> str:  # noqa: ANN001 (Celery binds the task itself)
        return context.run(job_id, task.request.hostname or "worker")

    _connect_lifecycle(app, context)
    return app


def _connect_lifecycle(app: Celery, context: WorkerContext) -> None:
    """The reaper thread while the worker runs; on shutdown, ask the running job to give
    itself back to the queue. The handlers are kept on the app (signals hold weak refs)."""
    stop = threading.Event()
    settings = context.settings

    def reaper_loop() -> None:
        store = JobStore(settings.redis_url)
        while not stop.wait(settings.job_reaper_interval_s):
            try:
                reap_once(store, app, settings)
            except Exception as exc:  # Redis down: try again next round
                log.warning("job reaper: %s", exc)

    def on_ready(sender: object = None, **_: object) -> None:
        hostname = getattr(sender, "hostname", None)
        if hostname:  # a drain request left by this worker's previous life
            try:
                JobStore(settings.redis_url).clear_drain(hostname)
            except Exception as exc:
                log.warning("could not clear the drain flag: %s", exc)
        threading.Thread(target=reaper_loop, name="job-reaper", daemon=True).start()

    def on_shutting_down(sender: str, **_: object) -> None:
        """Runs inside a signal handler, so the Redis call happens on its own thread."""
        stop.set()

        def mark() -> None:
            try:
                JobStore(settings.redis_url).set_drain(sender, ttl_s=120)
            except Exception as exc:
                log.warning("could not ask the running job to stop: %s", exc)

        threading.Thread(target=mark, daemon=True).start()

    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_shutting_down.connect(on_shutting_down, weak=False)
    app.gan_context = context  # type: ignore[attr-defined]
