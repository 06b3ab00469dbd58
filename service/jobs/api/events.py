"""Server-Sent Events for one job, read from its Redis stream (late readers replay it all).

Each stream entry becomes one SSE message: `id` is the stream id (so `Last-Event-ID` resumes),
`event` is its type (state, progress, cancel_requested), `data` its JSON. The response ends after
the event that puts the job in a final state.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import redis.asyncio

from service.jobs.store.job_store import PREFIX, events_key
from service.jobs.store.records import TERMINAL_STATES
from service.jobs.store.redis_client import REDIS_DOWN_ERRORS, unavailable

BLOCK_MS = 5000  # the async client's socket timeout must be longer than this


def sse(event: str, data: str, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


async def job_events(
    client: redis.asyncio.Redis, url: str, job_id: str, last_id: str | None
) -> AsyncIterator[bytes]:
    key = events_key(job_id)
    last = last_id or "0-0"
    block: int | None = None  # the first read only replays, so a finished job answers at once
    yield b"retry: 2000\n\n"
    while True:
        try:
            answer = await client.xread({key: last}, count=200, block=block)
            block = BLOCK_MS
            if not answer:
                state = await client.hget(f"{PREFIX}job:{job_id}", "state")
                if state is None or state in TERMINAL_STATES:
                    # Over, and its final event was read before (or trimmed): say so and end.
                    payload = {"type": "state", "job_id": job_id, "state": state or "missing"}
                    yield sse("state", json.dumps(payload))
                    return
                yield b": keep-alive\n\n"
                continue
        except REDIS_DOWN_ERRORS as exc:
            yield sse("error", json.dumps({"error": str(unavailable(url, exc))}))
            return
        for entry_id, fields in answer[0][1]:
            last = entry_id
            data = fields.get("data", "{}")
            event = json.loads(data)
            kind = event.get("type", "message")
            yield sse(kind, data, entry_id)
            if kind == "state" and event.get("state") in TERMINAL_STATES:
                return
