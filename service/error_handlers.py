"""The one place that turns errors into HTTP answers (see service.errors for the tree)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.errors import (
    FieldError,
    ServiceError,
    clean_errors,
    field_error_detail,
    validation_message,
)

log = logging.getLogger("service.errors")


def install_error_handlers(app: FastAPI) -> None:
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
