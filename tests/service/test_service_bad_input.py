"""Bad input over real HTTP: every one is a 4xx naming the field (never a 500 or a 400),
the API key is checked before a body is read, answers readable without a key show no host
paths, and each sample has exactly one address."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sample_service_harness import API_KEY, ServiceProcess, checkpoint_files, copy_store

pytestmark = [pytest.mark.e2e]

KEY = {"Authorization": f"Bearer {API_KEY}"}
JSON = {"Content-Type": "application/json"}
NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e400")


@pytest.fixture(scope="module")
def api(trained_store: Path, make_service, tmp_path_factory) -> ServiceProcess:
    store = copy_store(trained_store, tmp_path_factory.mktemp("bad") / "models")
    meta, weights = checkpoint_files(store, "digits@15")
    weights.write_bytes(weights.read_bytes()[:-7])  # a truncated checkpoint, refused
    service = make_service(store, api_keys=[API_KEY], max_body_bytes=200_000)
    service.wait_ready()
    return service


def _fields(answer: httpx.Response) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in answer.json()["detail"]}


def _post(api: ServiceProcess, path: str, raw: bytes, headers: dict | None = None):
    return api.client.post(path, content=raw, headers={**JSON, **(headers or {})})


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize("field", ["n", "seed", "offset", "truncation"])
def test_non_finite_numbers_in_a_sample_request_are_422(
    api: ServiceProcess, field: str, number: str
) -> None:
    answer = _post(api, "/samples", f'{{"model": "ring-8", "{field}": {number}}}'.encode())
    assert answer.status_code == 422, answer.text
    assert f"body.{field}" in _fields(answer)
    assert field in answer.json()["message"]


@pytest.mark.parametrize("number", NON_FINITE)
def test_non_finite_numbers_in_a_promotion_are_422(api: ServiceProcess, number: str) -> None:
    answer = _post(api, "/models/digits/promote", f'{{"version": {number}}}'.encode(), KEY)
    assert answer.status_code == 422, answer.text
    assert "body.version" in _fields(answer)


def test_integers_and_booleans_are_strict(api: ServiceProcess) -> None:
    for raw, field in [(b'{"n": 2.0}', "body.n"), (b'{"seed": true}', "body.seed"),
                       (b'{"n": "2"}', "body.n")]:  # fmt: skip
        answer = _post(api, "/samples", raw)
        assert answer.status_code == 422 and field in _fields(answer), answer.text
    answer = _post(api, "/models/digits/promote", b'{"version": 30.0}', KEY)
    assert answer.status_code == 422 and "body.version" in _fields(answer)


def test_nul_bytes_in_strings_are_422(api: ServiceProcess) -> None:
    answer = _post(api, "/samples", b'{"model": "ring\\u0000-8"}')
    assert answer.status_code == 422 and "body.model" in _fields(answer), answer.text
    answer = api.client.get("/models/ring%00x")
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deeply_nested_json_is_422_on_every_body(api: ServiceProcess, opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    raw = opener * 10_000 + b"1" + closer * 10_000
    for path, headers in [("/samples", {}), ("/models/digits/promote", KEY)]:
        answer = _post(api, path, raw, headers)
        assert answer.status_code == 422, (path, answer.status_code, answer.text[:200])
        assert answer.json()["detail"][0]["loc"][0] == "body"


def test_the_key_is_checked_before_the_body_is_read(api: ServiceProcess) -> None:
    for raw in (b"{not json", b'{"version": NaN}', b"[" * 10_000):
        answer = _post(api, "/models/digits/promote", raw)
        assert answer.status_code == 401, answer.text
    # Keys are compared exactly as sent, by the one check every mutating route uses.
    spaced = {"Authorization": f"Bearer  {API_KEY}"}
    answer = _post(api, "/models/digits/promote", b'{"version": 30}', spaced)
    assert answer.status_code == 403, answer.text
    answer = _post(api, "/train-jobs", b'{"dataset": "ring-8"}', spaced)
    assert answer.status_code == 403, answer.text
    assert _post(api, "/models/digits/promote", b'{"version": 30}', KEY).status_code == 200


@pytest.mark.parametrize("seed", ["1.0", "+1", "%201", "1_000", "01", "1e3", "-0"])
def test_a_sample_has_one_address(api: ServiceProcess, seed: str) -> None:
    answer = api.client.get(f"/samples/digits@30/{seed}/0.png")
    assert answer.status_code == 422, (seed, answer.text)
    assert "path.seed" in _fields(answer)
    answer = api.client.get(f"/samples/digits@30/1/{seed}.png")
    assert answer.status_code == 422 and "path.index" in _fields(answer), (seed, answer.text)


def test_the_canonical_address_answers(api: ServiceProcess) -> None:
    answer = api.client.get("/samples/digits@30/1000/0.png")
    assert answer.status_code == 200 and answer.content[:4] == b"\x89PNG"


def test_answers_without_a_key_show_no_host_paths(api: ServiceProcess) -> None:
    root = str(api.model_dir.resolve())
    models = api.client.get("/models")
    assert models.status_code == 200
    refused = [v for m in models.json()["models"] for v in m["versions"] if v["refused_reason"]]
    assert refused, "the truncated checkpoint should be listed as refused"
    assert "digits/00000015.safetensors" in refused[0]["refused_reason"]
    for path in ("/models", "/models/digits", "/readyz"):
        text = api.client.get(path).text
        assert root not in text and str(api.model_dir) not in text, path
    answer = _post(api, "/models/digits/promote", b'{"version": 15}', KEY)
    assert answer.status_code == 409 and root not in answer.text


def test_options_and_wrong_methods_name_the_allowed_ones(api: ServiceProcess) -> None:
    answer = api.client.options("/samples")
    assert answer.status_code == 204 and answer.headers["allow"] == "OPTIONS, POST"
    answer = api.client.options("/train-jobs")
    assert answer.status_code == 204 and answer.headers["allow"] == "GET, OPTIONS, POST"
    answer = api.client.delete("/samples")
    assert answer.status_code == 405 and answer.headers["allow"] == "OPTIONS, POST"
    answer = api.client.put("/models/digits")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, OPTIONS"
