"""Domain errors of the service. `service.error_handlers` maps them to HTTP answers in one
place; this module imports no web framework, so the training worker raises them too.

    ServiceError
    ├── FieldError           422  a request field is wrong in a way only the service can tell
    ├── NoModelPublished     503  the model directory holds no usable checkpoint yet
    ├── UnknownModel         404  no model (or no such version) of that name
    ├── VersionRefused       409  the version exists but its checkpoint was refused
    ├── ModelUnavailable     503  the version could not be loaded just now
    ├── QueueFull            429  the sample queue or the job queue is full (with Retry-After)
    ├── RequestTimedOut      504  the samples were not ready within request_timeout_s
    ├── DefaultVersion       409  the version is its model's default (promote another first)
    ├── UnknownJob           404  no training job with that id
    ├── NameTaken            409  a job's model name is used by another job or model
    ├── JobFinished          409  the job already ended (nothing to cancel)
    ├── JobActive            409  the job is queued or running (nothing to delete yet)
    ├── JobStoreUnavailable  503  Redis cannot be reached just now (with Retry-After)
    ├── UnknownDataset       404  no uploaded dataset of that name
    ├── DatasetExists        409  an uploaded dataset of that name exists already
    ├── DatasetInUse         409  a queued or running job trains on the dataset
    ├── UploadTooLarge       413  an upload unpacks to more than the limits allow
    ├── UploadAborted        400  the client went away before the upload was complete
    └── StorageFull          507  the data root's disk is full

Every answer is JSON: {"detail": "<message>"}; validation errors keep FastAPI's list of
{loc, msg, type, input} in "detail" and add a one-line "message" naming the field and value.
"""

from __future__ import annotations

import json
import math
from typing import Any

_ECHO_DEPTH = 8  # how deep a bad input is echoed back; deeper parts become "…"
_ECHO_ITEMS = 20
_ECHO_CHARS = 200


class ServiceError(Exception):
    status = 500

    def headers(self) -> dict[str, str]:
        return {}


class FieldError(ServiceError):
    """`field` is dotted ("labels.3"); `location` is where it was sent: body, query or path."""

    status = 422

    def __init__(self, field: str, value: Any, message: str, location: str = "body") -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.location = location


class NoModelPublished(ServiceError):
    status = 503


class UnknownModel(ServiceError):
    status = 404


class VersionRefused(ServiceError):
    status = 409


class ModelUnavailable(ServiceError):
    status = 503


class QueueFull(ServiceError):
    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class RequestTimedOut(ServiceError):
    status = 504


class DefaultVersion(ServiceError):
    status = 409


class UnknownJob(ServiceError):
    status = 404


class NameTaken(ServiceError):
    status = 409


class JobFinished(ServiceError):
    status = 409


class JobActive(ServiceError):
    status = 409


class JobStoreUnavailable(ServiceError):
    """The message says only that the store is unreachable: host, port and password stay in
    the server's log, never in an answer."""

    status = 503
    retry_after_s = 5

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class UnknownDataset(ServiceError):
    status = 404


class DatasetExists(ServiceError):
    status = 409


class DatasetInUse(ServiceError):
    status = 409


class UploadTooLarge(ServiceError):
    status = 413


class UploadAborted(ServiceError):
    status = 400


class StorageFull(ServiceError):
    status = 507


def json_safe(value: Any, depth: int = 0) -> Any:
    """A bounded, strictly JSON-encodable copy of a bad input, to echo it back: NaN and the
    infinities become strings, bytes are decoded, and long or deep values are cut."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, bytes):
        value = value[:_ECHO_CHARS].decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= _ECHO_CHARS else value[:_ECHO_CHARS] + "…"
    if depth >= _ECHO_DEPTH:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:_ECHO_ITEMS]
        return {str(k)[:_ECHO_CHARS]: json_safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value[:_ECHO_ITEMS]]
    return json_safe(str(value), depth)


def describe_value(value: Any, limit: int = 80) -> str:
    value = json_safe(value)
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validation_message(errors: list[dict[str, Any]]) -> str:
    """'body.n: Input should be less than or equal to 256 (got 1000); ...' for every error."""
    parts = []
    for e in errors:
        where = ".".join(str(p) for p in e.get("loc", ())) or "body"
        got = f" (got {describe_value(e['input'])})" if "input" in e else ""
        parts.append(f"{where}: {e.get('msg', 'invalid')}{got}")
    return "; ".join(parts)


def clean_errors(errors: Any) -> list[dict[str, Any]]:
    """JSON-safe error entries: no exception objects (ctx) or documentation links."""
    cleaned = []
    for e in errors:
        entry = {k: v for k, v in dict(e).items() if k not in ("ctx", "url")}
        if "input" in entry:
            entry["input"] = json_safe(entry["input"])
        entry["loc"] = [json_safe(part) for part in entry.get("loc", ())]
        cleaned.append(entry)
    return cleaned


def field_error_detail(exc: FieldError) -> list[dict[str, Any]]:
    loc = [exc.location, *exc.field.split(".")] if exc.field else [exc.location]
    return [{"loc": loc, "msg": str(exc), "type": "value_error", "input": json_safe(exc.value)}]
