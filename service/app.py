"""The FastAPI app: `create_app(settings)`.

The lifespan builds the Runtime (catalog, device thread, encoder pool, directory watcher),
starts it and stops it. Other parts of the service plug in with one line each:
`app.include_router(router)` (a router's own `lifespan=` is merged into the app's) and, for
start/stop work outside a router, `app.state.lifespan_hooks.append(hook)` where `hook(app)` is
an async context manager entered after the runtime starts and left before it stops.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.middleware.cors import CORSMiddleware

from service.error_handlers import install_error_handlers
from service.jobs.api import routes as jobs
from service.jobs.api.runtime import jobs_lifespan
from service.metrics import ServiceMetrics
from service.middleware import ServiceMiddleware
from service.pages import install_pages
from service.routes import datasets, health, models, samples
from service.runtime import Runtime
from service.settings import Settings
from service.supervisor import Supervisor

log = logging.getLogger("service.app")

# Headers the API sets that a browser script may read (CORS hides all others).
EXPOSED_HEADERS = ["X-Request-Id", "X-Model-Version", "X-Model-Sha256", "X-Seed", "X-Offset",
                   "X-Count", "Location", "Retry-After"]  # fmt: skip

DESCRIPTION = """Seed-deterministic samples from GAN generators, batched on one device.

Sample *i* of a request depends only on (model version, seed, offset + i): the same bytes
alone or among 256 others, on any replica of the same build and hardware, after restarts.
"""


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime = Runtime(app.state.settings, app.state.metrics)
    app.state.runtime = runtime
    await runtime.start()
    try:
        async with contextlib.AsyncExitStack() as hooks:
            for hook in app.state.lifespan_hooks:
                await hooks.enter_async_context(hook(app))
            yield
    finally:
        await runtime.stop()
        app.state.metrics.close()


def _package_version() -> str:
    try:
        return importlib.metadata.version("gan-service")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without installing
        return "0+unknown"


# Asked per request even with no SDK installed; off, the check stops at the first flag.
_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings, *, supervisor: Supervisor | None = None) -> FastAPI:
    """`supervisor`: the embedded default's child processes (redis-server, the worker), which
    /readyz and /metrics report on; None when Redis and workers run elsewhere."""
    app = FastAPI(
        title="GAN sample service",
        version=_package_version(),
        generate_unique_id_function=lambda route: route.name,  # e.g. create_samples
        description=DESCRIPTION,
        lifespan=_lifespan,
        docs_url=None,  # served from local assets by service.pages
        redoc_url=None,
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.metrics = ServiceMetrics()
    app.state.lifespan_hooks = [jobs_lifespan]
    app.state.supervisor = supervisor
    if supervisor is not None:
        app.state.metrics.track_children(supervisor.status)
    install_error_handlers(app)
    install_pages(app)
    app.add_middleware(
        ServiceMiddleware,
        metrics=app.state.metrics,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    if settings.cors_origins:  # added last, so outermost: even an early 413 carries CORS
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=EXPOSED_HEADERS,
        )
    app.include_router(samples.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(datasets.router)
    return app
