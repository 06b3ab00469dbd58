"""POST /datasets/{name} (upload), GET /datasets, GET /datasets/{name},
DELETE /datasets/{name}. The work is in service.datasets."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from service.auth import AUTH_RESPONSES
from service.datasets.ingest import UPLOAD_FILE, ingest
from service.datasets.limits import Limits
from service.datasets.receive import receive_body
from service.datasets.schemas import DATASET_NAME_PATTERN, DatasetView
from service.datasets.store import UPLOADS, DatasetStore, taken_message
from service.deps import ApiKey, JobsDep, SettingsDep
from service.errors import DatasetExists, DatasetInUse, UnknownDataset
from service.jobs.api.datasets import jobs_reading
from service.openapi_examples import (
    BAD_DATASET_NAME,
    DATASET_IN_USE,
    DATASET_LIST_OK,
    DATASET_NOT_FOUND,
    DATASET_OK,
    DATASET_UPLOAD_BODY,
    DATASET_UPLOAD_ERRORS,
    JOB_STORE_UNAVAILABLE,
)


@contextlib.asynccontextmanager
async def _sweep_on_start(app: FastAPI) -> AsyncIterator[None]:
    """Temporary folders of a process that died mid-upload go at the next start."""
    await run_in_threadpool(DatasetStore(app.state.settings.data_root).sweep)
    yield


router = APIRouter(prefix="/datasets", tags=["datasets"], lifespan=_sweep_on_start)

DatasetName = Annotated[str, Path(pattern=DATASET_NAME_PATTERN, examples=["faces"])]


@router.post(
    "/{name}",
    status_code=201,
    response_model=DatasetView,
    dependencies=[ApiKey],
    openapi_extra={"requestBody": DATASET_UPLOAD_BODY},
    responses={
        201: {**DATASET_OK, "headers": {"Location": {
            "description": "/datasets/{name}", "schema": {"type": "string"}}}},
        **AUTH_RESPONSES,
        **DATASET_UPLOAD_ERRORS,
    },
)  # fmt: skip
async def upload_dataset(
    name: DatasetName, request: Request, response: Response, settings: SettingsDep
) -> dict[str, Any]:
    """Upload a dataset to train on: the body is the file itself, streamed to disk, unpacked
    with every entry checked, and loaded with the loader training uses before it is listed.
    Train on it with `{"dataset": <spec>}`. Answers 201 with its manifest and a Location
    header. Requires `Authorization: Bearer <key>` when GAN_API_KEYS is set."""
    store = DatasetStore(settings.data_root)
    if await run_in_threadpool(store.exists, name):
        raise DatasetExists(taken_message(name))
    incoming = await run_in_threadpool(store.incoming)
    try:
        size = await receive_body(request, incoming / UPLOAD_FILE)
        limits = Limits.from_settings(settings)
        manifest = await run_in_threadpool(ingest, store, incoming, name, size, limits)
    except BaseException:
        with anyio.CancelScope(shield=True):  # a disconnect or a cancel must not skip it
            await run_in_threadpool(store.discard, incoming)
        raise
    response.headers["Location"] = f"/datasets/{name}"
    return manifest


@router.get("", response_model=list[DatasetView], responses={200: DATASET_LIST_OK})
async def list_datasets(settings: SettingsDep) -> list[dict[str, Any]]:
    """Every uploaded dataset's manifest, newest first."""
    return await run_in_threadpool(DatasetStore(settings.data_root).list)


@router.get(
    "/{name}",
    response_model=DatasetView,
    responses={200: DATASET_OK, 404: DATASET_NOT_FOUND, 422: BAD_DATASET_NAME},
)
async def read_dataset(name: DatasetName, settings: SettingsDep) -> dict[str, Any]:
    """One uploaded dataset's manifest."""
    manifest = await run_in_threadpool(DatasetStore(settings.data_root).manifest, name)
    if manifest is None:
        raise UnknownDataset(f"no uploaded dataset named {name!r}")
    return manifest


@router.delete(
    "/{name}",
    status_code=204,
    response_class=Response,
    dependencies=[ApiKey],
    responses={
        **AUTH_RESPONSES,
        404: DATASET_NOT_FOUND,
        409: DATASET_IN_USE,
        422: BAD_DATASET_NAME,
        503: JOB_STORE_UNAVAILABLE,
    },
)
async def delete_dataset(name: DatasetName, settings: SettingsDep, jobs: JobsDep) -> Response:
    """Remove an uploaded dataset; refused (409) while a queued or running job trains on it.
    Models trained on it keep working. Requires `Authorization: Bearer <key>` when
    GAN_API_KEYS is set."""
    store = DatasetStore(settings.data_root)
    if await run_in_threadpool(store.manifest, name) is None:
        raise UnknownDataset(f"no uploaded dataset named {name!r}")
    job_store = jobs.require_store()
    readers = await run_in_threadpool(
        jobs_reading, job_store, f"{UPLOADS}/{name}", settings.data_root
    )
    if readers:
        raise DatasetInUse(
            f"dataset {name!r} is read by queued or running training job(s) "
            f"{', '.join(readers)}; cancel them or wait for them to end"
        )
    await run_in_threadpool(store.delete, name)
    return Response(status_code=204)
