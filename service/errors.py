"""Domain errors of the sample service, and the one place that maps them to HTTP answers.

    ServiceError
    ├── FieldError          422  a request field is wrong in a way only the service can tell
    ├── NoModelPublished    503  the model directory holds no usable checkpoint yet
    ├── UnknownModel        404  no model (or no such version) of that name
    ├── VersionRefused      409  the version exists but its checkpoint was refused
    ├── ModelUnavailable    503  the version could not be loaded just now
    ├── QueueFull           429  the sample queue is full (with Retry-After)
    └── RequestTimedOut     504  the samples were not ready within request_timeout_s

Every answer is JSON: {"detail": "<message>"}; validation errors keep FastAPI's list of
{loc, msg, type, input} in "detail" and add a one-line "message" naming the field and value.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("service.errors")


class ServiceError(Exception):
    status = 500

    def headers(self) -> dict[str, str]:
        return {}


class FieldError(ServiceError):
    status = 422

    def __init__(self, field: str, value: Any, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


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


class BodyTooLarge(StarletteHTTPException):
    """Raised by the body-size middleware while the body is read (FastAPI re-raises HTTP errors)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the {limit}-byte limit (GAN_MAX_BODY_BYTES)")


def describe_value(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
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
        if isinstance(entry.get("input"), bytes):  # the raw body, when it is not JSON
            entry["input"] = entry["input"][:200].decode("utf-8", "replace")
        if "input" in entry:
            entry["input"] = json.loads(json.dumps(entry["input"], default=str))
        cleaned.append(entry)
    return cleaned


def field_error_detail(exc: FieldError) -> list[dict[str, Any]]:
    loc = ["body", *exc.field.split(".")] if exc.field else ["body"]
    return [{"loc": loc, "msg": str(exc), "type": "value_error", "input": exc.value}]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = clean_errors(exc.errors())
        return JSONResponse(
            {"detail": errors, "message": validation_message(errors)}, status_code=422
        )

    @app.exception_handler(FieldError)
    async def _field(_request: Request, exc: FieldError) -> JSONResponse:
        errors = field_error_detail(exc)
        return JSONResponse(
            {"detail": errors, "message": validation_message(errors)}, status_code=422
        )

    @app.exception_handler(ServiceError)
    async def _domain(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=exc.headers())

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)
