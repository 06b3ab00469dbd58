"""GET /models, GET /models/{model}, POST /models/{model}/promote."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool

from models.checkpoint import MODEL_NAME_PATTERN
from service.auth import AUTH_RESPONSES
from service.bodies import parse_body, request_body_schema
from service.deps import ApiKey, RegistryDep, RuntimeDep
from service.errors import UnknownModel
from service.schemas import ModelList, ModelView, PromoteRequest, PromoteResult

router = APIRouter(prefix="/models", tags=["models"])

_NOT_FOUND = {
    "description": "No such model or version",
    "content": {"application/json": {"example": {
        "detail": "no model named 'cats'; models: ['digits', 'ring-8']"}}},
}  # fmt: skip
_REFUSED = {
    "description": "That version's checkpoint was refused",
    "content": {"application/json": {"example": {
        "detail": "digits@1500 was refused: .../00001500.safetensors: sha256 3f1c… does not "
                  "match the metadata's 9a0b… (truncated or tampered)"}}},
}  # fmt: skip
_BAD_VERSION = {
    "description": "The body is wrong: `message` names the field and value",
    "content": {"application/json": {"example": {
        "detail": [{"loc": ["body", "version"], "msg": "Input should be a valid integer",
                    "type": "int_type", "input": "latest"}],
        "message": "body.version: Input should be a valid integer (got 'latest')"}}},
}  # fmt: skip
_VERSION_EXAMPLE = {
    "ref": "digits@2000",
    "version": 2000,
    "status": "ready",
    "refused_reason": None,
    "default": True,
    "loaded": True,
    "device_batch_sizes": [1, 2, 4, 8, 16, 32, 64],
    "meta": {
        "name": "digits",
        "version": 2000,
        "dataset": "digits",
        "step": 2000,
        "loss": "non-saturating",
        "created": "2026-11-23T06:30:00+00:00",
        "output_kind": "image",
        "output_shape": [1, 8, 8],
        "z_dim": 100,
        "metrics": {},
        "weights_sha256": "9a0b…",
    },
}
_REFUSED_EXAMPLE = {
    "ref": "digits@2500",
    "version": 2500,
    "status": "refused",
    "default": False,
    "loaded": False,
    "device_batch_sizes": None,
    "meta": None,
    "refused_reason": ".../00002500.safetensors: sha256 3f1c… does not match the "
    "metadata's 9a0b… (truncated or tampered)",
}
_MODEL_EXAMPLE = {
    "name": "digits",
    "default_version": 2000,
    "promoted_version": None,
    "versions": [_VERSION_EXAMPLE, _REFUSED_EXAMPLE],
}
_BAD_NAME = {
    "description": "The model name in the path is not a valid name",
    "content": {"application/json": {"example": {
        "detail": [{"loc": ["path", "model"], "msg": "String should match pattern "
                    "'^[a-z0-9][a-z0-9_.-]{0,63}$'", "type": "string_pattern_mismatch",
                    "input": "Cats!"}],
        "message": "path.model: String should match pattern '^[a-z0-9][a-z0-9_.-]{0,63}$' "
                   "(got 'Cats!')"}}},
}  # fmt: skip
ModelName = Annotated[str, Path(pattern=MODEL_NAME_PATTERN, examples=["digits"])]


@router.get(
    "",
    response_model=ModelList,
    responses={200: {"content": {"application/json": {"example": {
        "default_model": "digits", "models": [_MODEL_EXAMPLE]}}}}},
)  # fmt: skip
async def list_models(registry: RegistryDep) -> ModelList:
    """Every model, every version with its metadata (dataset, step, metrics, created,
    sha256), which is the default, which are loaded, and refused checkpoints with the reason."""
    return ModelList(
        default_model=registry.default_model_name(),
        models=[ModelView.model_validate(m) for m in registry.snapshot()],
    )


@router.get(
    "/{model}",
    response_model=ModelView,
    responses={
        200: {"content": {"application/json": {"example": _MODEL_EXAMPLE}}},
        404: _NOT_FOUND,
        422: _BAD_NAME,
    },
)
async def read_model(model: ModelName, registry: RegistryDep) -> ModelView:
    """One model's versions, as in GET /models."""
    for entry in registry.snapshot():
        if entry["name"] == model:
            return ModelView.model_validate(entry)
    raise UnknownModel(f"no model named {model!r}")


@router.post(
    "/{model}/promote",
    response_model=PromoteResult,
    dependencies=[ApiKey],
    openapi_extra={"requestBody": request_body_schema(PromoteRequest)},
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"model": "digits", "default_version": 1500, "ref": "digits@1500"}
                }
            }
        },
        **AUTH_RESPONSES,
        404: _NOT_FOUND,
        409: _REFUSED,
        422: _BAD_VERSION,
    },  # fmt: skip
)
async def promote_model(model: ModelName, request: Request, runtime: RuntimeDep) -> PromoteResult:
    """Make `version` the default of `model` for every replica (written to the shared model
    directory). Requires `Authorization: Bearer <key>` when GAN_API_KEYS is set."""
    body = parse_body(PromoteRequest, await request.body())
    ref = await run_in_threadpool(runtime.registry.promote, model, body.version)
    if not runtime.registry.is_loaded(ref):
        runtime.batcher.call(lambda: runtime.registry.acquire(ref))  # warm it before use
    return PromoteResult(model=model, default_version=body.version, ref=ref)
