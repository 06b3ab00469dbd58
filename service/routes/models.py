"""GET /models, GET /models/{model}, POST /models/{model}/promote,
GET and DELETE /models/{model}@{version}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from models.checkpoint import MODEL_NAME_PATTERN
from service.auth import AUTH_RESPONSES
from service.bodies import parse_body, request_body_schema
from service.catalog import ModelState
from service.deps import ApiKey, CatalogDep, DeviceCacheDep, RuntimeDep
from service.errors import UnknownModel
from service.inference import Calibration
from service.openapi_examples import (
    BAD_MODEL_NAME,
    BAD_PROMOTION,
    DEFAULT_VERSION,
    MODEL_LIST_OK,
    MODEL_NOT_FOUND,
    MODEL_OK,
    PROMOTE_OK,
    VERSION_OK,
    VERSION_REFUSED,
)
from service.schemas import (
    ModelList,
    ModelView,
    PromoteRequest,
    PromoteResult,
    VersionView,
    canonical_int,
)

router = APIRouter(prefix="/models", tags=["models"])

ModelName = Annotated[str, Path(pattern=MODEL_NAME_PATTERN, examples=["digits"])]
MAX_VERSION = 10**18 - 1  # MODEL_REF_PATTERN's 18 digits


def model_view(state: ModelState, loaded: Mapping[str, Calibration]) -> ModelView:
    """A model as GET /models shows it: the catalog's versions, and which are on the device
    (`loaded`: ref -> the batch sizes it runs)."""
    versions = []
    for e in state.versions:
        cal = loaded.get(e.ref)
        versions.append(VersionView(
            ref=e.ref,
            version=e.version,
            status="refused" if e.refused else "ready",
            refused_reason=e.refused,
            default=e.version == state.default_version,
            loaded=cal is not None,
            device_batch_sizes=list(cal.buckets) if cal else None,
            inference_dtype=cal.dtype if cal else None,
            meta=e.meta.model_dump(mode="json") if e.meta else None,
            conditional=bool(e.meta.classes) if e.meta else None,
            classes=list(e.meta.classes) if e.meta else [],
        ))  # fmt: skip
    return ModelView(
        name=state.name,
        default_version=state.default_version,
        promoted_version=state.promoted_version,
        versions=versions,
    )


@router.get("", response_model=ModelList, responses={200: MODEL_LIST_OK})
async def list_models(catalog: CatalogDep, device_cache: DeviceCacheDep) -> ModelList:
    """Every model, every version with its metadata (dataset, step, metrics, created,
    sha256), whether it is conditional and its class names, which is the default, which are
    loaded, and refused checkpoints with the reason."""
    loaded = device_cache.loaded()
    return ModelList(
        default_model=catalog.default_model_name(),
        models=[model_view(state, loaded) for state in catalog.snapshot()],
    )


@router.get(
    "/{model}@{version}",
    response_model=VersionView,
    responses={200: VERSION_OK, 404: MODEL_NOT_FOUND, 422: BAD_MODEL_NAME},
)
async def read_version(
    model: ModelName,
    version: Annotated[canonical_int(0, MAX_VERSION), Path(examples=[1500])],
    catalog: CatalogDep,
    device_cache: DeviceCacheDep,
) -> VersionView:
    """One version, as GET /models lists it (its address is also the one DELETE takes)."""
    for state in catalog.snapshot():
        if state.name == model:
            for view in model_view(state, device_cache.loaded()).versions:
                if view.version == version:
                    return view
            raise UnknownModel(f"model {model!r} has no version {version}")
    raise UnknownModel(f"no model named {model!r}")


@router.get(
    "/{model}",
    response_model=ModelView,
    responses={200: MODEL_OK, 404: MODEL_NOT_FOUND, 422: BAD_MODEL_NAME},
)
async def read_model(
    model: ModelName, catalog: CatalogDep, device_cache: DeviceCacheDep
) -> ModelView:
    """One model's versions, as in GET /models."""
    for state in catalog.snapshot():
        if state.name == model:
            return model_view(state, device_cache.loaded())
    raise UnknownModel(f"no model named {model!r}")


@router.post(
    "/{model}/promote",
    response_model=PromoteResult,
    dependencies=[ApiKey],
    openapi_extra={"requestBody": request_body_schema(PromoteRequest)},
    responses={
        200: PROMOTE_OK,
        **AUTH_RESPONSES,
        404: MODEL_NOT_FOUND,
        409: VERSION_REFUSED,
        422: BAD_PROMOTION,
    },
)
async def promote_model(
    model: ModelName, request: Request, catalog: CatalogDep, runtime: RuntimeDep
) -> PromoteResult:
    """Make `version` the default of `model` for every replica (written to the shared model
    directory). Requires `Authorization: Bearer <key>` when GAN_API_KEYS is set."""
    body = parse_body(PromoteRequest, await request.body())
    ref = await run_in_threadpool(catalog.promote, model, body.version)
    runtime.warm(ref)  # on the device before its first request
    return PromoteResult(model=model, default_version=body.version, ref=ref)


@router.delete(
    "/{model}@{version}",
    status_code=204,
    response_class=Response,
    dependencies=[ApiKey],
    responses={**AUTH_RESPONSES, 404: MODEL_NOT_FOUND, 409: DEFAULT_VERSION, 422: BAD_MODEL_NAME},
)
async def delete_version(
    model: ModelName,
    version: Annotated[canonical_int(0, MAX_VERSION), Path(examples=[1500])],
    runtime: RuntimeDep,
) -> Response:
    """Remove one version's checkpoint (JSON, then weights) from the shared model directory;
    the catalog stops listing it at once. The model's default version is refused (409):
    promote another version first. Requires `Authorization: Bearer <key>` when GAN_API_KEYS
    is set."""
    await run_in_threadpool(runtime.delete_version, model, version)
    return Response(status_code=204)
