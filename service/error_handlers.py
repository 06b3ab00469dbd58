"""The one place that turns errors into HTTP answers (see service.errors for the tree)."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import (
    FieldError,
    ServiceError,
    clean_errors,
    field_error_detail,
    validation_message,
)

log = logging.getLogger("service.errors")


def allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI document lists for this path (a path may have one route per
    method, so no single route knows them all), plus OPTIONS. Where several documented paths
    match (`/train-jobs/presets` and `/train-jobs/{job_id}`), the most specific one, the one
    with the most literal characters, is the path this URL is."""
    app = request.app
    table = getattr(app.state, "allowed_methods", None)
    if table is None:
        table = [
            (re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$"),
             len(re.sub(r"\{[^}]+\}", "", path)), {m.upper() for m in operations})
            for path, operations in app.openapi()["paths"].items()
        ]  # fmt: skip
        app.state.allowed_methods = table
    matches = [(literal, found) for pattern, literal, found in table
               if pattern.match(request.url.path)]  # fmt: skip
    methods = {"OPTIONS"}
    if matches:
        most = max(literal for literal, _ in matches)
        for literal, found in matches:
            if literal == most:
                methods |= found
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=headers)
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=headers)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = clean_errors(exc.errors())
        return JSONResponse(
            {"detail": errors, "message": validation_message(errors)}, status_code=422
        )

    @app.exception_handler(FieldError)
    async def _field(_request: Request, exc: FieldError) -> JSONResponse:
        errors = field_error_detail(exc)
        return JSONResponse(
            {"detail": errors, "message": validation_message(errors)}, status_code=422
        )

    @app.exception_handler(ServiceError)
    async def _domain(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=exc.headers())

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)
