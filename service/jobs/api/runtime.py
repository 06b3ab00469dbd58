"""What the jobs routes share, started and stopped by the app's lifespan: the job store, a
Celery producer, an async Redis client for the event streams, and the reaper loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from service.errors import JobStoreUnavailable
from service.jobs.api.events import BLOCK_MS
from service.jobs.store.job_store import JobStore
from service.jobs.store.queue import make_celery, reap_once
from service.jobs.store.redis_client import async_client
from service.settings import Settings

log = logging.getLogger(__name__)

NOT_CONFIGURED = (
    "job store not configured: set GAN_REDIS_URL, or start the embedded default "
    "(`python -m service` with GAN_REDIS_URL unset)"
)


class JobsRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.redis_url
        self.store = JobStore(self.url) if self.url else None
        self.celery = make_celery(settings) if self.url else None
        self.aredis = (
            async_client(self.url, socket_timeout=BLOCK_MS / 1000 + 5) if self.url else None
        )
        self._reaper: asyncio.Task | None = None

    def require_store(self) -> JobStore:
        if self.store is None:
            raise JobStoreUnavailable(NOT_CONFIGURED)
        return self.store

    async def _reap_forever(self) -> None:
        assert self.store and self.celery
        while True:
            await asyncio.sleep(self.settings.job_reaper_interval_s)
            try:
                await run_in_threadpool(reap_once, self.store, self.celery, self.settings)
            except Exception as exc:  # Redis down: the next round tries again
                log.debug("job reaper: %s", exc)

    async def close(self) -> None:
        if self._reaper:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        if self.aredis is not None:
            await self.aredis.aclose()


@contextlib.asynccontextmanager
async def jobs_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """A lifespan hook (see service.app): app.state.jobs for the routes while the app runs."""
    runtime = JobsRuntime(app.state.settings)
    if runtime.store is not None:
        runtime._reaper = asyncio.create_task(runtime._reap_forever())
    app.state.jobs = runtime
    try:
        yield
    finally:
        await runtime.close()
