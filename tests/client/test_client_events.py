"""A job's event stream against a scripted server that drops it: the client resumes with
Last-Event-ID, yields every event once (a partial event cut off by the drop is not yielded),
gives up after a bounded number of drops, and wait() times out or raises JobFailed. Plus the
`watch` command's exit status for a job that failed and one that succeeded."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from conftest import run_cli
from fake_server import Exchange, FakeServer, sse

from gan_client import (
    AsyncGanClient,
    GanClient,
    JobFailed,
    JobTimeout,
    RetryPolicy,
    Unreachable,
)

FAST = RetryPolicy(attempts=3, max_sleep=0.5, backoff=0.01)
JOB = "j1"


def record(state: str, step: int, error: str | None = None) -> dict:
    return {"id": JOB, "name": "ring-8-j1", "dataset": "ring-8", "state": state, "step": step,
            "total_steps": 4, "error": error, "published": [], "promoted": None}  # fmt: skip


def progress(step: int) -> dict:
    return {"type": "progress", "job_id": JOB, "step": step, "total_steps": 4,
            "losses": {"d": 1.25, "g": 0.75}}  # fmt: skip


def state(name: str, **extra) -> dict:
    return {"type": "state", "job_id": JOB, "state": name, **extra}


class Script:
    """GET /train-jobs/j1 answers `self.record`; each connection to its events is one of
    `streams` in turn, given the Exchange; every Last-Event-ID received is kept."""

    def __init__(self, first: dict, streams: list[Callable[[Exchange], None]]) -> None:
        self.record = first
        self.streams = streams
        self.last_ids: list[str | None] = []

    def __call__(self, x: Exchange) -> None:
        if x.seen.path == f"/train-jobs/{JOB}":
            x.reply(200, self.record)
        elif x.seen.path == f"/train-jobs/{JOB}/events":
            self.last_ids.append(x.seen.headers.get("last-event-id"))
            self.streams[len(self.last_ids) - 1](x)
        else:
            x.reply(404, {"detail": f"no route {x.seen.path}"})


def dropping_script(final: str = "succeeded", error: str | None = None) -> Script:
    """Two events, half of a third, a dropped connection; then the rest after Last-Event-ID."""

    def first(x: Exchange) -> None:
        x.start_events()
        x.chunk("retry: 10\n\n")
        x.chunk(sse("state", state("queued"), "1-0"))
        x.chunk(sse("progress", progress(1), "2-0"))
        x.chunk('id: 3-0\nevent: progress\ndata: {"type": "progr')
        x.drop()

    def second(x: Exchange) -> None:
        x.start_events()
        x.chunk(sse("progress", progress(2), "3-0"))
        x.chunk(": keep-alive\n\n")
        script.record = record(final, 2, error)
        x.chunk(sse("state", state(final, error=error), "4-0"))
        x.end_events()

    script = Script(record("running", 1), [first, second])
    return script


def check_resumed(events: list[dict], script: Script) -> None:
    assert [(e["type"], e.get("state"), e.get("step")) for e in events] == [
        ("state", "queued", None), ("progress", None, 1), ("progress", None, 2),
        ("state", "succeeded", None)
    ]  # fmt: skip
    assert [e["event_id"] for e in events] == ["1-0", "2-0", "3-0", "4-0"]
    assert events[1]["losses"] == {"d": 1.25, "g": 0.75}
    assert script.last_ids == [None, "2-0"]


def test_events_resume_after_a_dropped_connection() -> None:
    script = dropping_script()
    with FakeServer(script) as server, GanClient(server.url, retry=FAST) as gan:
        events = list(gan.job(JOB).events())
    check_resumed(events, script)


def test_async_events_resume_after_a_dropped_connection() -> None:
    async def main() -> list[dict]:
        async with AsyncGanClient(server.url, retry=FAST) as gan:
            job = await gan.job(JOB)
            return [event async for event in job.events()]

    script = dropping_script()
    with FakeServer(script) as server:
        events = asyncio.run(main())
    check_resumed(events, script)


def test_events_can_start_after_a_known_id() -> None:
    def rest(x: Exchange) -> None:
        x.start_events()
        x.chunk(sse("state", state("succeeded"), "4-0"))
        x.end_events()

    script = Script(record("running", 2), [rest])
    with FakeServer(script) as server, GanClient(server.url, retry=FAST) as gan:
        events = list(gan.job(JOB).events(last_event_id="3-0"))
    assert [e["event_id"] for e in events] == ["4-0"] and script.last_ids == ["3-0"]


def test_wait_follows_a_dropped_stream_to_the_final_record() -> None:
    script = dropping_script()
    with FakeServer(script) as server, GanClient(server.url, retry=FAST) as gan:
        job = gan.job(JOB)
        assert job.state == "running"
        assert job.wait(timeout=30) == record("succeeded", 2)
        assert job.record["state"] == "succeeded"


def test_a_stream_ended_early_or_by_an_error_event_is_resumed() -> None:
    def ends_early(x: Exchange) -> None:
        x.start_events()
        x.chunk(sse("state", state("running"), "1-0"))
        x.end_events()

    def redis_lost(x: Exchange) -> None:
        x.start_events()
        x.chunk(sse("error", {"error": "job store unavailable: Redis cannot be reached"}))
        x.end_events()

    def unavailable(x: Exchange) -> None:
        x.reply(503, {"detail": "job store unavailable"}, {"Retry-After": "0"})

    def final(x: Exchange) -> None:
        x.start_events()
        x.chunk(sse("state", state("succeeded"), "2-0"))
        x.end_events()

    script = Script(record("running", 0), [ends_early, redis_lost, unavailable, final])
    with FakeServer(script) as server, GanClient(server.url, retry=FAST) as gan:
        events = list(gan.job(JOB).events())
    assert [e["state"] for e in events] == ["running", "succeeded"]
    assert script.last_ids == [None, "1-0", "1-0", "1-0"]


def test_too_many_drops_in_a_row_raise_unreachable() -> None:
    def drops(x: Exchange) -> None:
        x.start_events()
        x.chunk(": keep-alive\n\n")
        x.drop()

    policy = RetryPolicy(attempts=2, backoff=0.01)
    script = Script(record("running", 0), [drops] * 5)
    with FakeServer(script) as server, GanClient(server.url, retry=policy) as gan:
        job = gan.job(JOB)
        with pytest.raises(Unreachable, match="dropped 3 times in a row"):
            list(job.events())
    assert len(script.last_ids) == 3


def test_wait_gives_up_at_its_timeout() -> None:
    stop = threading.Event()

    def forever(x: Exchange) -> None:
        x.start_events()
        x.chunk(sse("state", state("running"), "1-0"))
        while not stop.is_set():  # a keep-alive every 50 ms, never an end
            x.chunk(": keep-alive\n\n")
            time.sleep(0.05)

    script = Script(record("running", 0), [forever] * 3)
    try:
        with FakeServer(script) as server, GanClient(server.url, retry=FAST) as gan:
            start = time.monotonic()
            with pytest.raises(JobTimeout):
                gan.job(JOB).wait(timeout=0.5)
            assert 0.5 <= time.monotonic() - start < 30  # gave up: the stream never ends
    finally:
        stop.set()
    assert isinstance(JobTimeout("x"), TimeoutError)


@pytest.mark.parametrize(
    ("final", "words"),
    [(record("failed", 3, "CUDA out of memory"), "failed: CUDA out of memory"),
     (record("cancelled", 3), "was cancelled at step 3")],
)  # fmt: skip
def test_wait_raises_job_failed_with_the_record(final: dict, words: str) -> None:
    script = Script(final, [])
    with FakeServer(script) as server, GanClient(server.url, retry=FAST) as gan:
        job = gan.job(JOB)
        failed = pytest.raises(JobFailed, job.wait)
    assert words in failed.value.message
    assert failed.value.record == final and failed.value.state == final["state"]
    assert script.last_ids == []  # already over: no stream opened


def test_async_wait_raises_job_failed_after_the_stream() -> None:
    async def main() -> None:
        async with AsyncGanClient(server.url, retry=FAST) as gan:
            await (await gan.job(JOB)).wait(timeout=30)

    with FakeServer(dropping_script("failed", "boom")) as server:
        failed = pytest.raises(JobFailed, asyncio.run, main())
    assert "boom" in failed.value.message
    assert failed.value.record["step"] == 2


@pytest.mark.parametrize(
    ("final", "error", "status", "line"),
    [("succeeded", None, 0, "job j1 (ring-8-j1) succeeded at step 2/4"),
     ("failed", "boom", 1, "job j1 (ring-8-j1) failed at step 2/4: boom")],
)  # fmt: skip
def test_cli_watch_shows_the_final_state_and_exits_by_it(final, error, status, line) -> None:
    with FakeServer(dropping_script(final, error)) as server:
        done = run_cli("--url", server.url, "watch", JOB, timeout=60)
    assert done.returncode == status, done.stderr
    assert line in done.stdout and "Traceback" not in done.stderr
    assert "2/4" in done.stderr and "d=1.250" in done.stderr  # the progress bar and losses
