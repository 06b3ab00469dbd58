"""The jobs API: submit, inspect, list, follow (SSE), cancel, and the job's latest pictures.

Routes only parse, call the domain (submit / store) in a worker thread, and map domain errors
to status codes (`_errors`). Without Redis every route answers 503 with the reason; nothing is
cached between requests, so they work again as soon as Redis is back.
"""

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import ValidationError

from service.jobs.dataset_paths import FieldError
from service.jobs.events import BLOCK_MS, job_events
from service.jobs.queue import make_celery, reap_once
from service.jobs.redis_client import JobStoreUnavailable, async_client
from service.jobs.schemas import (
    TERMINAL_STATES,
    JobAccepted,
    JobList,
    JobRequest,
    JobState,
    JobView,
)
from service.jobs.store import JobStore
from service.jobs.submit import NameTaken, QueueFull, submit_job
from service.settings import Settings

log = logging.getLogger(__name__)

NOT_CONFIGURED = (
    "job store not configured: set GAN_REDIS_URL, or start the embedded default "
    "(`python -m service` with GAN_REDIS_URL unset)"
)
_ERRORS = {
    404: {"description": "No such job", "content": {"application/json": {"example": {
        "detail": "no training job with id '0123abcd'"}}}},
    503: {"description": "Redis unreachable", "content": {"application/json": {"example": {
        "detail": "job store unavailable: cannot reach Redis at redis://127.0.0.1:6379/0"}}}},
}  # fmt: skip


class JobsRuntime:
    """What the routes share: the store, a Celery producer, an async Redis client, the reaper."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.redis_url
        self.store = JobStore(self.url) if self.url else None
        self.celery = make_celery(settings) if self.url else None
        self.aredis = None
        self._reaper: asyncio.Task | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        if self.url:
            self.aredis = async_client(self.url, socket_timeout=BLOCK_MS / 1000 + 5)
            self._reaper = asyncio.create_task(self._reap_forever())
        try:
            yield
        finally:
            if self._reaper:
                self._reaper.cancel()
            if self.aredis is not None:
                await self.aredis.aclose()

    async def _reap_forever(self) -> None:
        assert self.store and self.celery
        while True:
            await asyncio.sleep(self.settings.job_reaper_interval_s)
            try:
                await run_in_threadpool(
                    reap_once, self.store, self.celery, self.settings.job_max_crashes
                )
            except Exception as exc:  # Redis down: the next round tries again
                log.debug("job reaper: %s", exc)

    def require_store(self) -> JobStore:
        if self.store is None:
            raise HTTPException(503, NOT_CONFIGURED)
        return self.store


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Domain errors -> HTTP answers, in one place."""
    try:
        yield
    except FieldError as exc:
        detail = [{"loc": ["body", *exc.field.split(".")], "msg": str(exc), "type": "value_error",
                   "input": exc.value}]  # fmt: skip
        raise RequestValidationError(detail) from None
    except NameTaken as exc:
        raise HTTPException(409, str(exc)) from None
    except QueueFull as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "30"}) from None
    except JobStoreUnavailable as exc:
        raise HTTPException(503, str(exc)) from None


def _api_key_check(settings: Settings) -> Callable[[Request], None]:
    """`Authorization: Bearer <key>` when GAN_API_KEYS is set: 401 without a key, 403 with a
    wrong one (compared in constant time)."""

    def check(request: Request) -> None:
        if not settings.api_keys:
            return
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        if not any(hmac.compare_digest(key.encode(), k.encode()) for k in settings.api_keys):
            raise HTTPException(403, "API key not accepted")

    return check


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body of {declared} bytes exceeds the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"request body exceeds the {limit}-byte limit")
    return bytes(body)


