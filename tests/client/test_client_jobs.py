"""Training jobs through the client against the real stack (redis-server, a Celery worker,
the API under uvicorn): a ring-8 job followed live and waited for, its events resumed from a
real event id, its model sampled; a job that fails raises JobFailed; `train --watch` and
`watch` as child processes; typed errors; deleting jobs, versions and uploaded datasets (these
skip, saying so, while the server has no such route)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import JOBS_API_KEY, Stack, run_cli, wait_for
from PIL import Image

from gan_client import (
    AuthError,
    BadRequest,
    Conflict,
    GanClient,
    JobFailed,
    NotFound,
    RetryPolicy,
)

pytestmark = [pytest.mark.e2e]

RING = {"steps": 60, "checkpoint_every": 30, "log_every": 10}


@pytest.fixture
def gan(stack: Stack) -> Iterator[GanClient]:
    with GanClient(stack.api.url, JOBS_API_KEY, retry=RetryPolicy(max_sleep=2)) as client:
        yield client


def test_a_job_that_fails_raises_job_failed_and_watch_says_so(stack: Stack, gan) -> None:
    """The data changes between submit and run (so the worker fails it, as in tests/service/jobs);
    the worker starts only after the data has changed."""
    assert stack.worker is None
    array = stack.data_root / "changing.npy"
    np.save(array, np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32))
    job = gan.train("npz:changing.npy", steps=50)
    np.save(array, np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32))
    stack.start_worker()
    with pytest.raises(JobFailed) as failed:
        job.wait(timeout=240)
    assert failed.value.state == "failed" and failed.value.record["id"] == job.id
    assert "submit the job again" in failed.value.message
    assert job.record["state"] == "failed"

    done = run_cli("--url", stack.api.url, "watch", job.id)
    assert done.returncode == 1, done.stderr
    assert f"job {job.id} ({job.name}) failed at step" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_ring8_job_end_to_end(stack: Stack, gan) -> None:
    stack.ensure_worker()
    job = gan.train("ring-8", **RING)
    assert job.state == "queued" and job.name.startswith("ring-8-")
    events = list(job.events())
    assert events[0]["type"] == "state" and events[0]["state"] == "queued"
    steps = [e["step"] for e in events if e["type"] == "progress"]
    assert steps == sorted(steps) and steps[-1] == RING["steps"]
    assert events[-1]["state"] == "succeeded"
    assert all(e["event_id"] for e in events)

    record = job.wait(timeout=60)  # over already: the record at once
    assert (record["state"], record["step"], record["error"]) == ("succeeded", 60, None)
    assert record["promoted"] == f"{job.name}@60"

    # A reader that resumes after a real event id gets exactly the rest.
    k = len(events) // 2
    rest = list(job.events(last_event_id=events[k]["event_id"]))
    assert rest == events[k + 1 :]

    wait_for(lambda: job.name in {m["name"] for m in gan.models()["models"]}, 30, "the model")
    points = gan.sample(job.name, 16, seed=1, as_="numpy")
    assert points.shape == (16, 2) and points.dtype == np.float32

    with pytest.raises(Conflict) as ended:
        job.cancel()
    assert ended.value.status == 409 and "already succeeded" in ended.value.message


def test_cli_train_watch_then_sample_the_model(stack: Stack, gan, tmp_path: Path) -> None:
    stack.ensure_worker()
    done = run_cli(
        "train", "ring-8", "--steps", "40", "--name", "cli-ring", "--no-promote",
        "--set", "log_every=10", "--set", "checkpoint_every=20", "--watch",
        env={"GAN_URL": stack.api.url, "GAN_API_KEY": JOBS_API_KEY},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "queued job" in done.stdout
    assert "(cli-ring) succeeded at step 40/40; published cli-ring@20, cli-ring@40" in done.stdout
    assert "40/40" in done.stderr  # the progress bar reached the end
    job_id = done.stdout.split("queued job ", 1)[1].split()[0]
    record = gan.job(job_id).record
    assert record["config"]["log_every"] == 10 and record["auto_promote"] is False
    assert record["promoted"] is None

    wait_for(lambda: "cli-ring" in {m["name"] for m in gan.models()["models"]}, 30, "cli-ring")
    out = tmp_path / "points.json"
    done = run_cli("--url", stack.api.url, "sample", "cli-ring@40", "-n", "8", "--seed", "1",
                   "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(json.loads(out.read_text())["points"]) == 8


def test_job_errors_are_typed(stack: Stack, gan) -> None:
    with pytest.raises(NotFound) as missing:
        gan.job("0" * 32)
    assert missing.value.status == 404 and "0" * 32 in missing.value.message
    with pytest.raises(BadRequest) as bad:
        gan.train("ring-8", steps="5")
    assert (bad.value.status, bad.value.field) == (422, "steps")
    with pytest.raises(BadRequest) as bad:
        gan.train("no-such-set", steps=5)
    assert bad.value.field == "dataset" and "no-such-set" in bad.value.message
    with GanClient(stack.api.url, api_key="") as anonymous, pytest.raises(AuthError) as auth:
        anonymous.train("ring-8", steps=5)
    assert auth.value.status == 401
    with GanClient(stack.api.url, api_key="nope") as stranger, pytest.raises(AuthError) as auth:
        stranger.train("ring-8", steps=5)
    assert auth.value.status == 403
    done = run_cli("--url", stack.api.url, "watch", "nope")
    assert done.returncode == 1 and "no training job with id 'nope'" in done.stderr
    done = run_cli("--url", stack.api.url, "train", "ring-8", "--steps", "5")  # no key
    assert done.returncode == 1 and "GAN_API_KEY" in done.stderr and "Traceback" not in done.stderr


def test_cancel_then_wait_raises_job_failed_then_delete_the_job(stack: Stack, gan) -> None:
    stack.ensure_worker()
    job = gan.train("ring-8", steps=100_000, checkpoint_every=100, log_every=20)
    assert job.cancel()["cancel_requested"] is True
    with pytest.raises(JobFailed) as cancelled:
        job.wait(timeout=120)
    assert cancelled.value.state == "cancelled" and "cancelled" in cancelled.value.message

    gan.delete_job(job.id)
    with pytest.raises(NotFound):
        job.refresh()
    with pytest.raises(NotFound):
        gan.delete_job(job.id)


def test_delete_a_version(stack: Stack, gan) -> None:
    stack.ensure_worker()
    job = gan.train("ring-8", name="del-ring", steps=20, checkpoint_every=10, log_every=10)
    assert job.wait(timeout=240)["published"] == ["del-ring@10", "del-ring@20"]
    wait_for(lambda: "del-ring" in {m["name"] for m in gan.models()["models"]}, 30, "del-ring")
    gan.delete_version("del-ring", 10)
    assert {v["version"] for v in gan.model("del-ring")["versions"]} == {20}
    with pytest.raises(NotFound):
        gan.delete_version("del-ring", 10)


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_upload_datasets_list_train_and_delete(stack: Stack, gan, tmp_path: Path) -> None:
    points = tmp_path / "points.npy"
    np.save(points, np.random.default_rng(1).normal(size=(64, 2)).astype(np.float32))
    manifest = gan.upload_dataset("pts", points)
    assert (manifest["name"], manifest["samples"], manifest["shape"]) == ("pts", 64, [2])
    assert gan.dataset("pts") == manifest
    assert "pts" in {d["name"] for d in gan.datasets()}

    folder = tmp_path / "shapes"  # a labelled image folder: one sub-folder per class
    for label, base in (("dark", 0), ("light", 200)):
        (folder / label).mkdir(parents=True)
        for i in range(8):
            (folder / label / f"{i}.png").write_bytes(_png(base + i * 5))
    done = run_cli("upload", "shapes", str(folder),
                   env={"GAN_URL": stack.api.url, "GAN_API_KEY": JOBS_API_KEY})  # fmt: skip
    assert done.returncode == 0, done.stderr
    shapes = gan.dataset("shapes")
    assert (shapes["samples"], shapes["classes"]) == (16, ["dark", "light"])
    assert "16 samples" in done.stdout

    zipped = tmp_path / "shapes.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        for path in sorted(folder.rglob("*.png")):
            archive.write(path, path.relative_to(folder).as_posix())
    assert gan.upload_dataset("shapes-zip", zipped)["classes"] == ["dark", "light"]

    stack.ensure_worker()
    job = gan.train(manifest["spec"], steps=20, checkpoint_every=20, log_every=10)
    assert job.wait(timeout=240)["state"] == "succeeded"

    with pytest.raises(Conflict):
        gan.upload_dataset("pts", points)
    for name in ("pts", "shapes", "shapes-zip"):
        gan.delete_dataset(name)
        with pytest.raises(NotFound):
            gan.dataset(name)
