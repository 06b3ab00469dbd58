"""Request bodies, parsed by the route after its dependencies (so the API key is checked
before the body is read) with pydantic's own JSON parser: nesting is bounded and NaN or
Infinity is refused, so every bad body is a 422 naming the field, never a 400 or a 500."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from service.errors import clean_errors

Body = TypeVar("Body", bound=BaseModel)


def parse_body(model: type[Body], body: bytes, *, empty: bytes = b"") -> Body:
    """`model` from a JSON body; an empty body is read as `empty` (b"" = invalid JSON)."""
    try:
        return model.model_validate_json(body or empty)
    except ValidationError as exc:
        errors = clean_errors(exc.errors(include_url=False))
        for e in errors:
            e["loc"] = ["body", *e["loc"]]
        raise RequestValidationError(errors) from None


def request_body_schema(model: type[BaseModel], *, required: bool = True, **extra: Any) -> dict:
    """The OpenAPI requestBody of a route that parses its body with parse_body."""
    content = {"schema": model.model_json_schema(), **extra}
    return {"required": required, "content": {"application/json": content}}
