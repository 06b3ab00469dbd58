"""The one-command default: `python -m service` without GAN_REDIS_URL runs redis-server, a
worker and the API; a child that dies is restarted; SIGTERM stops them all and leaves no
process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, free_port, wait_for

pytestmark = [pytest.mark.e2e]


def _descendants(root: int) -> dict[int, str]:
    """pid -> command line of every process below `root`, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                try:
                    found[pid] = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode()
                except OSError:
                    found[pid] = "?"
                frontier.append(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _parent(pid: int) -> int | None:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[1])
    except OSError:
        return None


def _start(tmp: Path, port: int, log: Path, **extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    env |= {
        "GAN_REDIS_URL": "",
        "GAN_VAR_DIR": str(tmp / "var"),
        "GAN_MODEL_DIR": str(tmp / "models"),
        "GAN_DATA_ROOT": str(tmp / "data"),
        "GAN_DEMO_JOB": "true",
        "GAN_DEVICE": "cpu",
        "GAN_READY_WITHOUT_MODEL": "true",
        "PYTHONPATH": str(ROOT),
    } | extra
    return subprocess.Popen(
        [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp,
        env=env,
        stdout=open(log, "ab"),  # noqa: SIM115 (the child keeps it)
        stderr=subprocess.STDOUT,
    )


def _stop_and_check(process: subprocess.Popen, children: dict[int, str]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=90) == 0
    left = {pid: cmd for pid, cmd in children.items() if _alive(pid)}
    for pid in left:  # clean up before failing, so no test leaves processes behind
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


def test_embedded_default_runs_everything_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "service.log"
    process = _start(tmp_path, port, log)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

        def jobs() -> dict | None:
            try:
                answer = client.get("/train-jobs")
            except httpx.TransportError:
                return None
            return answer.json() if answer.status_code == 200 else None

        wait_for(jobs, 120, f"the embedded service (log: {log})", interval=0.5)
        assert client.get("/healthz").status_code == 200
        # First start on an empty model directory: demo jobs are queued and a worker runs one.
        listing = wait_for(
            lambda: (j := jobs()) and any(x["state"] == "running" for x in j["jobs"]) and j,
            120,
            "a demo job to run",
            interval=0.5,
        )
        assert {j["name"] for j in listing["jobs"]} == {"mnist-demo", "ring-8-demo", "digits-demo"}
        children = _descendants(process.pid)
        commands = " ".join(children.values())
        assert "redis-server" in commands and "service.jobs.worker" in commands
        _stop_and_check(process, children)
        assert (tmp_path / "var" / "redis").is_dir()

        # A second start finds its records again (AOF) and queues no second demo.
        process = _start(tmp_path, port, log)
        listing = wait_for(jobs, 120, "the embedded service to restart", interval=0.5)
        names = sorted(j["name"] for j in listing["jobs"])
        assert names == ["digits-demo", "mnist-demo", "ring-8-demo"]
        running = [j for j in listing["jobs"] if j["state"] in ("running", "queued")]
        assert running, "the interrupted demo job was lost"
        children = _descendants(process.pid)
        _stop_and_check(process, children)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _child(service: int, name: str) -> int | None:
    """The pid of the service's live direct child whose command line contains `name`."""
    for pid, command in _descendants(service).items():
        if name in command and _parent(pid) == service and _alive(pid):
            return pid
    return None


@pytest.mark.slow
def test_embedded_default_restarts_a_killed_worker_and_redis(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "service.log"
    # Short leases, so the job whose worker is killed is re-queued within seconds.
    quick = {"GAN_DEMO_JOB": "false", "GAN_JOB_LEASE_S": "4", "GAN_JOB_REAPER_INTERVAL_S": "1"}
    process = _start(tmp_path, port, log, **quick)
    seen: dict[int, str] = {}  # every process the service ever ran, checked at the end
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def get(path: str) -> httpx.Response | None:
        try:
            return client.get(path)
        except httpx.TransportError:
            return None

    def submit() -> str:
        body = {"dataset": "ring-8", "steps": 200, "checkpoint_every": 100, "log_every": 50}
        answer = wait_for(
            lambda: (a := client.post("/train-jobs", json=body)).status_code == 202 and a,
            60, "POST /train-jobs to be accepted", interval=0.5,
        )  # fmt: skip
        return answer.json()["id"]

    def state(job_id: str) -> str | None:
        answer = get(f"/train-jobs/{job_id}")  # 503 while Redis is down
        return answer.json()["state"] if answer and answer.status_code == 200 else None

    def wait_state(job_id: str, states: set[str], timeout: float) -> str:
        return wait_for(
            lambda: (s := state(job_id)) in states and s, timeout, f"job {job_id} in {states}",
            interval=0.5,
        )  # fmt: skip

    def restarted(child: str, old_pid: int) -> int:
        """Follow /readyz until `child` is back: while it is down the answer is 503 naming it.
        Returns the new pid."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            answer = get("/readyz")
            if answer is not None:
                body = answer.json()
                if answer.status_code == 503:
                    assert re.fullmatch(
                        rf"embedded {child} is down \(restarting, attempt 1\)", body["reason"]
                    ), body
                status = body["children"][child]
                if answer.status_code == 200 and status["up"] and status["pid"] != old_pid:
                    assert status["restarts"] == 1, body
                    assert status["last_exit"] == "killed by SIGKILL", body
                    return status["pid"]
            time.sleep(0.1)
        raise AssertionError(f"embedded {child} was not restarted (log: {log})")

    def restarts() -> dict[str, float]:
        text = get("/metrics").text
        found = re.findall(r'gan_embedded_child_restarts_total\{child="(\w+)"\} (\S+)', text)
        return {name: float(value) for name, value in found}

    try:
        worker_log = tmp_path / "var" / "logs" / "worker.log"
        wait_for(
            lambda: worker_log.exists() and " ready." in worker_log.read_text(errors="replace"),
            150, f"the embedded worker to be ready (log: {log})", interval=0.5,
        )  # fmt: skip
        ready = wait_for(lambda: (a := get("/readyz")) and a.status_code == 200 and a, 60, "ready")
        assert {name for name, c in ready.json()["children"].items() if c["up"]} == {
            "redis",
            "worker",
        }
        assert restarts() == {"redis": 0.0, "worker": 0.0}

        # (1) SIGKILL the worker's main process while it trains: it is restarted, its pool
        # process goes with its process group, and the job is re-queued and finishes.
        first = submit()
        wait_state(first, {"running", "succeeded"}, 120)
        worker = _child(process.pid, "service.jobs.worker")
        assert worker, _descendants(process.pid)
        pool = _descendants(worker)
        seen |= _descendants(process.pid)
        os.kill(worker, signal.SIGKILL)
        new_worker = restarted("worker", worker)
        assert _child(process.pid, "service.jobs.worker") == new_worker
        wait_for(lambda: not any(_alive(pid) for pid in [worker, *pool]), 30, "old worker gone")
        assert restarts() == {"redis": 0.0, "worker": 1.0}
        assert wait_state(first, {"succeeded", "failed"}, 180) == "succeeded"
        seen |= _descendants(process.pid)

        # (2) SIGKILL redis-server: restarted on the same port with its AOF, so the records
        # survive and the API and the worker reconnect by themselves.
        redis_pid = _child(process.pid, "redis-server")
        assert redis_pid, _descendants(process.pid)
        os.kill(redis_pid, signal.SIGKILL)
        restarted("redis", redis_pid)
        assert restarts() == {"redis": 1.0, "worker": 1.0}
        assert wait_state(first, {"succeeded", "failed"}, 60) == "succeeded"
        second = submit()
        assert wait_state(second, {"succeeded", "failed"}, 180) == "succeeded"
        assert _child(process.pid, "service.jobs.worker") == new_worker  # it rode it out
        seen |= _descendants(process.pid)
        _stop_and_check(process, seen)
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in seen:  # a failed test leaves nothing behind either
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
