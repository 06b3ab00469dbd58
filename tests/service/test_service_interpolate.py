"""POST /samples/interpolate over real HTTP: a walk's ends are the samples at its two
addresses, every format holds `steps` frames, frame k does not depend on what shares its
device batch, and bad walks are 422s naming the field."""

from __future__ import annotations

import asyncio
import base64
import io
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from sample_service_harness import ServiceProcess, copy_store

pytestmark = [pytest.mark.e2e]

D30 = "digits@30"
WALK = {"model": D30, "seed_a": 11, "index_a": 2, "seed_b": 12, "index_b": 0, "steps": 6}


@pytest.fixture(scope="module")
def api(trained_store: Path, make_service, tmp_path_factory) -> ServiceProcess:
    store = copy_store(trained_store, tmp_path_factory.mktemp("walk") / "models")
    service = make_service(store, max_samples_per_request=64, max_batch_wait_ms=20)
    service.wait_ready()
    return service


def walk(api: ServiceProcess, **changes) -> httpx.Response:
    answer = api.client.post("/samples/interpolate", json={**WALK, **changes})
    assert answer.status_code == 200, answer.text
    return answer


def test_the_walk_starts_and_ends_at_its_two_addresses(api: ServiceProcess) -> None:
    for method in ("slerp", "lerp"):
        frames = walk(api, method=method, format="json").json()["frames"]
        assert [f["frame"] for f in frames] == list(range(WALK["steps"]))
        first = base64.b64decode(frames[0]["png_base64"])
        last = base64.b64decode(frames[-1]["png_base64"])
        a = api.client.get(f"/samples/{D30}/{WALK['seed_a']}/{WALK['index_a']}.png").content
        b = api.client.get(f"/samples/{D30}/{WALK['seed_b']}/{WALK['index_b']}.png").content
        assert first == a and last == b
        middle = {frames[k]["png_base64"] for k in range(1, WALK["steps"] - 1)}
        assert len(middle) == WALK["steps"] - 2  # the frames in between all differ


def test_every_format_holds_the_frames_and_repeats_byte_for_byte(api: ServiceProcess) -> None:
    steps = WALK["steps"]
    for fmt, media in (("webp", "image/webp"), ("gif", "image/gif")):
        answer = walk(api, format=fmt, frame_ms=80)
        assert answer.headers["content-type"] == media
        assert answer.headers["x-model-version"] == D30
        with Image.open(io.BytesIO(answer.content)) as animation:
            assert animation.n_frames == steps and animation.size == (8, 8)
        assert walk(api, format=fmt, frame_ms=80).content == answer.content
    archive = zipfile.ZipFile(io.BytesIO(walk(api, format="zip").content))
    assert archive.namelist() == [f"frame-{k:03d}.png" for k in range(steps)]
    frames = np.load(io.BytesIO(walk(api, format="npy").content), allow_pickle=False)
    assert frames.shape == (steps, 8, 8, 1) and frames.dtype == np.uint8
    default = walk(api)  # webp unless asked otherwise
    assert default.headers["content-type"] == "image/webp"


def test_frames_do_not_depend_on_what_shares_their_batch(api: ServiceProcess) -> None:
    alone = walk(api, format="npy").content

    async def crowd() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
            others = [client.post("/samples", json={"model": D30, "n": n, "seed": n,
                                                    "format": "npy"})
                      for n in (3, 7, 12, 5)]  # fmt: skip
            mine = client.post("/samples/interpolate", json={**WALK, "format": "npy"})
            return await asyncio.gather(mine, *others)

    answers = asyncio.run(crowd())
    assert all(a.status_code == 200 for a in answers)
    assert answers[0].content == alone


def test_a_walk_of_a_2d_model_is_points(api: ServiceProcess) -> None:
    body = {"model": "ring-8@30", "seed_a": 1, "seed_b": 2, "steps": 5}
    points = api.client.post("/samples/interpolate", json=body).json()["points"]
    assert len(points) == 5 and all(len(p) == 2 for p in points)
    gif = api.client.post("/samples/interpolate", json={**body, "format": "gif"})
    assert gif.status_code == 422 and gif.json()["detail"][0]["loc"] == ["body", "format"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"steps": 1}, "steps"), ({"steps": 65}, "steps"), ({"method": "cubic"}, "method"),
     ({"seed_a": -1}, "seed_a"), ({"steps": 4.0}, "steps"), ({"frame_ms": 5}, "frame_ms"),
     ({"format": "png"}, "format"), ({"colour": "red"}, "colour")],
)  # fmt: skip
def test_bad_walks_are_422_naming_the_field(api: ServiceProcess, changes: dict, field: str) -> None:
    answer = api.client.post("/samples/interpolate", json={**WALK, **changes})
    assert answer.status_code == 422, answer.text
    assert ["body", field] in [e["loc"] for e in answer.json()["detail"]]
    missing = {k: v for k, v in WALK.items() if k != "seed_b"}
    answer = api.client.post("/samples/interpolate", json=missing)
    assert answer.status_code == 422 and ["body", "seed_b"] in [
        e["loc"] for e in answer.json()["detail"]
    ]
