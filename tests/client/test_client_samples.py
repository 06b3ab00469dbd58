"""The client against the real sample service (`python -m service` over checkpoints from the
real training loop, plus a conditional one): what it returns is exactly what a direct HTTP
request returns, labels reach conditional models, every error is typed with the server's
message, and the `sample` and `models` commands work as child processes."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from conftest import harness, run_cli
from PIL import Image

from gan_client import (
    AsyncGanClient,
    AuthError,
    BadRequest,
    Conflict,
    GanClient,
    NotFound,
    RetryPolicy,
    Unreachable,
)
from models.checkpoint import save_generator
from models.config import DCGANConfig
from models.factory import build_generator

pytestmark = [pytest.mark.e2e]

KEY = "client-test-key"
CLASSES = ["circle", "square", "7"]  # "7" is class 2: a name that reads like a number
COND = "cond@1"
DIGITS = "digits@30"


@pytest.fixture(scope="module")
def store(trained_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """digits@15, digits@30, ring-8@30 from training; cond@1, a conditional 1 x 8 x 8 DCGAN
    with 3 classes (random weights); digits@45, a tampered copy of digits@30 (refused)."""
    root = harness.copy_store(trained_store, tmp_path_factory.mktemp("client") / "models")
    arch = DCGANConfig(image_size=8, channels=1, z_dim=16, g_width=8, d_width=8, num_classes=3)
    torch.manual_seed(0)
    save_generator(root, "cond", build_generator(arch).eval(), arch, step=1, dataset="none",
                   loss="none", classes=CLASSES)  # fmt: skip
    _, weights = harness.checkpoint_files(trained_store, DIGITS)
    harness.publish(trained_store, DIGITS, root, as_version=45, weights=weights.read_bytes()[:999])
    return root


@pytest.fixture(scope="module")
def api(store: Path, make_service) -> harness.ServiceProcess:
    service = make_service(store, api_keys=[KEY], max_batch_size=8, max_batch_wait_ms=20)
    service.wait_ready()
    return service


@pytest.fixture
def gan(api: harness.ServiceProcess) -> Iterator[GanClient]:
    with GanClient(api.url, KEY, retry=RetryPolicy(attempts=2, max_sleep=1)) as client:
        yield client


def direct(api: harness.ServiceProcess, **body) -> httpx.Response:
    answer = api.client.post("/samples", json=body)
    assert answer.status_code == 200, answer.text
    return answer


def npy(answer: httpx.Response) -> np.ndarray:
    return np.load(io.BytesIO(answer.content), allow_pickle=False)


def test_samples_as_numpy_and_pil_are_the_bytes_of_a_direct_request(api, gan) -> None:
    body = {"model": DIGITS, "n": 5, "seed": 42, "offset": 3, "truncation": 0.7}
    expected = npy(direct(api, **body, format="npy"))  # (5, 8, 8, 1) uint8
    array = gan.sample(DIGITS, 5, 42, offset=3, truncation=0.7, as_="numpy")
    assert array.dtype == np.uint8 and array.shape == (5, 8, 8, 1)
    assert np.array_equal(array, expected)

    images = gan.sample(DIGITS, 5, 42, offset=3, truncation=0.7)
    with zipfile.ZipFile(io.BytesIO(direct(api, **body, format="zip").content)) as archive:
        names = sorted(archive.namelist(), key=lambda n: int(n.rsplit("-", 1)[1][:-4]))
        pngs = [Image.open(io.BytesIO(archive.read(name))) for name in names]
    assert [im.mode for im in images] == ["L"] * 5 and images[0].size == (8, 8)
    for got, png in zip(images, pngs, strict=True):
        assert got.tobytes() == png.tobytes()

    raw = gan.sample_raw(DIGITS, 5, 42, offset=3, truncation=0.7, format="grid")
    assert raw.content == direct(api, **body, format="grid").content
    assert (raw.model, raw.seed, raw.count, raw.media_type) == (DIGITS, 42, 5, "image/png")


def test_a_vector_model_gives_its_points(api, gan) -> None:
    expected = np.array(direct(api, model="ring-8", n=64, seed=1, format="json").json()["points"],
                        dtype=np.float32)  # fmt: skip
    for as_ in ("numpy", "pil"):
        points = gan.sample("ring-8", 64, 1, as_=as_)
        assert isinstance(points, np.ndarray) and points.dtype == np.float32
        assert np.array_equal(points, expected)


def test_a_random_seed_is_reported(gan) -> None:
    raw = gan.sample_raw(DIGITS, 2)
    assert raw.seed is not None and raw.count == 2
    assert np.array_equal(raw.array(), gan.sample(DIGITS, 2, raw.seed, as_="numpy"))


def test_labels_reach_a_conditional_model(api, gan) -> None:
    sevens = npy(direct(api, model=COND, n=4, seed=42, label=2, format="npy"))
    assert np.array_equal(gan.sample(COND, 4, 42, label=2, as_="numpy"), sevens)
    assert np.array_equal(gan.sample(COND, 4, 42, label="7", as_="numpy"), sevens)
    assert np.array_equal(gan.sample(COND, 4, 42, label=np.int64(2), as_="numpy"), sevens)
    mixed = npy(direct(api, model=COND, n=4, seed=42, labels=[0, 1, 2, 0], format="npy"))
    got = gan.sample(COND, 4, 42, labels=["circle", 1, "7", 0], as_="numpy")
    assert np.array_equal(got, mixed)
    assert not np.array_equal(gan.sample(COND, 4, 42, label=0, as_="numpy"), sevens)


def test_interpolate_gives_the_frames_of_a_direct_request(api, gan) -> None:
    body = {"model": DIGITS, "seed_a": 1, "seed_b": 2, "index_b": 3, "steps": 4, "format": "npy"}
    answer = api.client.post("/samples/interpolate", json=body)
    assert answer.status_code == 200, answer.text
    frames = gan.interpolate(DIGITS, seed_a=1, seed_b=2, index_b=3, steps=4, as_="numpy")
    assert np.array_equal(frames, npy(answer))
    assert np.array_equal(frames[0], gan.sample(DIGITS, 1, 1, as_="numpy")[0])
    images = gan.interpolate(DIGITS, seed_a=1, seed_b=2, index_b=3, steps=4)
    assert len(images) == 4 and images[3].tobytes() == frames[3].tobytes()
    walk = gan.interpolate(COND, seed_a=1, seed_b=2, steps=3, label="square", as_="numpy")
    assert np.array_equal(walk[0], gan.sample(COND, 1, 1, label=1, as_="numpy")[0])


def test_the_async_client_answers_as_the_sync_one(gan, api) -> None:
    async def main() -> tuple:
        async with AsyncGanClient(api.url, KEY) as agan:
            together = await asyncio.gather(
                agan.sample(DIGITS, 3, 9, as_="numpy"),
                agan.sample(COND, 3, 9, label="circle", as_="numpy"),
                agan.interpolate(DIGITS, seed_a=1, seed_b=2, steps=3, as_="numpy"),
                agan.models(),
            )
            with pytest.raises(NotFound):
                await agan.model("nope")
            return together

    digits, cond, walk, models = asyncio.run(main())
    assert np.array_equal(digits, gan.sample(DIGITS, 3, 9, as_="numpy"))
    assert np.array_equal(cond, gan.sample(COND, 3, 9, label=0, as_="numpy"))
    assert np.array_equal(walk, gan.interpolate(DIGITS, seed_a=1, seed_b=2, steps=3, as_="numpy"))
    assert {m["name"] for m in models["models"]} == {m["name"] for m in gan.models()["models"]}


def test_models_and_promote(gan) -> None:
    listed = {m["name"]: m for m in gan.models()["models"]}
    assert {"digits", "ring-8", "cond"} <= set(listed)
    versions = {v["version"]: v for v in listed["digits"]["versions"]}
    assert versions[30]["status"] == "ready" and versions[45]["status"] == "refused"
    assert gan.model("cond")["versions"][0]["classes"] == CLASSES
    try:
        assert gan.promote("digits", 15) == {
            "model": "digits", "default_version": 15, "ref": "digits@15"
        }  # fmt: skip
        assert gan.model("digits")["default_version"] == 15
    finally:
        gan.promote("digits", 30)


def test_errors_are_typed_with_the_servers_message(api, gan) -> None:
    with pytest.raises(BadRequest) as bad:
        gan.sample(DIGITS, n=100_000)
    assert (bad.value.status, bad.value.field) == (422, "n") and "n" in bad.value.message
    with pytest.raises(BadRequest) as bad:
        gan.sample(DIGITS, 2, label=1)
    assert bad.value.field == "label" and "label" in bad.value.message
    with pytest.raises(BadRequest) as bad:
        gan.sample(COND, 3, labels=[0, 1])
    assert bad.value.field is not None and bad.value.field.startswith("labels")

    with pytest.raises(NotFound) as missing:
        gan.sample("nope", 1)
    assert missing.value.status == 404 and "nope" in missing.value.message
    with pytest.raises(NotFound):
        gan.model("nope")
    with pytest.raises(Conflict) as refused:
        gan.promote("digits", 45)
    assert refused.value.status == 409 and "digits@45" in refused.value.message

    with GanClient(api.url, api_key="") as anonymous, pytest.raises(AuthError) as auth:
        anonymous.promote("digits", 30)
    assert auth.value.status == 401 and "Bearer" in auth.value.message
    with GanClient(api.url, api_key="wrong") as stranger, pytest.raises(AuthError) as auth:
        stranger.promote("digits", 30)
    assert auth.value.status == 403 and "not accepted" in auth.value.message

    with GanClient("http://127.0.0.1:1") as nobody, pytest.raises(Unreachable) as gone:
        nobody.models()
    assert gone.value.status is None and "127.0.0.1:1/models" in gone.value.message


def test_the_environment_names_the_server_and_the_key(api, monkeypatch) -> None:
    monkeypatch.setenv("GAN_URL", api.url)
    monkeypatch.setenv("GAN_API_KEY", KEY)
    with GanClient() as gan:
        assert gan.url == api.url
        assert gan.promote("digits", 30)["ref"] == "digits@30"


def test_cli_sample_writes_a_grid_a_folder_and_arrays(api, tmp_path: Path) -> None:
    grid = tmp_path / "grid.png"
    done = run_cli("--url", api.url, "sample", "cond", "-n", "4", "--seed", "42", "--label",
                   "1", "-o", str(grid))  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = {"model": "cond", "n": 4, "seed": 42, "label": 1, "format": "grid"}
    assert grid.read_bytes() == direct(api, **body).content
    assert "4 samples of cond@1, seed 42" in done.stdout

    folder = tmp_path / "out"
    done = run_cli("--url", api.url, "sample", DIGITS, "-n", "3", "--seed", "7", "--offset",
                   "2", "-o", f"{folder}/")  # fmt: skip
    assert done.returncode == 0, done.stderr
    zipped = direct(api, model=DIGITS, n=3, seed=7, offset=2, format="zip").content
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        expected = {name: archive.read(name) for name in archive.namelist()}
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == expected
    assert set(expected) == {"seed-7-2.png", "seed-7-3.png", "seed-7-4.png"}

    points = tmp_path / "points.npy"
    done = run_cli("--url", api.url, "sample", "ring-8", "-n", "16", "--seed", "3", "-o",
                   str(points))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert np.load(points).shape == (16, 2)


def test_cli_errors_are_one_line_never_a_traceback(api, tmp_path: Path) -> None:
    cases = [
        (["sample", "nope", "-n", "2", "-o", str(tmp_path / "x.zip")], "no model named 'nope'"),
        (["sample", DIGITS, "-n", "100000", "-o", str(tmp_path / "x.zip")], "[field: n]"),
        (["sample", DIGITS, "-o", str(tmp_path / "x.bmp")], "cannot tell the format"),
    ]
    for args, words in cases:
        done = run_cli("--url", api.url, *args)
        assert done.returncode == 1, done
        assert words in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("error: ")
    gone = run_cli("--url", "http://127.0.0.1:1", "models")
    assert gone.returncode == 1 and "Connection refused" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_cli_models_lists_every_version(api) -> None:
    done = run_cli("models", env={"GAN_URL": api.url})
    assert done.returncode == 0, done.stderr
    for ref in ("digits@15", "digits@30", "digits@45", "ring-8@30", "cond@1"):
        assert ref in done.stdout
    assert "refused" in done.stdout
