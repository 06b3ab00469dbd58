"""The asyncio client: GanClient's methods, awaited. The Calls, the retry verdicts and the event
cursor are the sync client's; only sending, sleeping and reading differ."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from gan_client import calls
from gan_client.calls import As, Call, Frames, Label, Sampled
from gan_client.errors import Unreachable
from gan_client.events import (
    FINAL_STATES,
    EventCursor,
    StreamBroken,
    check_deadline,
    final_record,
    read_timeout,
)
from gan_client.retry import RetryPolicy, verdict
from gan_client.transport import DEFAULT_TIMEOUT_S, client_options, request_args, unreachable
from gan_client.upload import counted, prepare_upload

T = TypeVar("T")


async def _in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """File reads (and tar packing) off the event loop, one chunk at a time."""
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        yield chunk


class AsyncGanClient:
    """`async with AsyncGanClient() as gan:`; arguments as GanClient's."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(**client_options(url, api_key, timeout), transport=transport)
        self.url = str(self._http.base_url).rstrip("/")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncGanClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send(
        self, call: Call[Any], *, stream: bool = False, timeout: float | None = None
    ) -> httpx.Response:
        attempt = 0
        while True:
            request = self._http.build_request(
                **request_args(call, timeout),
                content=_in_thread(call.upload.chunks()) if call.upload else None,
            )
            try:
                response = await self._http.send(request, stream=True)
                if not stream or response.status_code not in call.ok:
                    async with contextlib.aclosing(response):
                        await response.aread()
            except httpx.TransportError as exc:
                raise unreachable(self._http.base_url, call, exc) from exc
            delay = verdict(response, call.ok, attempt, self.retry)
            if delay is None:
                return response
            await asyncio.sleep(delay)
            attempt += 1

    async def _run(self, call: Call[T]) -> T:
        return call.parse(await self._send(call))

    # Samples

    async def sample_raw(
        self,
        model: str | None = None,
        n: int = 1,
        seed: int | None = None,
        *,
        offset: int = 0,
        truncation: float = 1.0,
        label: Label | None = None,
        labels: list[Label] | None = None,
        format: str = "npy",
    ) -> Sampled:
        call = calls.sample(model, n, seed, offset, truncation, label, labels, format)
        return await self._run(call)

    async def sample(
        self,
        model: str | None = None,
        n: int = 1,
        seed: int | None = None,
        *,
        offset: int = 0,
        truncation: float = 1.0,
        label: Label | None = None,
        labels: list[Label] | None = None,
        as_: As = "pil",
    ) -> Frames:
        answer = await self.sample_raw(
            model, n, seed, offset=offset, truncation=truncation, label=label, labels=labels
        )
        return calls.decode(answer, as_)

    async def interpolate(
        self,
        model: str | None = None,
        *,
        seed_a: int,
        seed_b: int,
        index_a: int = 0,
        index_b: int = 0,
        steps: int = 16,
        method: str = "slerp",
        truncation: float = 1.0,
        label: Label | None = None,
        as_: As = "pil",
    ) -> Frames:
        call = calls.interpolate(
            model, seed_a, seed_b, index_a, index_b, steps, method, truncation, label, "npy"
        )
        return calls.decode(await self._run(call), as_)

    # Models

    async def models(self) -> dict[str, Any]:
        return await self._run(calls.models())

    async def model(self, name: str) -> dict[str, Any]:
        return await self._run(calls.model(name))

    async def promote(self, model: str, version: int) -> dict[str, Any]:
        return await self._run(calls.promote(model, version))

    async def delete_version(self, model: str, version: int) -> None:
        await self._run(calls.delete_version(model, version))

    # Datasets

    async def upload_dataset(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        progress: Callable[[int], object] | None = None,
    ) -> dict[str, Any]:
        upload = await asyncio.to_thread(prepare_upload, path)  # stats every file of a folder
        if progress is not None:
            upload = counted(upload, progress)
        return await self._run(calls.upload_dataset(name, upload))

    async def datasets(self) -> list[dict[str, Any]]:
        return await self._run(calls.datasets())

    async def dataset(self, name: str) -> dict[str, Any]:
        return await self._run(calls.dataset(name))

    async def delete_dataset(self, name: str) -> None:
        await self._run(calls.delete_dataset(name))

    # Training jobs

    async def train(self, dataset: str, **recipe: Any) -> AsyncJob:
        accepted = await self._run(calls.train(dataset, recipe))
        return AsyncJob(self, accepted)

    async def job(self, job_id: str) -> AsyncJob:
        return AsyncJob(self, await self._run(calls.job(job_id)))

    async def jobs(
        self, state: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        return await self._run(calls.jobs(state, limit, offset))

    async def delete_job(self, job_id: str) -> None:
        await self._run(calls.delete_job(job_id))


class AsyncJob:
    """Job's methods, awaited; `events()` is an async iterator."""

    def __init__(self, client: AsyncGanClient, record: Mapping[str, Any]) -> None:
        self.client = client
        self.id: str = record["id"]
        self.record: dict[str, Any] = dict(record)

    def __repr__(self) -> str:
        return f"AsyncJob(id={self.id!r}, name={self.name!r}, state={self.state!r})"

    @property
    def name(self) -> str:
        return self.record["name"]

    @property
    def state(self) -> str:
        return self.record["state"]

    async def refresh(self) -> dict[str, Any]:
        self.record = await self.client._run(calls.job(self.id))
        return self.record

    async def cancel(self) -> dict[str, Any]:
        return await self.client._run(calls.cancel(self.id))

    def events(self, last_event_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        return self._follow(last_event_id, None)

    async def wait(self, timeout: float | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        if (await self.refresh())["state"] not in FINAL_STATES:
            async for _ in self._follow(None, deadline):
                pass
            await self.refresh()
        return final_record(self.record)

    async def _follow(
        self, last_event_id: str | None, deadline: float | None
    ) -> AsyncIterator[dict[str, Any]]:
        cursor = EventCursor(self.id, self.client.retry, last_event_id)
        while True:
            call = calls.job_events(self.id, cursor.headers())
            try:
                answer = await self.client._send(call, stream=True, timeout=read_timeout(deadline))
                async with contextlib.aclosing(answer):
                    async for line in answer.aiter_lines():
                        if (event := cursor.feed(line)) is not None:
                            yield event
                        if cursor.done:
                            return
                        check_deadline(deadline, self.id)
                reason = "the stream ended before the job's final state"
            except (httpx.TransportError, Unreachable, StreamBroken) as exc:
                reason = str(exc) or type(exc).__name__
            check_deadline(deadline, self.id)
            await asyncio.sleep(cursor.dropped(reason))
