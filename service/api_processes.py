"""Several API processes behind one port (GAN_API_PROCESSES), each with its own listening
socket (SO_REUSEPORT), started again when one dies.

Each process runs the whole app: an event loop, a device thread, its own copy of the models.
One socket each, rather than one shared socket, because the kernel then spreads new
connections over the processes by their addresses' hash. With one shared socket the process
that happens to be awake accepts them: measured with 32 keep-alive connections on 2 processes,
splits of 22/10, 27/5 and 31/1, and the busier process set the pace.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

log = logging.getLogger("service.api_processes")

QUICK_EXIT_S = 10.0  # a process that dies sooner than this after its start backs off
MAX_BACKOFF_S = 30.0
GIVE_UP_AFTER = 3  # quick exits in a row of one process: it cannot start, so all stop
STARTUP_FAILURE = 3  # uvicorn's exit status when it cannot start


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) that other processes of this user may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _serve_one(host: str, port: int, options: dict[str, Any]) -> None:
    """One API process: its own listening socket on the shared port, then uvicorn. It leaves
    the parent's process group, so a Ctrl-C reaches the parent alone, which stops the
    processes one SIGTERM each (a second signal would cut uvicorn's graceful shutdown short),
    and it stops itself if the parent dies."""
    os.setpgrp()
    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    sock = reuse_port_socket(host, port)
    config = uvicorn.Config("service.server:worker_app", factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_processes(
    count: int,
    host: str,
    port: int,
    options: dict[str, Any],
    target: Callable[[str, int, dict[str, Any]], None] = _serve_one,
) -> int:
    """Run `count` API processes until SIGTERM or SIGINT, starting again any that dies; the
    exit status. A process that dies GIVE_UP_AFTER times in a row within QUICK_EXIT_S of its
    start cannot start (its log says why): then all stop, with STARTUP_FAILURE.

    The parent keeps a bound, never listening, socket on the port: it fails early when the
    port is taken, turns port 0 into one port for all, and receives no connections itself.
    Another service listening there already is refused too, even one that would share it."""
    if port and _listening(host, port):
        log.error("cannot serve on %s:%d: another process listens there", host, port)
        return STARTUP_FAILURE
    try:
        holder = reuse_port_socket(host, port)
    except OSError as exc:
        log.error("cannot serve on %s:%d: %s", host, port, exc)
        return STARTUP_FAILURE
    port = holder.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}

    def start() -> tuple[BaseProcess, float]:
        process = context.Process(target=target, args=(host, port, options), daemon=False)
        process.start()
        log.info("API process %d started on %s:%d", process.pid, host, port)
        return process, time.monotonic()

    processes = [start() for _ in range(count)]
    quick_exits = [0] * count
    restart_at = [0.0] * count
    log.info("%d API processes on http://%s:%d", count, host, port)
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, (process, started) in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                if not restart_at[i]:
                    quick = time.monotonic() - started < QUICK_EXIT_S
                    quick_exits[i] = quick_exits[i] + 1 if quick else 0
                    if quick_exits[i] >= GIVE_UP_AFTER:
                        log.error("API process %d exited with %s within %.0f s of its start, "
                                  "%d times in a row: stopping", process.pid, process.exitcode,
                                  QUICK_EXIT_S, quick_exits[i])  # fmt: skip
                        status = STARTUP_FAILURE
                        stopping = True
                        break
                    delay = min(MAX_BACKOFF_S, 2.0 ** quick_exits[i]) if quick else 0.0
                    restart_at[i] = time.monotonic() + delay
                    log.error("API process %d exited with %s; starting another in %.0f s",
                              process.pid, process.exitcode, delay)  # fmt: skip
                if time.monotonic() >= restart_at[i]:
                    restart_at[i] = 0.0
                    processes[i] = start()
    finally:
        _stop_all([p for p, _ in processes], options.get("timeout_graceful_shutdown") or 30)
        holder.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status


def _listening(host: str, port: int) -> bool:
    """Whether something accepts connections on (host, port) already."""
    target = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop_all(processes: list[BaseProcess], grace_s: float) -> None:
    """SIGTERM to each (uvicorn's graceful shutdown), SIGKILL to what is left after grace_s."""
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s + 5
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.warning("API process %d did not stop in time: killed", process.pid)
            process.kill()
            process.join()
