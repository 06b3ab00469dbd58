"""GAN_OPENTELEMETRY: FastAPI's per-request OpenTelemetry spans reach a configured provider only
when the setting is on (off by default: the check costs requests per second)."""

from __future__ import annotations

import asyncio

import httpx
from opentelemetry import trace

from service.app import create_app
from service.settings import Settings


class RecordingTracerProvider(trace.TracerProvider):
    """A configured provider (as an OpenTelemetry SDK would install) that records its use."""

    def __init__(self) -> None:
        self.tracers: list[str] = []

    def get_tracer(self, instrumenting_module_name: str, *args: object, **kwargs: object):
        self.tracers.append(instrumenting_module_name)
        return trace.NoOpTracer()


PROVIDER = RecordingTracerProvider()
trace.set_tracer_provider(PROVIDER)  # global, once per process: no other test sets one


def _healthz(opentelemetry: bool, tmp_path) -> int:
    settings = Settings.model_validate({"model_dir": str(tmp_path), "opentelemetry": opentelemetry})
    app = create_app(settings)

    async def get() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (await client.get("/healthz")).status_code

    return asyncio.run(get())


def test_spans_go_to_the_configured_provider_only_when_asked(tmp_path) -> None:
    assert _healthz(False, tmp_path) == 200
    assert PROVIDER.tracers == []
    assert _healthz(True, tmp_path) == 200
    assert "fastapi" in PROVIDER.tracers
