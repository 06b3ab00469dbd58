"""POST /samples and GET /samples/{model}/{seed}/{index}.png."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.background import BackgroundTask
from starlette.types import Receive

from models.latent import MAX_SEED
from service.batcher import Arrival
from service.bodies import parse_body
from service.deps import SamplerDep
from service.schemas import MAX_OFFSET, MODEL_REF_PATTERN, SampleRequest, canonical_int

router = APIRouter(tags=["samples"])


def _example(status: int, detail: str, description: str, headers: dict | None = None) -> dict:
    entry: dict = {
        "description": description,
        "content": {"application/json": {"example": {"detail": detail}}},
    }
    if headers:
        entry["headers"] = headers
    return entry


_SAMPLE_HEADERS = {
    "X-Model-Version": {"description": "name@version that made the samples",
                        "schema": {"type": "string"}},
    "X-Model-Sha256": {"description": "sha256 of that version's weights",
                       "schema": {"type": "string"}},
    "X-Seed": {"description": "the seed (drawn by the server when the request had none)",
               "schema": {"type": "string"}},
    "X-Offset": {"description": "index of the first sample", "schema": {"type": "string"}},
}  # fmt: skip
_VALIDATION = {
    "description": "A field is wrong: `message` names it and the bad value",
    "content": {"application/json": {"example": {
        "detail": [{"loc": ["body", "n"], "msg": "Input should be less than or equal to 256",
                    "type": "less_than_equal", "input": 1000}],
        "message": "body.n: Input should be less than or equal to 256 (got 1000)"}}},
}  # fmt: skip
SAMPLE_ERRORS: dict[int | str, dict] = {
    404: _example(404, "no model named 'cats'; models: ['digits', 'ring-8']",
                  "No such model or version"),
    409: _example(409, "digits@1500 was refused: .../00001500.safetensors: sha256 3f1c… does "
                  "not match the metadata's 9a0b… (truncated or tampered)",
                  "The version's checkpoint was refused"),
    413: _example(413, "request body exceeds the 65536-byte limit (GAN_MAX_BODY_BYTES)",
                  "Body too large"),
    422: _VALIDATION,
    429: _example(429, "sample queue full: 4090 of 4096 samples waiting "
                  "(GAN_MAX_QUEUE_SAMPLES), this request adds 64; retry in 2 s",
                  "Queue full; retry after Retry-After seconds",
                  {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}),
    503: _example(503, "no model has been published yet in model-store: train one "
                  "(POST /train-jobs or `python -m training`); new checkpoints are picked up "
                  "without a restart", "No model to sample from yet"),
    504: _example(504, "256 samples of digits@2000 were not ready within 30 s "
                  "(GAN_REQUEST_TIMEOUT_S); the service is busy: retry later or ask for fewer "
                  "samples", "Timed out"),
}  # fmt: skip
_SAMPLE_OK = {
    "description": "The samples; the format follows `format`, else the Accept header",
    "headers": _SAMPLE_HEADERS,
    "content": {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "image/webp": {"schema": {"type": "string", "format": "binary"}},
        "application/x-npy": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"examples": {
            "images": {"summary": "format json, image model", "value": {
                "model": "digits@2000", "sha256": "9a0b…", "seed": 42, "offset": 0, "n": 1,
                "samples": [{"index": 0, "seed": 42, "media_type": "image/png",
                             "png_base64": "iVBORw0KGgo…"}]}},
            "points": {"summary": "vector model (2-D mixture)", "value": {
                "model": "ring-8@3000", "sha256": "5e6f…", "seed": 1, "offset": 0, "n": 2,
                "points": [[0.98, 0.03], [-0.71, 0.7]]}},
        }},
    },
}  # fmt: skip
_REQUEST_BODY = {
    "required": False,
    "content": {"application/json": {
        "schema": SampleRequest.model_json_schema(),
        "examples": {
            "zip": {"summary": "16 images as a ZIP of PNGs",
                    "value": {"n": 16, "seed": 42, "model": "digits@2000"}},
            "one": {"summary": "sample 3 of seed 7, truncated",
                    "value": {"n": 1, "seed": 7, "offset": 3, "truncation": 0.7}},
            "points": {"summary": "256 points of a 2-D model",
                       "value": {"n": 256, "seed": 1, "model": "ring-8", "format": "json"}},
        },
    }},
}  # fmt: skip


async def _until_disconnect(receive: Receive) -> None:
    """Returns when the client has gone away (the body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _answer(
    sampler: SamplerDep,
    read: Awaitable[SampleRequest],
    request: Request,
    extra_headers: dict[str, str],
) -> Response:
    """Read the request, sample and encode, holding an Arrival from before the body is read
    until the response's last byte is sent: a client calling in a loop sends its next request
    right after, and the device may wait for it (batcher.py)."""
    arrival = sampler.batcher.arrival()
    try:
        response = await _sample(sampler, await read, request, extra_headers, arrival)
    except BaseException:
        arrival.close()
        raise
    response.background = BackgroundTask(_close, arrival)
    return response


async def _close(arrival: Arrival) -> None:
    # async so that Starlette runs it on the event loop: a plain function would cost a thread
    # hop per request (a worker thread of AnyIO's pool for a few microseconds of work)
    arrival.close()


async def _read_body(request: Request) -> SampleRequest:
    return parse_body(SampleRequest, await request.body(), empty=b"{}")


async def _given(req: SampleRequest) -> SampleRequest:
    return req


async def _sample(
    sampler: SamplerDep,
    req: SampleRequest,
    request: Request,
    extra_headers: dict[str, str],
    arrival: Arrival,
) -> Response:
    entry, fmt, seed = sampler.check(req, request.headers.get("accept"))
    request_id = request.scope.get("state", {}).get("request_id", "-")
    samples = await sampler.generate(
        req, entry, seed, request_id, lambda: _until_disconnect(request.receive), arrival
    )
    if samples is None:
        return Response(status_code=499)  # client closed the request; nobody reads this
    encoded = await sampler.encode(samples, entry, fmt, seed, req.offset)
    return Response(
        encoded.body, media_type=encoded.media_type, headers={**encoded.headers, **extra_headers}
    )


@router.post(
    "/samples",
    response_class=Response,
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={200: _SAMPLE_OK, **SAMPLE_ERRORS},
)
async def create_samples(request: Request, sampler: SamplerDep) -> Response:
    """Generate `n` samples of `seed`, starting at index `offset`.

    n = 1 answers one PNG; n > 1 a ZIP of PNGs named `seed-<seed>-<index>.png`; `format`
    (or Accept) picks grid, json (base64 PNGs with index and seed), npy (uint8 N x H x W x C),
    jpeg or webp. Models of 2-D data answer JSON points. Headers name the model version, its
    sha256, the seed and the offset.
    """
    return await _answer(sampler, _read_body(request), request, {})


@router.get(
    "/samples/{model}/{seed}/{index}.png",
    response_class=Response,
    responses={
        200: {"description": "One PNG", "headers": {
            **_SAMPLE_HEADERS,
            "ETag": {"description": "from the weights' sha256, seed, index and truncation",
                     "schema": {"type": "string"}},
            "Cache-Control": {"description": "public, max-age=31536000, immutable when the "
                              "model is pinned (name@version); no-cache otherwise",
                              "schema": {"type": "string"}}},
              "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        **{k: v for k, v in SAMPLE_ERRORS.items() if k not in (413,)},
    },
)  # fmt: skip
async def sample_at_address(
    request: Request,
    sampler: SamplerDep,
    model: Annotated[
        str,
        Path(
            pattern=MODEL_REF_PATTERN,
            examples=["digits@2000"],
            description="name (its default version) or name@version",
        ),
    ],
    seed: Annotated[canonical_int(0, MAX_SEED), Path(examples=[42])],
    index: Annotated[canonical_int(0, MAX_OFFSET), Path(examples=[0])],
    truncation: Annotated[float, Query(ge=0.0, le=1.0, allow_inf_nan=False)] = 1.0,
) -> Response:
    """Sample `index` of `seed` as one PNG, at an address that never changes its bytes when the
    model is pinned as name@version (cacheable for a year, `immutable`)."""
    req = SampleRequest(
        n=1, seed=seed, model=model, offset=index, truncation=truncation, format="png"
    )
    entry, _fmt, _seed = sampler.check(req, None)
    assert entry.meta is not None
    tag = f"{entry.meta.weights_sha256}:{seed}:{index}:{truncation!r}"
    etag = '"' + hashlib.sha256(tag.encode()).hexdigest()[:32] + '"'
    pinned = "@" in model
    cache = {
        "ETag": etag,
        "Cache-Control": "public, max-age=31536000, immutable" if pinned else "no-cache",
    }
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={**cache, "X-Model-Version": entry.ref})
    return await _answer(sampler, _given(req), request, cache)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags
