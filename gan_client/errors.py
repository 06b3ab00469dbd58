"""What the client raises. Every error carries the server's message and the HTTP status.

GanError                   anything this client raises on purpose
├── BadRequest             another 4xx (422, 413, ...); `.field` names the bad field
├── AuthError              401 (no key) or 403 (key not accepted)
├── NotFound               404: no such model, version, job or dataset
├── Conflict               409: a refused version, a name taken, a job already ended
├── Busy                   429 or 503 still, after the retries (`.retry_after` in seconds)
├── ServerError            another 5xx, or an answer this client cannot read
├── Unreachable            no answer at all: refused connection, timeout, dropped stream
├── JobFailed              a job ended failed or cancelled (`.record` is its final record)
└── JobTimeout             job.wait(timeout) ran out first (also a TimeoutError)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx


class GanError(Exception):
    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class BadRequest(GanError):
    def __init__(
        self, message: str, *, status: int | None = None, body: Any = None, field: str | None = None
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.field = field


class AuthError(GanError):
    pass


class NotFound(GanError):
    pass


class Conflict(GanError):
    pass


class Busy(GanError):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class ServerError(GanError):
    pass


class Unreachable(GanError):
    pass


class JobFailed(GanError):
    def __init__(self, message: str, record: Mapping[str, Any]) -> None:
        super().__init__(message, body=dict(record))
        self.record = dict(record)
        self.state: str = str(record.get("state"))


class JobTimeout(GanError, TimeoutError):
    pass


_LOCATIONS = ("body", "query", "path", "header")


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


def _message(body: Any, response: httpx.Response) -> str:
    """The server's one-line `message` (422), else its `detail` string, else the raw text."""
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"]
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list) and detail:
            return "; ".join(str(e.get("msg", e) if isinstance(e, dict) else e) for e in detail)
    text = body if isinstance(body, str) else ""
    return text.strip()[:500] or f"{response.status_code} {response.reason_phrase}"


def _field(body: Any) -> str | None:
    """'labels.3' from a 422's first `detail` entry: its `loc` without 'body' / 'query'."""
    if not isinstance(body, dict) or not isinstance(body.get("detail"), list):
        return None
    first = body["detail"][0] if body["detail"] else None
    loc = first.get("loc") if isinstance(first, dict) else None
    if not isinstance(loc, list) or not loc:
        return None
    parts = loc[1:] if loc[0] in _LOCATIONS else loc
    return ".".join(str(p) for p in parts) or None


def error_for(response: httpx.Response, retry_after: float | None = None) -> GanError:
    """The typed error for an answer that is not a success (its body must have been read)."""
    status = response.status_code
    body = _body(response)
    message = _message(body, response)
    if status in (401, 403):
        return AuthError(message, status=status, body=body)
    if status == 404:
        return NotFound(message, status=status, body=body)
    if status == 409:
        return Conflict(message, status=status, body=body)
    if status in (429, 503):
        return Busy(message, status=status, body=body, retry_after=retry_after)
    if 400 <= status < 500:
        return BadRequest(message, status=status, body=body, field=_field(body))
    return ServerError(message, status=status, body=body)
