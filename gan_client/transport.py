"""What both clients share about talking HTTP: where the server is, the key, how a Call becomes
an httpx request, and the error for no answer at all."""

from __future__ import annotations

import os
from typing import Any

import httpx

from gan_client import __version__
from gan_client.calls import Call
from gan_client.errors import Unreachable

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 60.0


def client_options(url: str | None, api_key: str | None, timeout: float) -> dict[str, Any]:
    """httpx client options: `url` else GAN_URL else 127.0.0.1:8000; `api_key` else
    GAN_API_KEY, sent as `Authorization: Bearer <key>` when there is one."""
    base = (url or os.environ.get("GAN_URL") or DEFAULT_URL).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"server URL must start with http:// or https://, got {base!r}")
    key = api_key if api_key is not None else os.environ.get("GAN_API_KEY")
    headers = {"User-Agent": f"gan-client/{__version__}"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return {"base_url": base, "headers": headers, "timeout": timeout}


def request_args(call: Call[Any], timeout: float | None = None) -> dict[str, Any]:
    """build_request's arguments, but the upload body (sync or async chunks, per client)."""
    headers = dict(call.headers)
    if call.upload is not None:
        headers["Content-Type"] = call.upload.content_type
        headers["Content-Length"] = str(call.upload.length)  # so it is not sent chunked
    args: dict[str, Any] = {"method": call.method, "url": call.path, "headers": headers}
    if call.json is not None:
        args["json"] = call.json
    if call.params is not None:
        args["params"] = dict(call.params)
    if timeout is not None:
        args["timeout"] = timeout
    return args


def unreachable(base_url: httpx.URL, call: Call[Any], exc: httpx.TransportError) -> Unreachable:
    what = f"{call.method} {str(base_url).rstrip('/')}{call.path}"
    if isinstance(exc, httpx.TimeoutException):
        return Unreachable(f"{what}: no answer in time ({type(exc).__name__})")
    return Unreachable(f"{what}: {exc or type(exc).__name__}")
