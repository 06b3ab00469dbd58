"""Run the API under uvicorn: one process, one device thread (scale out with replicas)."""

from __future__ import annotations

import uvicorn

from service.app import create_app
from service.logs import configure_logging
from service.settings import Settings
from service.supervisor import Supervisor


def serve_api(
    settings: Settings, host: str, port: int, *, supervisor: Supervisor | None = None
) -> None:
    """Serve until SIGINT/SIGTERM; logs are JSON lines on stderr (uvicorn's access log is
    replaced by the service's own, which carries the request id). `supervisor`: the embedded
    default's children, for /readyz and /metrics."""
    configure_logging()
    config = uvicorn.Config(
        create_app(settings, supervisor=supervisor),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=settings.keep_alive_s,
    )
    uvicorn.Server(config).run()
