"""GAN_API_PROCESSES over real HTTP: several API processes behind one port agree byte for
byte, /metrics on any of them counts every process's requests, a killed process is started
again while the others keep answering, and a SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sample_service_harness import ServiceProcess, copy_store, wait_for

from service.api_processes import STARTUP_FAILURE, serve_processes

pytestmark = [pytest.mark.e2e]

PROCESSES = 2


def api_pids(service: ServiceProcess) -> set[int]:
    """The parent's API processes (multiprocessing's resource tracker left out)."""
    pids = set()
    for task in Path(f"/proc/{service.process.pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"resource_tracker" not in cmdline:
                pids.add(int(pid))
    return pids


def fresh_get(service: ServiceProcess, path: str) -> httpx.Response:
    """On a new connection, which the kernel hands to any of the processes."""
    with httpx.Client(base_url=service.url, timeout=60) as client:
        return client.get(path)


def fresh_sample(service: ServiceProcess, seed: int) -> bytes:
    with httpx.Client(base_url=service.url, timeout=60) as client:
        answer = client.post("/samples", json={"model": "digits", "seed": seed, "n": 3})
    assert answer.status_code == 200, answer.text
    return answer.content


def all_ready(service: ServiceProcess) -> None:
    """Thirty /readyz in a row answer 200, each on a new connection: every process is up."""
    streak = [0]

    def check() -> bool:
        ok = fresh_get(service, "/readyz").status_code == 200
        streak[0] = streak[0] + 1 if ok else 0
        return streak[0] >= 30

    wait_for(check, 120, "every API process to be ready", interval=0.05)


@pytest.fixture(scope="module")
def svc(trained_store: Path, tmp_path_factory, make_service) -> ServiceProcess:
    store = copy_store(trained_store, tmp_path_factory.mktemp("processes") / "models")
    service = make_service(store, api_processes=PROCESSES)
    service.wait_ready()
    all_ready(service)
    return service


def test_the_processes_share_one_port_and_give_the_same_bytes(svc: ServiceProcess) -> None:
    assert len(api_pids(svc)) == PROCESSES
    answers = {fresh_sample(svc, seed=7) for _ in range(30)}
    # 30 new connections spread over 2 processes (all on one: about 2 in a billion)
    assert len(answers) == 1


def test_metrics_from_any_process_count_every_process(svc: ServiceProcess) -> None:
    def served() -> float:
        return svc.metric("gan_http_requests_total", route="/samples", status="200")

    assert len(api_pids(svc)) == PROCESSES
    before = served()
    for seed in range(20):
        fresh_sample(svc, seed)
    # each scrape is answered by one process and must still see all 20 requests
    assert {served() - before for _ in range(6)} == {20.0}
    assert svc.metric("gan_models_on_device") >= 1


def test_a_killed_process_is_replaced_while_the_others_serve(svc: ServiceProcess) -> None:
    before = api_pids(svc)
    counted = svc.metric("gan_http_requests_total", route="/samples", status="200")
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: _gone(victim), 10, f"process {victim} to die")
    reference = fresh_sample(svc, seed=3)  # the survivor answers at once
    replaced = wait_for(lambda: len(api_pids(svc) - before) == 1, 60, "a new API process")
    assert replaced and victim not in api_pids(svc) and len(api_pids(svc)) == PROCESSES
    all_ready(svc)
    assert {fresh_sample(svc, seed=3) for _ in range(10)} == {reference}
    # the dead process's requests still count
    assert svc.metric("gan_http_requests_total", route="/samples", status="200") >= counted + 11
    assert "exited with -9; starting another" in svc.log_text()


def test_sigterm_stops_every_process(svc: ServiceProcess) -> None:
    pids = api_pids(svc)
    svc.stop()
    assert svc.process.returncode == 0
    for pid in pids:
        assert _gone(pid), f"API process {pid} left running"


def _gone(pid: int) -> bool:
    """Exited: no process, or a zombie its parent has not reaped yet."""
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def test_start_up_freezes_its_objects_out_of_the_garbage_collector(tmp_path: Path) -> None:
    here = Path(__file__).parent
    script = (
        "import gc, sys, time\n"
        "from pathlib import Path\n"
        "from upload_helpers import app_client\n"
        "before = gc.get_freeze_count()\n"
        "with app_client(Path(sys.argv[1])) as client:\n"
        "    runtime = client.app.state.runtime\n"
        "    deadline = time.monotonic() + 60\n"
        "    while not runtime.started and time.monotonic() < deadline:\n"
        "        time.sleep(0.05)\n"
        "    print(before, gc.get_freeze_count())\n"
    )
    path = os.pathsep.join([str(here.parents[1]), str(here)])
    env = os.environ | {"PYTHONPATH": path}
    command = [sys.executable, "-c", script, str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = map(int, done.stdout.split())
    assert before == 0 and after > 10_000


def test_a_port_someone_listens_on_is_refused_by_name(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")} | {
            "GAN_REDIS_URL": "redis://127.0.0.1:1/0", "GAN_API_PROCESSES": "2",
            "GAN_MODEL_DIR": str(tmp_path / "models"), "GAN_VAR_DIR": str(tmp_path / "var"),
            "PYTHONPATH": str(Path(__file__).parents[2]),
        }  # fmt: skip
        command = [sys.executable, "-m", "service", "--port", str(port)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == STARTUP_FAILURE
    assert f"cannot serve on 127.0.0.1:{port}: another process listens there" in done.stderr


def _exit_at_once(host: str, port: int, options: dict) -> None:
    os._exit(7)


def test_processes_that_cannot_start_stop_the_service() -> None:
    started = time.monotonic()
    status = serve_processes(2, "127.0.0.1", 0, {}, target=_exit_at_once)
    assert status == STARTUP_FAILURE
    assert time.monotonic() - started < 60  # backs off 2 s, then 4 s, then gives up
