"""429 and 503 are retried after their Retry-After, a bounded number of times with a capped
sleep; every other failure is a typed error carrying the server's message, sent once."""

from __future__ import annotations

import asyncio
import email.utils
import io
import time

import httpx
import numpy as np
import pytest
from fake_server import Exchange, FakeServer

from gan_client import (
    AsyncGanClient,
    AuthError,
    BadRequest,
    Busy,
    Conflict,
    GanClient,
    NotFound,
    RetryPolicy,
    ServerError,
)
from gan_client.retry import retry_after

FAST = RetryPolicy(attempts=3, max_sleep=0.5, backoff=0.01)
MODELS = {"default_model": "m", "models": []}


def busy_first(times: int, status: int = 503, after: str = "0"):
    def handle(x: Exchange) -> None:
        if x.number < times:
            x.reply(status, {"detail": f"busy ({x.number})"}, {"Retry-After": after})
        else:
            x.reply(200, MODELS)

    return handle


def test_503_is_retried_after_retry_after_then_answered() -> None:
    with FakeServer(busy_first(1)) as server, GanClient(server.url, retry=FAST) as gan:
        assert gan.models() == MODELS
    assert [(s.method, s.path) for s in server.seen] == [("GET", "/models")] * 2


def test_429_on_samples_sends_the_same_body_again() -> None:
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1)
    buf = io.BytesIO()
    np.save(buf, images)

    def handle(x: Exchange) -> None:
        if x.number < 2:
            x.reply(429, {"detail": "sample queue full"}, {"Retry-After": "0"})
        else:
            headers = {"X-Model-Version": "m@1", "X-Seed": "5", "X-Count": "2"}
            x.reply(200, buf.getvalue(), {"Content-Type": "application/x-npy", **headers})

    with FakeServer(handle) as server, GanClient(server.url, retry=FAST) as gan:
        assert np.array_equal(gan.sample("m", 2, 5, as_="numpy"), images)
        pictures = gan.sample("m", 2, 5)
    assert [p.mode for p in pictures] == ["L", "L"] and pictures[1].tobytes() == images[1].tobytes()
    bodies = {s.body for s in server.seen}
    assert len(server.seen) == 4 and len(bodies) == 1
    assert bodies.pop() == (b'{"model":"m","n":2,"seed":5,"offset":0,"truncation":1.0,'
                            b'"format":"npy"}')  # fmt: skip


def test_busy_after_the_last_retry_carries_the_message_and_retry_after() -> None:
    policy = RetryPolicy(attempts=2, max_sleep=0.5, backoff=0.01)
    with FakeServer(busy_first(99)) as server, GanClient(server.url, retry=policy) as gan:
        busy = pytest.raises(Busy, gan.models)
    assert (busy.value.status, busy.value.retry_after, busy.value.message) == (503, 0, "busy (2)")
    assert len(server.seen) == 3  # the first try and two retries


def test_no_retries_when_the_policy_says_none() -> None:
    policy = RetryPolicy(attempts=0)
    with FakeServer(busy_first(1, 429)) as server, GanClient(server.url, retry=policy) as gan:
        busy = pytest.raises(Busy, gan.models)
    assert busy.value.status == 429 and len(server.seen) == 1


def test_a_long_retry_after_is_capped() -> None:
    policy = RetryPolicy(attempts=2, max_sleep=0.3)
    handle = busy_first(1, 429, after="3600")
    with FakeServer(handle) as server, GanClient(server.url, retry=policy) as gan:
        start = time.monotonic()
        assert gan.models() == MODELS
        elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 30 and len(server.seen) == 2  # capped: not the 3,600 s asked


def test_retry_after_as_seconds_or_http_date() -> None:
    def answer(value: str | None) -> httpx.Response:
        return httpx.Response(503, headers={} if value is None else {"Retry-After": value})

    assert retry_after(answer("7")) == 7.0
    assert retry_after(answer(None)) is None and retry_after(answer("soon")) is None
    later = retry_after(answer(email.utils.formatdate(time.time() + 3, usegmt=True)))
    assert later is not None and 1 <= later <= 3
    assert retry_after(answer(email.utils.formatdate(time.time() - 60, usegmt=True))) == 0
    policy = RetryPolicy(attempts=5, max_sleep=1.0, backoff=0.1)
    assert [policy.sleep_for(a) for a in range(5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
    assert policy.sleep_for(0, retry_after=2.5) == 1.0


FIELD_ERROR = {
    "detail": [{"loc": ["body", "arch_config", "g_width"], "msg": "too wide", "type": "x"}],
    "message": "body.arch_config.g_width: too wide (got 4096)",
}


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (422, FIELD_ERROR, BadRequest, "body.arch_config.g_width: too wide (got 4096)"),
        (413, {"detail": "request body of 70000 bytes exceeds"}, BadRequest, "request body of"),
        (400, b"plain words", BadRequest, "plain words"),
        (401, {"detail": "missing API key"}, AuthError, "missing API key"),
        (403, {"detail": "API key not accepted"}, AuthError, "API key not accepted"),
        (404, {"detail": "no training job with id 'x'"}, NotFound, "no training job"),
        (409, {"detail": "job x has already succeeded"}, Conflict, "job x has already"),
        (500, {"detail": "internal error; see the server log"}, ServerError, "internal error"),
        (504, b"", ServerError, "504 Gateway Timeout"),
    ],
)
def test_every_failure_is_a_typed_error_sent_once(status, body, kind, message) -> None:
    sent = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    with GanClient("http://gan.test", retry=FAST, transport=httpx.MockTransport(handle)) as gan:
        error = pytest.raises(kind, gan.train, "ring-8", steps=5)
    assert error.value.status == status and error.value.message.startswith(message)
    assert len(sent) == 1
    if status == 422:
        assert error.value.field == "arch_config.g_width"


def test_the_async_client_retries_the_same_way() -> None:
    async def main() -> dict:
        async with AsyncGanClient(server.url, retry=FAST) as gan:
            return await gan.models()

    with FakeServer(busy_first(2)) as server:
        assert asyncio.run(main()) == MODELS
    assert len(server.seen) == 3
