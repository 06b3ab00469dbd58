"""The deployment of docker-compose.remote-workers.yml, with real processes: Redis reachable
over TCP only with a password, the API and a worker that share nothing but Redis and the
model and data folders (the shared storage), each reading the password and the API keys from
files (compose secrets), and the health check the compose file runs for the worker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from conftest import ROOT, RedisProcess, wait_for
from sample_service_harness import ServiceProcess

pytestmark = [pytest.mark.e2e]

PASSWORD = "p@ss:w/rd with spaces"  # every character a URL would have to quote
KEYS = ["first-key", "second-key"]


class Deployment:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        secrets = tmp / "secrets"
        secrets.mkdir()
        self.password_file = secrets / "redis_password"
        self.password_file.write_text(PASSWORD + "\n")
        self.keys_file = secrets / "api_keys"
        self.keys_file.write_text("\n".join(KEYS) + "\n")
        self.shared = tmp / "shared"  # what both hosts mount: models and data
        (self.shared / "data").mkdir(parents=True)
        self.redis = RedisProcess(tmp / "redis", password=PASSWORD)
        self.redis.start()
        self.env = {  # what every host's settings have in common
            "GAN_REDIS_URL": self.redis.url,  # no password in the URL: it comes from the file
            "GAN_REDIS_PASSWORD_FILE": str(self.password_file),
            "GAN_MODEL_DIR": str(self.shared / "models"),
            "GAN_DATA_ROOT": str(self.shared / "data"),
            "GAN_DEVICE": "cpu",
        }
        self.worker: subprocess.Popen | None = None

    def host_env(self, host: str) -> dict[str, str]:
        """A separate machine: its own working folder and var dir, nothing else local."""
        (self.tmp / host).mkdir(exist_ok=True)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
        return clean | self.env | {"GAN_VAR_DIR": str(self.tmp / host / "var"),
                                   "PYTHONPATH": str(ROOT)}  # fmt: skip

    def start_api(self) -> ServiceProcess:
        settings = {k.removeprefix("GAN_").lower(): v for k, v in self.env.items()}
        del settings["model_dir"]  # ServiceProcess takes it as its own argument
        api = ServiceProcess(
            self.tmp, self.shared / "models", **settings, api_keys_file=self.keys_file,
            require_api_keys="true", ready_without_model="true", job_lease_s=4,
            job_reaper_interval_s=1, reload_interval_s=0.5,
        )  # fmt: skip
        api.wait_ready()
        return api

    def start_worker(self, name: str) -> None:
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "service.jobs.worker", "-n", name],
            cwd=self.tmp / "worker-host",
            env=self.host_env("worker-host"),
            stdin=subprocess.DEVNULL,
            stdout=open(self.tmp / "worker.log", "wb"),  # noqa: SIM115 (the child keeps it)
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def close(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, 9)
                self.worker.wait(timeout=10)
        self.redis.stop()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    d = Deployment(tmp_path)
    try:
        yield d
    finally:
        d.close()


def celery_cli(d: Deployment, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service.jobs.celery_cli", *args],
        env=d.host_env("worker-host"), cwd=d.tmp / "worker-host",
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_worker_on_another_host_trains_through_a_password_protected_redis(
    deployment: Deployment,
) -> None:
    d = deployment
    with pytest.raises(redis.AuthenticationError):  # published Redis: nobody in without it
        redis.Redis.from_url(d.redis.url, socket_connect_timeout=2).ping()

    api = d.start_api()
    try:
        d.start_worker("remote1@%h")
        ping = wait_for(
            lambda: (p := celery_cli(d, "inspect", "ping", "-d", "remote1@" + os.uname().nodename,
                                     "--timeout", "5")).returncode == 0 and p,
            120, "the worker's health check to pass",
        )  # fmt: skip
        assert "pong" in ping.stdout

        body = {"dataset": "ring-8", "name": "remote", "steps": 60, "checkpoint_every": 30}
        assert api.client.post("/train-jobs", json=body).status_code == 401
        wrong = {"Authorization": "Bearer not-a-key"}
        assert api.client.post("/train-jobs", json=body, headers=wrong).status_code == 403
        keyed = {"Authorization": f"Bearer {KEYS[1]}"}  # the file's second line
        answer = api.client.post("/train-jobs", json=body, headers=keyed)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]

        def finished() -> dict | None:
            job = api.client.get(f"/train-jobs/{job_id}").json()
            return job if job["state"] in {"succeeded", "failed"} else None

        job = wait_for(finished, 240, "the job to finish", interval=0.5)
        assert job["state"] == "succeeded", job
        assert (d.shared / "models" / "remote").is_dir()  # published on the shared storage

        def served() -> httpx.Response | None:
            r = api.client.post("/samples", json={"n": 4, "seed": 1, "model": "remote"})
            return r if r.status_code == 200 else None

        samples = wait_for(served, 30, "the API to serve the worker's checkpoint")
        assert len(samples.json()["points"]) == 4  # ring-8 is 2-D: points, not images
    finally:
        api.stop()


def test_missing_or_empty_secret_files_stop_the_start_with_their_names(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    base |= {"GAN_MODEL_DIR": str(tmp_path / "models"), "PYTHONPATH": str(ROOT)}
    cases = [
        ({"GAN_API_KEYS_FILE": str(tmp_path / "absent")}, "GAN_API_KEYS_FILE: "),
        ({"GAN_API_KEYS_FILE": str(empty)}, "holds no key"),
        ({"GAN_REDIS_URL": "redis://127.0.0.1:1/0", "GAN_REDIS_PASSWORD_FILE": str(empty)},
         "GAN_REDIS_PASSWORD_FILE: "),
    ]  # fmt: skip
    for env, words in cases:
        for module in ("service", "service.jobs.worker"):
            started = subprocess.run(
                [sys.executable, "-m", module], env=base | {"GAN_REDIS_URL": "redis://x:1/0"} | env,
                capture_output=True, text=True, timeout=60, cwd=tmp_path,
            )  # fmt: skip
            assert started.returncode == 2, (env, module, started.stderr)
            assert words in started.stderr, (env, module, started.stderr)
            assert "Traceback" not in started.stderr

    # Only the API needs keys: a worker of the same deployment starts without them.
    unprotected = base | {"GAN_REQUIRE_API_KEYS": "true", "GAN_REDIS_URL": "redis://x:1/0"}
    started = subprocess.run([sys.executable, "-m", "service", "--check"], env=unprotected,
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert started.returncode == 1 and "neither GAN_API_KEYS nor" in started.stderr
    started = subprocess.run([sys.executable, "-m", "service"], env=unprotected,
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert started.returncode == 2 and "neither GAN_API_KEYS nor" in started.stderr
    worker = subprocess.run([sys.executable, "-m", "service.jobs.worker", "--check"],
                            env=unprotected, capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)  # fmt: skip
    assert worker.returncode == 0, worker.stderr
