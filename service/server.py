"""Run the API under uvicorn: one process, one device thread (scale out with replicas)."""

from __future__ import annotations

import uvicorn

from service.app import create_app
from service.logs import configure_logging
from service.settings import Settings


def serve_api(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM; logs are JSON lines on stderr (uvicorn's access log is
    replaced by the service's own, which carries the request id)."""
    configure_logging()
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    uvicorn.Server(config).run()
