"""POST /samples and GET /samples/{model}/{seed}/{index}.png."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.routing import APIRoute
from starlette.background import BackgroundTask
from starlette.types import Receive

from models.latent import MAX_SEED
from service.bodies import parse_body
from service.deps import SamplerDep
from service.labels import query_label
from service.openapi_examples import (
    SAMPLE_ERRORS,
    SAMPLE_HEADERS,
    SAMPLE_OK,
    SAMPLE_REQUEST_BODY,
    WALK_OK,
    WALK_REQUEST_BODY,
)
from service.sampling import Encoded, Sampler, Ticket
from service.schemas import (
    MAX_CLASS_NAME,
    MAX_OFFSET,
    MODEL_REF_PATTERN,
    InterpolateRequest,
    SampleRequest,
    canonical_int,
)

router = APIRouter(tags=["samples"])


async def _until_disconnect(receive: Receive) -> None:
    """Returns when the client has gone away (the body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _respond(
    sampler: SamplerDep, ticket: Ticket, req: SampleRequest, request: Request, headers: dict
) -> Response:
    request_id = request.scope.get("state", {}).get("request_id", "-")
    encoded = await sampler.sample(
        ticket,
        req,
        request.headers.get("accept"),
        request_id,
        lambda: _until_disconnect(request.receive),
    )
    return _response(ticket, encoded, headers)


def _response(ticket: Ticket, encoded: Encoded | None, headers: dict) -> Response:
    """The answer; it takes the ticket over, which closes when the last byte is sent."""
    if encoded is None:
        return Response(status_code=499)  # client closed the request; nobody reads this
    return Response(
        encoded.body,
        media_type=encoded.media_type,
        headers={**encoded.headers, **headers},
        background=BackgroundTask(ticket.keep_until_sent()),
    )


class RequestOnlyRoute(APIRoute):
    """A route whose endpoint takes the Request alone and reads its own body: it is called as
    it is, without FastAPI's parameter and dependency resolution (under load, about a tenth
    of the event loop's time per POST /samples at n = 1). It is documented in OpenAPI like
    any other route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


async def create_samples(request: Request) -> Response:
    """Generate `n` samples of `seed`, starting at index `offset`.

    n = 1 answers one PNG; n > 1 a ZIP of PNGs named `seed-<seed>-<index>.png`; `format`
    (or Accept) picks grid, json (base64 PNGs with index and seed), npy (uint8 N x H x W x C),
    jpeg or webp. Models of 2-D data answer JSON points. Headers name the model version, its
    sha256, the seed and the offset.

    Conditional models take `label` (one class for all) or `labels` (one per sample), by index
    or by name; with neither, sample i is class (offset + i) mod the number of classes. The
    JSON answer names each sample's class in `labels`.
    """
    sampler: Sampler = request.app.state.runtime.sampler
    with sampler.admit() as ticket:
        req = parse_body(SampleRequest, await request.body(), empty=b"{}")
        return await _respond(sampler, ticket, req, request, {})


router.add_api_route(
    "/samples",
    create_samples,
    methods=["POST"],
    response_class=Response,
    openapi_extra={"requestBody": SAMPLE_REQUEST_BODY},
    responses={200: SAMPLE_OK, **SAMPLE_ERRORS},
    route_class_override=RequestOnlyRoute,
)


@router.post(
    "/samples/interpolate",
    response_class=Response,
    openapi_extra={"requestBody": WALK_REQUEST_BODY},
    responses={200: WALK_OK, **SAMPLE_ERRORS},
)
async def interpolate_samples(request: Request, sampler: SamplerDep) -> Response:
    """A latent walk from sample `index_a` of `seed_a` to sample `index_b` of `seed_b`, in
    `steps` frames (slerp or lerp), as an animated WebP or GIF, PNG frames (zip, json) or npy.
    Frame k depends only on the version, the two addresses, the method, truncation, steps and
    k; the first and last frames are the samples at the two addresses."""
    with sampler.admit() as ticket:
        req = parse_body(InterpolateRequest, await request.body())
        request_id = request.scope.get("state", {}).get("request_id", "-")
        encoded = await sampler.interpolate(
            ticket, req, request_id, lambda: _until_disconnect(request.receive)
        )
        return _response(ticket, encoded, {})


@router.get(
    "/samples/{model}/{seed}/{index}.png",
    response_class=Response,
    responses={
        200: {"description": "One PNG", "headers": {
            **SAMPLE_HEADERS,
            "ETag": {"description": "from the weights' sha256, seed, index, truncation and "
                     "(conditional models) the class",
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
    label: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_CLASS_NAME,
            examples=["7"],
            description="Conditional models only: the class, by name, or else by index in "
            "plain decimal (a class named like a number wins). Omitted: class index mod the "
            "number of classes, as POST /samples gives it.",
        ),
    ] = None,
) -> Response:
    """Sample `index` of `seed` as one PNG, at an address that never changes its bytes when the
    model is pinned as name@version (cacheable for a year, `immutable`)."""
    req = SampleRequest(
        n=1, seed=seed, model=model, offset=index, truncation=truncation, format="png"
    )
    plan = await sampler.check(req, None)
    entry = plan.entry
    assert entry.meta is not None
    if label is not None:
        # Pinned to the version checked here, so the class index means what it did for it.
        req = req.model_copy(update={"model": entry.ref, "label": query_label(entry.meta, label)})
        plan = await sampler.check(req, None)
    tag = f"{entry.meta.weights_sha256}:{seed}:{index}:{truncation!r}"
    if plan.labels is not None:
        tag += f":{int(plan.labels[0])}"  # the class, by index
    etag = '"' + hashlib.sha256(tag.encode()).hexdigest()[:32] + '"'
    pinned = "@" in model
    cache = {
        "ETag": etag,
        "Cache-Control": "public, max-age=31536000, immutable" if pinned else "no-cache",
    }
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={**cache, "X-Model-Version": entry.ref})
    with sampler.admit() as ticket:
        return await _respond(sampler, ticket, req, request, cache)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags
