"""The one-command default: `python -m service` without GAN_REDIS_URL runs redis-server, a
worker and the API; SIGTERM stops them all and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


def _start(tmp: Path, port: int, log: Path) -> subprocess.Popen:
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
    }
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
        assert {j["name"] for j in listing["jobs"]} == {"ring-8-demo", "digits-demo"}
        children = _descendants(process.pid)
        commands = " ".join(children.values())
        assert "redis-server" in commands and "celery" in commands
        _stop_and_check(process, children)
        assert (tmp_path / "var" / "redis").is_dir()

        # A second start finds its records again (AOF) and queues no second demo.
        process = _start(tmp_path, port, log)
        listing = wait_for(jobs, 120, "the embedded service to restart", interval=0.5)
        assert sorted(j["name"] for j in listing["jobs"]) == ["digits-demo", "ring-8-demo"]
        running = [j for j in listing["jobs"] if j["state"] in ("running", "queued")]
        assert running, "the interrupted demo job was lost"
        children = _descendants(process.pid)
        _stop_and_check(process, children)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
