"""Request bodies (service/bodies.py): every bad body becomes a validation error located in
the body and naming its field; NaN and deep nesting are refused, an empty body can default."""

from __future__ import annotations

import json

import pytest
from fastapi.exceptions import RequestValidationError

from service.bodies import parse_body, request_body_schema
from service.schemas import SampleRequest

DEEP = b'{"labels": ' + b"[" * 5000 + b"]" * 5000 + b"}"  # past the JSON parser's depth


def _errors(body: bytes) -> list[dict]:
    with pytest.raises(RequestValidationError) as refused:
        parse_body(SampleRequest, body)
    errors = refused.value.errors()
    json.dumps(errors)  # what the 422 answer carries must serialise
    return errors


def test_a_good_body_and_an_empty_one_with_a_default() -> None:
    assert parse_body(SampleRequest, b'{"n": 3, "seed": 7}').n == 3
    assert parse_body(SampleRequest, b"", empty=b"{}").n == SampleRequest().n


@pytest.mark.parametrize(
    ("body", "loc"),
    [(b'{"n": 0}', ["body", "n"]), (b'{"n": "many"}', ["body", "n"]),
     (b'{"seed": 1, "colour": "red"}', ["body", "colour"]), (b"", ["body"]),
     (b'{"n": 1,', ["body"]), (b'{"seed": NaN}', ["body"]), (DEEP, ["body"])],
    ids=["range", "type", "unknown field", "empty", "truncated", "nan", "deep"],
)  # fmt: skip
def test_bad_bodies_name_where_they_are_wrong(body: bytes, loc: list[str]) -> None:
    errors = _errors(body)
    assert errors and list(errors[0]["loc"])[: len(loc)] == loc, errors


def test_the_openapi_body_is_the_models_schema() -> None:
    schema = request_body_schema(SampleRequest, required=False)
    assert schema["required"] is False
    assert schema["content"]["application/json"]["schema"]["properties"]["n"]["type"] == "integer"
