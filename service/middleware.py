"""One pure-ASGI middleware for every request: request id, body-size cap, metrics, access log.

Pure ASGI (no BaseHTTPMiddleware) keeps the per-request cost to a few microseconds and never
buffers a response. The body cap answers 413 from Content-Length alone when it can, and
otherwise counts the bytes as the app reads them (chunked uploads). Dataset uploads
(POST /datasets/...) have their own, larger cap (GAN_MAX_UPLOAD_BYTES).
"""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import request_id_var
from service.metrics import ServiceMetrics

access_log = logging.getLogger("service.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body is read (FastAPI re-raises HTTP errors unchanged)."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(413, f"request body exceeds the {limit}-byte limit ({setting})")


UPLOAD_PREFIX = "/datasets/"


class ServiceMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: ServiceMetrics,
        max_body_bytes: int,
        max_upload_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes or max_body_bytes

    def _limit(self, scope: Scope) -> tuple[int, str]:
        if scope["method"] == "POST" and scope["path"].startswith(UPLOAD_PREFIX):
            return self.max_upload_bytes, "GAN_MAX_UPLOAD_BYTES"
        return self.max_body_bytes, "GAN_MAX_BODY_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given if given and _VALID_ID.match(given) else os.urandom(16).hex()
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        limit, setting = self._limit(scope)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]  # fmt: skip
            await send(message)

        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        try:
            declared = _header(scope, b"content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                await _reject_413(send_with_id, int(declared), limit, setting)
            else:
                await self.app(scope, capped_receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(elapsed)
            access_log.info(
                "%s %s %d %.1f ms", method, scope["path"], status, elapsed * 1000,
                extra={"method": method, "path": scope["path"], "status": status,
                       "duration_ms": round(elapsed * 1000, 2)},
            )  # fmt: skip
            request_id_var.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _reject_413(send: Send, declared: int, limit: int, setting: str) -> None:
    body = (
        f'{{"detail":"request body of {declared} bytes exceeds the {limit}-byte limit '
        f'({setting})"}}'
    ).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
