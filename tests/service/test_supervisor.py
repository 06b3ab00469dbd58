"""The Supervisor with small real child processes (`sh`, `sleep`): a child that dies is reaped,
what it left in its process group is killed, and it is started again after a doubling backoff;
status() and degraded() report it down meanwhile; stop() stops the children in reverse order
and restarts nothing afterwards."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.metrics import ServiceMetrics
from service.supervisor import ChildSpec, Supervisor


def _die_with_thread() -> None:
    """As the embedded children do: SIGTERM when the thread that forked us ends."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Starter:
    """A start function that records when it ran and what it started; `fail` start calls
    (by number, from 1) raise as a missing binary would."""

    def __init__(self, command: list[str], fail: frozenset[int] = frozenset()) -> None:
        self.command = command
        self.fail = fail
        self.calls: list[float] = []
        self.processes: list[subprocess.Popen] = []

    def __call__(self) -> subprocess.Popen:
        self.calls.append(time.monotonic())
        if len(self.calls) in self.fail:
            raise FileNotFoundError(f"start {len(self.calls)} fails on purpose")
        process = subprocess.Popen(
            self.command, start_new_session=True, preexec_fn=_die_with_thread
        )
        self.processes.append(process)
        return process


def _wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)
    return value


def _state(pid: int) -> str | None:
    """The process' state letter ('S', 'R', 'Z', ...), or None when it no longer exists."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return None


def _gone(pid: int) -> bool:
    return _state(pid) in (None, "Z")  # a zombie not ours: reparented to a lazy init


@pytest.fixture
def supervisors() -> Iterator[Callable[..., Supervisor]]:
    """Supervisor(...) whose children are stopped at the end even if the test fails."""
    made: list[Supervisor] = []

    def make(**options: float) -> Supervisor:
        made.append(Supervisor("test", **options))
        return made[-1]

    yield make
    for supervisor in made:
        supervisor.stop()


def test_a_child_that_keeps_exiting_is_restarted_with_doubling_backoff(supervisors) -> None:
    supervisor = supervisors(poll_s=0.02, backoff_s=0.1, max_backoff_s=0.4)
    flaky = Starter(["sh", "-c", "exit 3"])
    supervisor.add(ChildSpec("flaky", flaky))
    supervisor.start()
    _wait_for(lambda: len(flaky.calls) >= 6, 30, "five restarts")
    supervisor.stop()

    gaps = [b - a for a, b in zip(flaky.calls, flaky.calls[1:], strict=False)]
    # Each start waits at least its delay after the death was seen: 0.1, 0.2, 0.4, then capped.
    for gap, delay in zip(gaps, (0.1, 0.2, 0.4, 0.4, 0.4), strict=False):
        assert gap >= delay, (gaps, delay)
    assert gaps[3] + gaps[4] < 0.8 + 1.6, f"backoff not capped at 0.4 s: {gaps}"
    (status,) = supervisor.status()
    assert status.restarts == len(flaky.calls) - 1
    assert status.last_exit == "exit code 3"
    # Every one was reaped (its exit status collected): no zombie left.
    assert all(p.returncode is not None for p in flaky.processes)
    # ...each by its own exit, except perhaps the last, which stop() may have ended first.
    assert all(p.returncode == 3 for p in flaky.processes[:-1])
    assert not [p.pid for p in flaky.processes if _state(p.pid) == "Z"]


def test_a_killed_child_is_reported_down_then_restarted(supervisors, tmp_path: Path) -> None:
    supervisor = supervisors(poll_s=0.05, backoff_s=1.5)
    metrics = ServiceMetrics()
    metrics.track_children(supervisor.status)
    # A child with a grandchild in its process group, as a Celery worker has its pool process.
    pid_file = tmp_path / "grandchild.pid"
    command = f"sleep 300 & echo $! > {pid_file}; wait"
    starter = Starter(["sh", "-c", command])
    first = supervisor.add(ChildSpec("sleeper", starter))
    supervisor.start()
    grandchild = int(_wait_for(lambda: pid_file.exists() and pid_file.read_text(), 10, "pid"))
    assert supervisor.degraded() is None
    assert b'gan_embedded_child_up{child="sleeper"} 1.0' in metrics.render()

    os.kill(first.pid, signal.SIGKILL)
    down = _wait_for(lambda: not (s := supervisor.status()[0]).up and s, 10, "down")
    assert (down.pid, down.restarts, down.attempt) == (None, 0, 1)
    assert down.last_exit == "killed by SIGKILL"
    assert supervisor.degraded() == "test sleeper is down (restarting, attempt 1)"
    assert first.returncode == -signal.SIGKILL  # reaped, not a zombie
    _wait_for(lambda: _gone(grandchild), 10, "the grandchild to be killed with its group")
    assert b'gan_embedded_child_up{child="sleeper"} 0.0' in metrics.render()

    up = _wait_for(lambda: (s := supervisor.status()[0]).up and s, 20, "the restart")
    assert up.restarts == 1 and up.attempt == 0
    assert up.pid == starter.processes[1].pid != first.pid
    assert starter.calls[1] - starter.calls[0] >= 1.5
    assert supervisor.degraded() is None
    text = metrics.render()
    assert b'gan_embedded_child_restarts_total{child="sleeper"} 1.0' in text
    assert b'gan_embedded_child_up{child="sleeper"} 1.0' in text


def test_a_start_that_fails_is_retried_with_backoff(supervisors) -> None:
    supervisor = supervisors(poll_s=0.02, backoff_s=0.2, max_backoff_s=5)
    starter = Starter(["sleep", "300"], fail=frozenset({2, 3}))
    first = supervisor.add(ChildSpec("sleeper", starter))
    supervisor.start()
    os.kill(first.pid, signal.SIGKILL)
    _wait_for(lambda: supervisor.status()[0].attempt == 2, 10, "a failed start")
    assert supervisor.degraded() == "test sleeper is down (restarting, attempt 2)"
    up = _wait_for(lambda: (s := supervisor.status()[0]).up and s, 20, "the restart")
    assert (up.restarts, len(starter.calls)) == (1, 4)
    gaps = [b - a for a, b in zip(starter.calls[1:], starter.calls[2:], strict=False)]
    assert gaps[0] >= 0.4 and gaps[1] >= 0.8, gaps


def test_stop_stops_in_reverse_order_and_restarts_nothing(supervisors, tmp_path: Path) -> None:
    supervisor = supervisors(poll_s=0.02, backoff_s=0.1)
    order = tmp_path / "order"

    def child(name: str, linger_s: float) -> Starter:
        on_term = f"sleep {linger_s}; echo {name} >> {order}; exit 0"
        return Starter(["sh", "-c", f"trap '{on_term}' TERM; while :; do sleep 0.05; done"])

    # "second" takes a while to exit: stopped at once, "first" would finish before it.
    starters = {"first": child("first", 0), "second": child("second", 0.5)}
    for name, starter in starters.items():
        supervisor.add(ChildSpec(name, starter, grace_s=10))
    supervisor.start()
    # Kill both once, so the running ones were forked by the supervisor's thread.
    for starter in starters.values():
        os.kill(starter.processes[0].pid, signal.SIGKILL)
    _wait_for(lambda: all(s.up and s.restarts == 1 for s in supervisor.status()), 20, "restarts")

    supervisor.stop()
    assert order.read_text().split() == ["second", "first"]
    processes = [p for s in starters.values() for p in s.processes]
    assert all(p.returncode is not None for p in processes), "a child was not reaped"
    calls = sum(len(s.calls) for s in starters.values())
    time.sleep(0.5)  # 25 polling periods: nothing may be started again
    assert sum(len(s.calls) for s in starters.values()) == calls
    assert not any(s.up for s in supervisor.status())
    stopped = "test first is down (stopped); test second is down (stopped)"
    assert supervisor.degraded() == stopped
