"""The Celery task: a thin adapter from a message to `runner.run_job`."""

from __future__ import annotations

from service.jobs.celery_app import app, settings
from service.jobs.queue import TASK_NAME, enqueue
from service.jobs.runner import run_job
from service.jobs.store import JobStore

_store: JobStore | None = None


@app.task(name=TASK_NAME, bind=True)
def train_job(self, job_id: str) -> str:  # noqa: ANN001 (Celery binds the task itself)
    global _store
    if _store is None:
        _store = JobStore(settings.redis_url)
    worker = self.request.hostname or "worker"
    return run_job(settings, _store, job_id, worker=worker, enqueue=lambda jid: enqueue(app, jid))
