"""A job's Server-Sent Events, read line by line, and where to resume after a drop.

`EventCursor` holds no connection: the sync and async clients feed it the lines they read and
ask it for the headers of the next connection (`Last-Event-ID`) and how long to wait before it.
Parsing follows the SSE spec: an event is dispatched at a blank line, a partial event cut off by
a dropped connection is discarded, and only a dispatched event's id counts as received.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from gan_client.errors import JobFailed, JobTimeout, Unreachable
from gan_client.retry import RetryPolicy

FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})
_ENDS_STREAM = FINAL_STATES | {"missing"}  # "missing": the job's record is gone


class StreamBroken(Exception):
    """The server ended the stream with an `error` event (its Redis was lost)."""


class EventCursor:
    def __init__(self, job_id: str, policy: RetryPolicy, last_event_id: str | None = None):
        self.job_id = job_id
        self.policy = policy
        self.last_event_id = last_event_id
        self.done = False  # the final state has been seen: do not reconnect
        self.retry_s: float | None = None  # the server's `retry:` advice
        self._drops = 0  # drops since the last event
        self._discard_partial()

    def _discard_partial(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id = self.last_event_id
        self._has_id = False  # this event has an `id:` line of its own

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def feed(self, line: str) -> dict[str, Any] | None:
        """One line, without its line break; returns the event it completes, if any. Raises
        StreamBroken for the server's `error` event."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):  # a comment: the server's keep-alive
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id, self._has_id = value, True
        elif name == "retry" and value.isdigit():
            self.retry_s = int(value) / 1000
        return None

    def _dispatch(self) -> dict[str, Any] | None:
        self.last_event_id = self._id
        data, kind, has_id = "\n".join(self._data), self._event or "message", self._has_id
        self._data, self._event, self._has_id = [], "", False
        if not data:
            return None
        try:
            payload = json.loads(data)
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            payload = {"type": kind, "data": data}
        if kind == "error":
            raise StreamBroken(str(payload.get("error", data)))
        payload.setdefault("type", kind)
        if has_id:  # job.events(last_event_id=...) resumes after it
            payload.setdefault("event_id", self.last_event_id)
        self._drops = 0
        if kind == "state" and payload.get("state") in _ENDS_STREAM:
            self.done = True
        return payload

    def dropped(self, reason: str) -> float:
        """The connection ended before the final state: the seconds to wait before the next
        one, which resumes after the last event received. Raises Unreachable after
        `policy.attempts` drops in a row with no event between them."""
        self._discard_partial()
        if self._drops >= self.policy.attempts:
            raise Unreachable(
                f"the event stream of job {self.job_id} dropped {self._drops + 1} times in a "
                f"row; last: {reason}"
            )
        wanted = max(self.retry_s or 0.0, self.policy.backoff * 2**self._drops)
        self._drops += 1
        return min(self.policy.max_sleep, wanted)


def final_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record of a job that has ended; JobFailed unless it succeeded."""
    state = record.get("state")
    if state == "succeeded":
        return dict(record)
    job = record.get("id", "?")
    if state == "failed":
        raise JobFailed(f"job {job} failed: {record.get('error') or 'no reason given'}", record)
    if state == "cancelled":
        raise JobFailed(f"job {job} was cancelled at step {record.get('step')}", record)
    raise JobFailed(f"job {job} has not ended (state {state!r})", record)


STREAM_READ_TIMEOUT_S = 30.0  # the server sends a keep-alive every 5 s


def read_timeout(deadline: float | None) -> float:
    """The read timeout of an event stream that must give up at `deadline` (monotonic)."""
    if deadline is None:
        return STREAM_READ_TIMEOUT_S
    return max(0.1, min(STREAM_READ_TIMEOUT_S, deadline - time.monotonic()))


def check_deadline(deadline: float | None, job_id: str) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise JobTimeout(f"job {job_id} has not ended within the time given")