def _parse_request(body: bytes) -> JobRequest:
    try:
        raw = json.loads(body) if body else None
    except ValueError as exc:
        detail = [{"loc": ["body"], "msg": f"body is not valid JSON: {exc}", "type": "json_invalid",
                   "input": body[:200].decode("utf-8", "replace")}]  # fmt: skip
        raise RequestValidationError(detail) from None
    if not isinstance(raw, dict):
        detail = [{"loc": ["body"], "msg": "body must be a JSON object with at least 'dataset'",
                   "type": "model_type", "input": raw}]  # fmt: skip
        raise RequestValidationError(detail)
    try:
        return JobRequest.model_validate(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        for e in errors:
            e.pop("ctx", None)
        raise RequestValidationError(errors) from None


def build_jobs_router(settings: Settings) -> APIRouter:
    runtime = JobsRuntime(settings)
    router = APIRouter(prefix="/train-jobs", tags=["training jobs"], lifespan=runtime.lifespan)
    api_key = Depends(_api_key_check(settings))
    Store = Annotated[JobStore, Depends(runtime.require_store)]

    async def get_job(store: JobStore, job_id: str) -> JobView:
        view = await run_in_threadpool(store.get, job_id) if len(job_id) <= 64 else None
        if view is None:
            raise HTTPException(404, f"no training job with id {job_id!r}")
        return view

    request_body = {"content": {"application/json": {"schema": JobRequest.model_json_schema()}},
                    "required": True}  # fmt: skip

    @router.post(
        "",
        status_code=202,
        response_model=JobAccepted,
        dependencies=[api_key],
        openapi_extra={"requestBody": request_body},
        responses={
            401: {"description": "Missing API key (when GAN_API_KEYS is set)"},
            403: {"description": "Wrong API key"},
            409: {"description": "Model name taken"},
            413: {"description": "Body too large"},
            422: {"description": "A field is wrong; `loc` names it"},
            429: {"description": "Too many queued jobs"},
            503: _ERRORS[503],
        },
    )
    async def create_job(request: Request, response: Response, store: Store) -> JobAccepted:
        """Queue a training job. `{"dataset": "ring-8", "steps": 3000}` is a complete request;
        answers 202 with the job id and a Location header to follow it."""
        request_model = _parse_request(await _read_body(request, settings.max_body_bytes))
        assert runtime.celery is not None
        with _errors():
            view = await run_in_threadpool(
                submit_job, settings, store, runtime.celery, request_model
            )
        url = f"/train-jobs/{view.id}"
        response.headers["Location"] = url
        return JobAccepted(id=view.id, name=view.name, state=view.state, url=url)

    @router.get("", response_model=JobList, responses={503: _ERRORS[503]})
    async def list_jobs(
        store: Store,
        state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> JobList:
        """Jobs, newest first, one page at a time."""
        with _errors():
            jobs, total = await run_in_threadpool(store.list, state, limit, offset)
        nxt = offset + limit if offset + limit < total else None
        return JobList(jobs=jobs, total=total, limit=limit, offset=offset, next_offset=nxt)

    @router.get("/{job_id}", response_model=JobView, responses=_ERRORS)
    async def read_job(job_id: str, store: Store) -> JobView:
        """State, step / total and ETA, latest losses and diagnostics, published versions."""
        with _errors():
            return await get_job(store, job_id)

    @router.get(
        "/{job_id}/events",
        responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}},
        response_class=StreamingResponse,
    )
    async def job_event_stream(job_id: str, request: Request, store: Store) -> StreamingResponse:
        """Server-Sent Events: every state change and progress report (replayed from the start,
        or after `Last-Event-ID`), ending with the final state."""
        with _errors():
            await get_job(store, job_id)
        assert runtime.aredis is not None
        stream = job_events(
            runtime.aredis, runtime.url, job_id, request.headers.get("last-event-id")
        )
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    @router.post("/{job_id}/cancel", status_code=202, dependencies=[api_key], responses=_ERRORS)
    async def cancel_job(job_id: str, store: Store) -> dict[str, Any]:
        """A queued job is cancelled at once; a running one stops at its next step and keeps
        its published checkpoints."""
        with _errors():
            await get_job(store, job_id)
            outcome = await run_in_threadpool(store.cancel, job_id)
        if outcome == "missing":
            raise HTTPException(404, f"no training job with id {job_id!r}")
        if outcome in TERMINAL_STATES and outcome != "cancelled":
            raise HTTPException(409, f"job {job_id} has already {outcome}; nothing to cancel")
        state = "cancelled" if outcome == "cancelled" else "running"
        return {"id": job_id, "state": state, "cancel_requested": True}

    def picture_route(file_name: str) -> None:
        @router.get(
            f"/{{job_id}}/{file_name}",
            response_class=FileResponse,
            responses={**_ERRORS, 200: {"content": {"image/png": {}}}},
            name=f"job_{file_name.replace('.', '_')}",
        )
        async def picture(job_id: str, store: Store) -> FileResponse:
            with _errors():
                view = await get_job(store, job_id)
            path = Path(settings.model_dir) / view.name / "run" / file_name
            if not path.is_file():
                raise HTTPException(
                    404, f"job {job_id} has no {file_name} yet (written at each checkpoint)"
                )
            return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

    picture_route("samples.png")
    picture_route("loss.png")
    return router
