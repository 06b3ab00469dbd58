"""Keep child processes running: restart each one that dies, with exponential backoff.

`Supervisor.add(ChildSpec(name, start))` starts a child; `start()` runs the thread that polls
them. Each child should lead its own process group (`start_new_session=True`). When one dies,
the thread logs how (exit code or signal), kills what it left behind in its process group (a
worker's pool process), reaps it, and starts it again after a backoff: `backoff_s`, doubling
up to `max_backoff_s`, and back to `backoff_s` once the child has stayed up `stable_s`.
`status()` and `degraded()` say which children are up; `stop()` stops them in reverse order
of `add()` and restarts nothing from then on.

The thread that forks a restarted child must outlive it: PR_SET_PDEATHSIG (which the embedded
children set) fires when the *thread* that forked a child ends, not when its process does. So
`stop()` first parks the thread, then stops the children, and only then lets the thread end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("service.supervisor")


@dataclass(frozen=True)
class ChildSpec:
    name: str
    start: Callable[[], subprocess.Popen]  # called again, unchanged, for every restart
    grace_s: float = 10.0  # on stop(): SIGTERM, then SIGKILL after this long


@dataclass(frozen=True)
class ChildStatus:
    name: str
    up: bool
    pid: int | None
    restarts: int  # times started again after dying
    attempt: int  # while down: which restart attempt is next (1, 2, ...); 0 while up
    last_exit: str | None  # how it last died: "exit code 1", "killed by SIGKILL"


class _Child:
    def __init__(self, spec: ChildSpec, process: subprocess.Popen) -> None:
        self.spec = spec
        self.process: subprocess.Popen | None = process
        self.started = time.monotonic()
        self.restarts = 0
        self.failures = 0  # deaths since it last stayed up `stable_s`
        self.next_start = 0.0
        self.last_exit: str | None = None

    def status(self) -> ChildStatus:
        up = self.process is not None
        return ChildStatus(
            name=self.spec.name,
            up=up,
            pid=self.process.pid if self.process is not None else None,
            restarts=self.restarts,
            attempt=0 if up else self.failures,
            last_exit=self.last_exit,
        )


class Supervisor:
    def __init__(
        self,
        label: str = "embedded",
        *,
        poll_s: float = 0.5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        stable_s: float = 60.0,
    ) -> None:
        self.label = label  # names the children in logs and in degraded()
        self.poll_s = poll_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.stable_s = stable_s
        self._children: list[_Child] = []
        self._lock = threading.Lock()  # guards the children's fields; never held to fork
        self._stopping = threading.Event()  # no restart from now on
        self._parked = threading.Event()  # the thread has seen _stopping and forks no more
        self._release = threading.Event()  # the children are stopped: the thread may end
        self._thread: threading.Thread | None = None

    def add(self, spec: ChildSpec) -> subprocess.Popen:
        """Start a child now (its start function's errors propagate) and supervise it."""
        process = spec.start()
        with self._lock:
            self._children.append(_Child(spec, process))
        return process

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"{self.label}-supervisor", daemon=True
        )
        self._thread.start()

    def status(self) -> list[ChildStatus]:
        with self._lock:
            return [child.status() for child in self._children]

    def degraded(self) -> str | None:
        """Why not every child is up, e.g. 'embedded worker is down (restarting, attempt 2)';
        None when all are."""
        stopping = self._stopping.is_set()
        down = [
            f"{self.label} {c.name} is down "
            + ("(stopped)" if stopping else f"(restarting, attempt {c.attempt})")
            for c in self.status()
            if not c.up
        ]
        return "; ".join(down) or None

    def stop(self) -> None:
        """Stop the children in reverse order (each SIGTERM, then SIGKILL of its group after
        its grace period); none is restarted once this is called."""
        self._stopping.set()
        if self._thread is not None:
            self._parked.wait()  # a start in progress completes and is stopped below
        for child in reversed(self._children):
            if child.process is not None:
                stop_process(child.process, child.spec.grace_s)
                with self._lock:
                    child.process = None
        self._release.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self.poll_s):
                with self._lock:
                    children = list(self._children)
                for child in children:
                    if self._stopping.is_set():
                        break
                    try:
                        self._check(child)
                    except Exception:  # keep supervising the others
                        log.exception("%s %s: supervision failed", self.label, child.spec.name)
        finally:
            self._parked.set()
            self._release.wait()

    def _check(self, child: _Child) -> None:
        name, now = f"{self.label} {child.spec.name}", time.monotonic()
        process = child.process
        if process is not None:
            if not _has_exited(process):
                return
            _reap(process)
            how = describe_exit(process.returncode)
            if now - child.started >= self.stable_s:
                child.failures = 0  # it had been fine: start the backoff afresh
            delay = min(self.max_backoff_s, self.backoff_s * 2**child.failures)
            with self._lock:
                child.process = None
                child.failures += 1
                child.last_exit = how
                child.next_start = now + delay
            log.warning(
                "%s (pid %d) died: %s after %.0f s up; restart attempt %d in %.1f s",
                name, process.pid, how, now - child.started, child.failures, delay,
            )  # fmt: skip
            return
        if now < child.next_start:
            return
        try:
            process = child.spec.start()
        except Exception as exc:
            delay = min(self.max_backoff_s, self.backoff_s * 2**child.failures)
            with self._lock:
                child.failures += 1
                child.next_start = now + delay
            log.error("%s could not be started: %s; next attempt in %.1f s", name, exc, delay)
            return
        with self._lock:
            child.process = process
            child.started = time.monotonic()
            child.restarts += 1
        log.warning("%s restarted: pid %d (restart %d)", name, process.pid, child.restarts)


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def stop_process(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the child, wait, then SIGKILL its whole process group (it leads one)."""
    if not _has_exited(process):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    _reap(process)


def _has_exited(process: subprocess.Popen) -> bool:
    """Without reaping it: while the dead child is a zombie, its pid (its process group's id)
    cannot be reused, so _reap can still kill the group safely."""
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already
        return True


def _reap(process: subprocess.Popen) -> None:
    """Kill what the child left in its process group (pool processes, a Redis fork), then
    collect its exit status, so no zombie stays."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
