"""The jobs API: submit, inspect, list, follow (SSE), cancel, delete an ended job, and the
job's latest pictures.

Routes parse, call the domain (submit / store) in a worker thread, and raise ServiceErrors that
the app's one error handler maps to status codes. Without Redis every route answers 503 with
Retry-After; nothing is cached between requests, so they work again as soon as Redis is back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse

from service.auth import AUTH_RESPONSES
from service.bodies import parse_body, request_body_schema
from service.deps import ApiKey, JobsDep, JobStoreDep, SettingsDep
from service.errors import JobActive, JobFinished, UnknownJob
from service.jobs.api.events import job_events
from service.jobs.api.schemas import (
    JobAccepted,
    JobList,
    JobRequest,
    JobView,
    PresetList,
    PresetView,
)
from service.jobs.api.submit import submit_job
from service.jobs.store.job_store import JobStore
from service.jobs.store.records import TERMINAL_STATES, JobState
from service.openapi_examples import (
    JOB_ERRORS,
    JOB_NOT_ENDED,
    JOB_STORE_UNAVAILABLE,
    JOB_SUBMIT_ERRORS,
)
from service.schemas import canonical_int
from training.presets import builtin_recipes

router = APIRouter(prefix="/train-jobs", tags=["training jobs"])

MAX_LIST_OFFSET = 1_000_000_000

_REQUEST_BODY = request_body_schema(JobRequest)


async def _get_job(store: JobStore, job_id: str) -> JobView:
    view = await run_in_threadpool(store.get, job_id) if len(job_id) <= 64 else None
    if view is None:
        raise UnknownJob(f"no training job with id {job_id!r}")
    return view


@router.post(
    "",
    status_code=202,
    response_model=JobAccepted,
    dependencies=[ApiKey],
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={**AUTH_RESPONSES, **JOB_SUBMIT_ERRORS},
)
async def create_job(
    request: Request, response: Response, settings: SettingsDep, jobs: JobsDep, store: JobStoreDep
) -> JobAccepted:
    """Queue a training job. `{"dataset": "ring-8", "steps": 3000}` is a complete request: the
    dataset's preset fills in what is not given, exactly as `python -m training` does, and the
    job's `config` shows the complete recipe. Answers 202 with the job id and a Location header."""
    job_request = parse_body(JobRequest, await request.body())
    assert jobs.celery is not None
    view = await run_in_threadpool(submit_job, settings, store, jobs.celery, job_request)
    url = f"/train-jobs/{view.id}"
    response.headers["Location"] = url
    return JobAccepted(id=view.id, name=view.name, state=view.state, url=url)


@router.get("", response_model=JobList, responses={503: JOB_STORE_UNAVAILABLE})
async def list_jobs(
    store: JobStoreDep,
    state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[canonical_int(1, 200), Query(description="Jobs per page.")] = 50,
    offset: Annotated[canonical_int(0, MAX_LIST_OFFSET), Query(description="Jobs to skip.")] = 0,
) -> JobList:
    """Jobs, newest first, one page at a time."""
    jobs, total = await run_in_threadpool(store.list, state, limit, offset)
    nxt = offset + limit if offset + limit < total else None
    return JobList(jobs=jobs, total=total, limit=limit, offset=offset, next_offset=nxt)


@router.get("/presets", response_model=PresetList)
async def list_presets() -> PresetList:
    """The complete recipe a job gets for each built-in dataset when it names only the
    dataset (the same as `python -m training --dataset NAME`)."""
    recipes = await run_in_threadpool(builtin_recipes)
    return PresetList(
        presets=[
            PresetView(
                dataset=dataset,
                about=about,
                recipe=recipe.model_dump(mode="json", exclude={"dataset", "name", "arch_config"}),
                arch_config=arch.model_dump(mode="json"),
            )
            for dataset, about, recipe, arch in recipes
        ]
    )


@router.get("/{job_id}", response_model=JobView, responses=JOB_ERRORS)
async def read_job(job_id: str, store: JobStoreDep) -> JobView:
    """State, step / total and ETA, latest losses and diagnostics, published versions, and
    the complete recipe it trains (`config`)."""
    return await _get_job(store, job_id)


@router.get(
    "/{job_id}/events",
    responses={**JOB_ERRORS, 200: {"content": {"text/event-stream": {}}}},
    response_class=StreamingResponse,
)
async def job_event_stream(
    job_id: str, request: Request, jobs: JobsDep, store: JobStoreDep
) -> StreamingResponse:
    """Server-Sent Events: every state change and progress report (replayed from the start,
    or after `Last-Event-ID`), ending with the final state."""
    await _get_job(store, job_id)
    assert jobs.aredis is not None
    stream = job_events(jobs.aredis, jobs.url, job_id, request.headers.get("last-event-id"))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    dependencies=[ApiKey],
    responses={
        **AUTH_RESPONSES,
        **JOB_ERRORS,
        409: {"description": "The job has already ended"},
    },
)
async def cancel_job(job_id: str, store: JobStoreDep) -> dict[str, Any]:
    """A queued job is cancelled at once; a running one stops at its next step and keeps
    its published checkpoints."""
    await _get_job(store, job_id)
    outcome = await run_in_threadpool(store.cancel, job_id)
    if outcome == "missing":
        raise UnknownJob(f"no training job with id {job_id!r}")
    if outcome in TERMINAL_STATES and outcome != "cancelled":
        raise JobFinished(f"job {job_id} has already {outcome}; nothing to cancel")
    state = "cancelled" if outcome == "cancelled" else "running"
    return {"id": job_id, "state": state, "cancel_requested": True}


@router.delete(
    "/{job_id}",
    status_code=204,
    response_class=Response,
    dependencies=[ApiKey],
    responses={**AUTH_RESPONSES, **JOB_ERRORS, 409: JOB_NOT_ENDED},
)
async def delete_job(job_id: str, store: JobStoreDep) -> Response:
    """Forget a job that has ended (succeeded, failed or cancelled): its record and events
    go; the checkpoints it published stay in the model directory."""
    outcome = await run_in_threadpool(store.delete, job_id) if len(job_id) <= 64 else "missing"
    if outcome == "missing":
        raise UnknownJob(f"no training job with id {job_id!r}")
    if outcome != "deleted":
        raise JobActive(
            f"job {job_id} is {outcome}; cancel it (POST /train-jobs/{job_id}/cancel) and "
            "delete it once it has ended"
        )
    return Response(status_code=204)


def _picture_route(file_name: str) -> None:
    @router.get(
        f"/{{job_id}}/{file_name}",
        response_class=FileResponse,
        responses={**JOB_ERRORS, 200: {"content": {"image/png": {}}}},
        name=f"job_{file_name.replace('.', '_')}",
    )
    async def picture(job_id: str, settings: SettingsDep, store: JobStoreDep) -> FileResponse:
        view = await _get_job(store, job_id)
        path = Path(settings.model_dir) / view.name / "run" / file_name
        if not path.is_file():
            raise UnknownJob(f"job {job_id} has no {file_name} yet (written at each checkpoint)")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})


_picture_route("samples.png")
_picture_route("loss.png")
