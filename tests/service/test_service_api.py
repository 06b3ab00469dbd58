"""The sample service over real HTTP: formats, the determinism contract, batching, errors,
immutable addresses, the model listing and promotion, operations endpoints."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from sample_service_harness import API_KEY, ServiceProcess, copy_store

pytestmark = [pytest.mark.e2e]

D30 = "digits@30"


@pytest.fixture(scope="module")
def api(trained_store: Path, make_service, tmp_path_factory) -> ServiceProcess:
    store = copy_store(trained_store, tmp_path_factory.mktemp("api") / "models")
    service = make_service(
        store, max_batch_wait_ms=20, api_keys=[API_KEY], max_body_bytes=2048,
        max_samples_per_request=256,
    )  # fmt: skip
    service.wait_ready()
    return service


def post(api: ServiceProcess, **body) -> httpx.Response:
    answer = api.client.post("/samples", json=body)
    assert answer.status_code == 200, answer.text
    return answer


def npy(answer: httpx.Response) -> np.ndarray:
    return np.load(io.BytesIO(answer.content), allow_pickle=False)


def meta(store: Path, ref: str) -> dict:
    name, _, version = ref.partition("@")
    return json.loads((store / name / f"{int(version):08d}.json").read_text())


def test_png_has_the_models_size_and_mode_and_names_its_source(api: ServiceProcess) -> None:
    answer = post(api, n=1, seed=1, model=D30)
    assert answer.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(answer.content))
    assert image.format == "PNG" and image.size == (8, 8) and image.mode == "L"
    assert answer.headers["x-model-version"] == D30
    assert answer.headers["x-model-sha256"] == meta(api.model_dir, D30)["weights_sha256"]
    assert answer.headers["x-seed"] == "1" and answer.headers["x-offset"] == "0"
    assert len(answer.headers["x-request-id"]) >= 16


def test_same_request_same_bytes_other_seed_other_bytes(api: ServiceProcess) -> None:
    first = post(api, n=4, seed=123, model=D30, format="zip").content
    assert post(api, n=4, seed=123, model=D30, format="zip").content == first
    assert post(api, n=4, seed=124, model=D30, format="zip").content != first
    other_version = post(api, n=4, seed=123, model="digits@15", format="zip").content
    assert other_version != first


def test_sample_i_of_16_equals_n1_at_offset_i(api: ServiceProcess) -> None:
    batch = npy(post(api, n=16, seed=9, model=D30, format="npy"))  # (16, 8, 8, 1)
    assert batch.shape == (16, 8, 8, 1) and batch.dtype == np.uint8
    archive = zipfile.ZipFile(io.BytesIO(post(api, n=16, seed=9, model=D30).content))
    for i in range(16):
        single = post(api, n=1, seed=9, model=D30, offset=i)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(single.content)))[:, :, None],
                              batch[i])  # fmt: skip
        assert archive.read(f"seed-9-{i}.png") == single.content
    tail = npy(post(api, n=6, seed=9, model=D30, offset=10, format="npy"))
    assert np.array_equal(tail, batch[10:])


def test_50_concurrent_mixed_requests_are_exact_and_share_batches(api: ServiceProcess) -> None:
    rng = random.Random(0)
    plan = [
        {"n": rng.randint(1, 12), "seed": rng.choice([5, 6, 7]), "offset": rng.randint(0, 6),
         "model": rng.choice([D30, "digits@15"]), "format": "npy"}
        for _ in range(50)
    ]  # fmt: skip
    needed = {(p["model"], p["seed"], p["offset"] + i) for p in plan for i in range(p["n"])}
    reference = {  # each alone: a device batch of one row
        key: npy(post(api, n=1, model=key[0], seed=key[1], offset=key[2], format="npy"))[0]
        for key in sorted(needed)
    }
    passes_before = api.metric("gan_device_forward_passes_total")

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/samples", json=p) for p in plan))

    answers = asyncio.run(burst())
    passes = api.metric("gan_device_forward_passes_total") - passes_before
    for p, answer in zip(plan, answers, strict=True):
        assert answer.status_code == 200, answer.text
        got = npy(answer)
        assert got.shape[0] == p["n"]
        for i in range(p["n"]):
            expected = reference[(p["model"], p["seed"], p["offset"] + i)]
            assert np.array_equal(got[i], expected), (p, i)
    # Over HTTP, how the 50 arrive depends on the machine; requests that met in the queue
    # share device batches (what goes together is asserted in test_batcher.py).
    assert passes < len(plan), passes


def test_formats(api: ServiceProcess) -> None:
    zipped = post(api, n=5, seed=3, offset=2, model=D30)
    assert zipped.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    names = [f"seed-3-{i}.png" for i in range(2, 7)]
    assert archive.namelist() == names
    pngs = [archive.read(name) for name in names]
    assert all(Image.open(io.BytesIO(p)).size == (8, 8) for p in pngs)

    grid_png = post(api, n=5, seed=3, offset=2, model=D30, format="grid", scale=1,
                    padding=0).content  # fmt: skip
    grid = Image.open(io.BytesIO(grid_png))
    assert grid.size == (3 * 8, 2 * 8) and grid.mode == "L"  # ceil(sqrt(5)) = 3 columns, 2 rows
    pixels = np.asarray(grid)
    first = np.asarray(Image.open(io.BytesIO(pngs[0])))
    fourth = np.asarray(Image.open(io.BytesIO(pngs[3])))
    assert np.array_equal(pixels[:8, :8], first) and np.array_equal(pixels[8:, :8], fourth)
    assert not pixels[8:, 16:].any()  # the empty cell is black
    # By default a grid is readable: 8 x 8 samples enlarged 8 times, 16 px of white between.
    readable = np.asarray(Image.open(io.BytesIO(
        post(api, n=5, seed=3, offset=2, model=D30, format="grid").content)))  # fmt: skip
    assert readable.shape == (2 * 64 + 3 * 16, 3 * 64 + 4 * 16)
    assert np.array_equal(readable[16:80, 16:80], first.repeat(8, axis=0).repeat(8, axis=1))
    assert (readable[:16] == 255).all() and (readable[:, 80:96] == 255).all()
    bad = api.client.post("/samples", json={"n": 2, "model": D30, "format": "zip", "scale": 2})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "scale"]

    body = post(api, n=5, seed=3, offset=2, model=D30, format="json").json()
    assert body["model"] == D30 and body["seed"] == 3 and body["n"] == 5
    assert [s["index"] for s in body["samples"]] == [2, 3, 4, 5, 6]
    assert all(s["seed"] == 3 for s in body["samples"])
    assert [base64.b64decode(s["png_base64"]) for s in body["samples"]] == pngs

    array = npy(post(api, n=5, seed=3, offset=2, model=D30, format="npy"))
    assert array.shape == (5, 8, 8, 1) and array.dtype == np.uint8
    assert np.array_equal(array[1, :, :, 0], np.asarray(Image.open(io.BytesIO(pngs[1]))))

    for fmt, kind in (("jpeg", "JPEG"), ("webp", "WEBP")):
        answer = post(api, n=1, seed=3, model=D30, format=fmt)
        assert answer.headers["content-type"] == f"image/{fmt}"
        image = Image.open(io.BytesIO(answer.content))
        assert image.format == kind and image.size == (8, 8)

    by_accept = api.client.post("/samples", json={"n": 2, "seed": 3, "model": D30},
                                headers={"Accept": "application/json"})  # fmt: skip
    assert by_accept.headers["content-type"] == "application/json" and by_accept.json()["n"] == 2
    as_grid = api.client.post("/samples", json={"n": 4, "seed": 3, "model": D30},
                              headers={"Accept": "image/png"})  # fmt: skip
    assert Image.open(io.BytesIO(as_grid.content)).size == (2 * 64 + 3 * 16,) * 2


def test_vector_model_answers_json_points(api: ServiceProcess) -> None:
    answer = post(api, n=200, seed=4, model="ring-8@30")
    assert answer.headers["content-type"] == "application/json"
    points = np.asarray(answer.json()["points"], dtype=np.float32)
    assert points.shape == (200, 2) and np.isfinite(points).all()
    assert points.std(axis=0).min() > 0  # not one point repeated
    again = np.asarray(post(api, n=5, seed=4, model="ring-8", offset=17).json()["points"])
    assert np.array_equal(again.astype(np.float32), points[17:22])
    raw = npy(post(api, n=200, seed=4, model="ring-8@30", format="npy"))
    assert raw.dtype == np.float32 and np.array_equal(raw, points)
    refused = api.client.post("/samples", json={"model": "ring-8", "format": "png"})
    assert refused.status_code == 422 and "format" in refused.json()["message"]


BAD_BODIES = [
    ({"n": 0}, 422, ["n", "0"]),
    ({"n": 257, "model": D30}, 422, ["n", "257", "256"]),
    ({"n": "5"}, 422, ["n", "'5'"]),
    ({"n": 1.5}, 422, ["n", "1.5"]),
    ({"seed": -1}, 422, ["seed", "-1"]),
    ({"seed": 2**63}, 422, ["seed", str(2**63)]),
    ({"model": "Bad Name"}, 422, ["model", "Bad Name"]),
    ({"model": "nope"}, 404, ["nope"]),
    ({"model": "digits@999"}, 404, ["999"]),
    ({"offset": -3}, 422, ["offset", "-3"]),
    ({"truncation": 1.5}, 422, ["truncation", "1.5"]),
    ({"format": "gif"}, 422, ["format", "gif"]),
    ({"format": "png", "n": 4, "model": D30}, 422, ["format", "png"]),
    ({"colour": "red"}, 422, ["colour", "red"]),
    ({"label": 1, "model": D30}, 422, ["label", "unconditional"]),
    ({"labels": [0, 1], "n": 3}, 422, ["labels", "n = 3"]),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD_BODIES)
def test_bad_input_is_4xx_naming_the_field(api, body, status, words) -> None:
    answer = api.client.post("/samples", json=body)
    assert answer.status_code == status, answer.text
    payload = answer.json()
    text = payload.get("message") or payload["detail"]
    for word in words:
        assert word in text, (word, text)
    assert "Traceback" not in answer.text


def test_malformed_bodies_and_paths(api: ServiceProcess) -> None:
    cases = [
        ("POST", "/samples", b"{not json", ["body", "JSON"]),
        ("POST", "/samples", b"[1, 2]", ["body"]),
        ("GET", "/samples/digits@30/-1/0.png", None, ["seed", "-1"]),
        ("GET", "/samples/digits@30/1/x.png", None, ["index", "x"]),
        ("GET", "/samples/digits@30/1/0.png?truncation=2", None, ["truncation", "2"]),
        ("GET", "/samples/BAD/1/0.png", None, ["model", "BAD"]),
    ]
    for method, path, content, words in cases:
        answer = api.client.request(method, path, content=content)
        assert answer.status_code == 422, (path, answer.text)
        for word in words:
            assert word in answer.json()["message"], (path, word, answer.text)


def test_body_size_is_capped(api: ServiceProcess) -> None:
    big = b'{"n": 1, "model": "' + b"x" * 4000 + b'"}'
    assert api.client.post("/samples", content=big).status_code == 413

    def chunks():  # no Content-Length: the cap counts the bytes as they arrive
        for _ in range(8):
            yield b" " * 512

    answer = api.client.post("/samples", content=chunks())
    assert answer.status_code == 413 and "limit" in answer.json()["detail"]


def test_immutable_address_with_etag(api: ServiceProcess) -> None:
    answer = api.client.get("/samples/digits@30/7/3.png")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.content == post(api, n=1, seed=7, offset=3, model=D30).content
    etag = answer.headers["etag"]
    again = api.client.get("/samples/digits@30/7/3.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    other = api.client.get("/samples/digits@30/7/4.png")
    assert other.headers["etag"] != etag and other.content != answer.content
    unpinned = api.client.get("/samples/digits/7/3.png")
    assert unpinned.headers["cache-control"] == "no-cache"


def test_models_listing(api: ServiceProcess) -> None:
    listing = api.client.get("/models").json()
    by_name = {m["name"]: m for m in listing["models"]}
    assert set(by_name) == {"digits", "ring-8"}
    digits = by_name["digits"]
    assert digits["default_version"] == 30
    versions = {v["version"]: v for v in digits["versions"]}
    assert set(versions) == {15, 30} and versions[30]["default"] and not versions[15]["default"]
    assert versions[30]["status"] == "ready" and versions[30]["meta"]["dataset"] == "digits"
    assert versions[30]["meta"]["weights_sha256"] == meta(api.model_dir, D30)["weights_sha256"]
    assert versions[30]["loaded"] and 1 in versions[30]["device_batch_sizes"]
    assert versions[30]["conditional"] is False and versions[30]["classes"] == []
    assert api.client.get("/models/digits").json() == digits
    missing = api.client.get("/models/cats")
    assert missing.status_code == 404 and "cats" in missing.json()["detail"]


def test_promote_needs_the_key_and_moves_the_default(api: ServiceProcess) -> None:
    path = "/models/digits/promote"
    assert api.client.post(path, json={"version": 15}).status_code == 401
    wrong = api.client.post(path, json={"version": 15}, headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 403
    key = {"Authorization": f"Bearer {API_KEY}"}
    bad = api.client.post(path, json={"version": "latest"}, headers=key)
    assert bad.status_code == 422 and "version" in bad.json()["message"]
    assert api.client.post(path, json={"version": 99}, headers=key).status_code == 404
    try:
        done = api.client.post(path, json={"version": 15}, headers=key)
        assert done.status_code == 200 and done.json()["ref"] == "digits@15"
        assert json.loads((api.model_dir / "digits" / "default.json").read_text()) == {
            "version": 15
        }
        assert post(api, model="digits", seed=1).headers["x-model-version"] == "digits@15"
    finally:
        api.client.post(path, json={"version": 30}, headers=key)
    assert post(api, model="digits", seed=1).headers["x-model-version"] == D30


def test_operations_endpoints_and_logs(api: ServiceProcess) -> None:
    assert api.client.get("/healthz").json() == {"status": "alive"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models_loaded"] >= 1
    answer = api.client.post("/samples", json={"model": D30, "seed": 2},
                             headers={"X-Request-ID": "trace-me-42"})  # fmt: skip
    assert answer.headers["x-request-id"] == "trace-me-42"
    assert api.metric("gan_http_requests_total", route="/samples", status="200") >= 1
    assert api.metric("gan_http_requests_total", route="/samples", status="422") >= 1
    assert api.metric("gan_samples_generated_total") > 0
    assert api.metric("gan_http_request_duration_seconds_count", route="/samples") >= 1
    assert api.metric("gan_model_loads_total", model="digits") >= 1
    for name in ("gan_queue_samples", "gan_device_batch_samples_count",
                 "gan_model_refusals_total", "gan_samples_dropped_total"):  # fmt: skip
        assert name in api.client.get("/metrics").text
    lines = [json.loads(line) for line in api.log_text().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line["request_id"] == "trace-me-42"]
    assert mine and mine[-1]["status"] == 200 and mine[-1]["path"] == "/samples"


def _has_example(response: dict) -> bool:
    for content in response.get("content", {}).values():
        if "example" in content or "examples" in content:
            return True
        if content.get("schema", {}).get("format") == "binary":  # images, archives
            return True
    return False


def test_openapi_has_an_example_for_every_endpoint_and_error(api: ServiceProcess) -> None:
    assert api.client.get("/docs").status_code == 200
    spec = api.client.get("/openapi.json").json()
    mine = [p for p in spec["paths"] if not p.startswith("/train-jobs")]
    assert {"/samples", "/samples/{model}/{seed}/{index}.png", "/models", "/models/{model}",
            "/models/{model}/promote", "/healthz", "/readyz", "/metrics"} <= set(mine)  # fmt: skip
    for path in mine:
        for method, operation in spec["paths"][path].items():
            statuses = operation["responses"]
            assert any(s.startswith("2") for s in statuses), (path, method)
            for status, response in statuses.items():
                if status not in ("204", "304"):  # no body to show
                    assert _has_example(response), (path, method, status)
    body = spec["paths"]["/samples"]["post"]["requestBody"]["content"]["application/json"]
    assert body["examples"] and body["schema"]["additionalProperties"] is False
