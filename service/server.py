"""Run the API under uvicorn: one process, or GAN_API_PROCESSES processes behind one port, each
with its own device thread (scale further out with replicas).

The app (and torch with it) is imported only where it runs: the parent of several API
processes only watches them, and stays small."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from service.api_processes import serve_processes
from service.logs import configure_logging
from service.metrics import MULTIPROCESS_DIR_VAR
from service.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from service.supervisor import Supervisor

log = logging.getLogger("service.server")


def serve_api(
    settings: Settings, host: str, port: int, *, supervisor: Supervisor | None = None
) -> int:
    """Serve until SIGINT/SIGTERM; logs are JSON lines on stderr (uvicorn's access log is
    replaced by the service's own, which carries the request id). `supervisor`: the embedded
    default's children, for /readyz and /metrics; the embedded default runs one process."""
    configure_logging()
    options = {
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        "timeout_keep_alive": settings.keep_alive_s,
    }
    if settings.api_processes > 1 and supervisor is None:
        return _serve_processes(settings.api_processes, host, port, options)
    if settings.api_processes > 1:
        log.warning("GAN_API_PROCESSES applies with GAN_REDIS_URL set; the embedded default "
                    "runs one API process")  # fmt: skip
    from service.app import create_app

    set_torch_threads(settings, processes=1)
    app = create_app(settings, supervisor=supervisor)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, **options)).run()
    return 0


def _serve_processes(processes: int, host: str, port: int, options: dict) -> int:
    """service/api_processes.py runs them. Their Prometheus metrics are added up through
    files in a fresh directory (prometheus_client's multiprocess mode), so any process answers
    /metrics for all."""
    with _metrics_dir():
        # A spawned process loads torch afresh: OpenMP threads that wait passively leave the
        # cores to the other processes' event loops (see service/__main__.py).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        return serve_processes(processes, host, port, options)


@contextlib.contextmanager
def _metrics_dir() -> Iterator[None]:
    path = tempfile.mkdtemp(prefix="gan-metrics-")
    previous = os.environ.get(MULTIPROCESS_DIR_VAR)
    os.environ[MULTIPROCESS_DIR_VAR] = path
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIR_VAR, None)
        else:
            os.environ[MULTIPROCESS_DIR_VAR] = previous
        shutil.rmtree(path, ignore_errors=True)


def worker_app() -> FastAPI:
    """The app of one of several API processes (service/api_processes.py); the settings come
    from the environment the parent checked."""
    from service.app import create_app

    configure_logging()
    settings = Settings()
    set_torch_threads(settings, processes=settings.api_processes)
    return create_app(settings)


def set_torch_threads(settings: Settings, processes: int) -> None:
    """GAN_TORCH_THREADS, or with several API processes the cores divided among them: a
    one-thread forward does more per core, and the other cores run the other event loops."""
    threads = settings.torch_threads
    if not threads and processes > 1:
        threads = max(1, len(os.sched_getaffinity(0)) // processes)
    if threads:
        import torch

        torch.set_num_threads(threads)
