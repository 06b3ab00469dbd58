"""The jobs API end to end: real redis-server, real Celery worker, real uvicorn over HTTP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Stack, wait_for

pytestmark = [pytest.mark.e2e]

# Enough steps for ring-8 to cover its 8 modes (see training/presets.py), few enough for CI.
RING8_RECIPE = {"steps": 3000, "checkpoint_every": 1000, "log_every": 100}


def _loc_names(answer) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in answer.json()["detail"]]


def test_bad_submissions_get_4xx_and_enqueue_nothing(stack: Stack, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, stack.data_root / "escape")
    (stack.data_root / "pictures").mkdir()
    (Path(stack.settings.model_dir) / "taken").mkdir(parents=True)
    cases = [
        ({"dataset": "no-such-set"}, 422, "body.dataset"),
        ({"dataset": "ring-8", "steps": -5}, 422, "body.steps"),
        ({"dataset": "ring-8", "batch_size": 0}, 422, "body.batch_size"),
        ({"dataset": "ring-8", "lr_g": "fast"}, 422, "body.lr_g"),
        ({"dataset": "ring-8", "colour": "red"}, 422, "body.colour"),
        ({"steps": 10}, 422, "body.dataset"),
        ({"dataset": "folder:../outside"}, 422, "body.dataset"),
        ({"dataset": f"folder:{outside}"}, 422, "body.dataset"),
        ({"dataset": "folder:escape"}, 422, "body.dataset"),
        ({"dataset": "npz:missing.npz"}, 422, "body.dataset"),
        ({"dataset": "ring-8", "name": "Bad Name!"}, 422, "body.name"),
    ]
    for body, status, field in cases:
        answer = stack.client.post("/train-jobs", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert field in _loc_names(answer), (body, answer.text)
    unknown = stack.client.post("/train-jobs", json={"dataset": "no-such-set"}).json()
    assert "no-such-set" in unknown["detail"][0]["msg"]

    taken = stack.client.post("/train-jobs", json={"dataset": "ring-8", "name": "taken"})
    assert taken.status_code == 409 and "taken" in taken.json()["detail"]
    no_key = stack.client.post(
        "/train-jobs", json={"dataset": "ring-8"}, headers={"Authorization": ""}
    )
    assert no_key.status_code == 401
    wrong_key = stack.client.post(
        "/train-jobs", json={"dataset": "ring-8"}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong_key.status_code == 403
    huge = stack.client.post(
        "/train-jobs", json={"dataset": "ring-8", "arch_config": {"x": "y" * 20000}}
    )
    assert huge.status_code == 413
    not_json = stack.client.post(
        "/train-jobs", content=b"{dataset", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422

    assert stack.queue_length() == 0
    assert stack.client.get("/train-jobs").json()["total"] == 0


def test_queue_cap_and_cancelling_queued_jobs(stack: Stack) -> None:
    """No worker runs yet: jobs wait; past the cap -> 429; cancelled queued jobs never run."""
    cap = stack.settings.max_queued_jobs
    ids = [stack.submit(dataset="ring-8", steps=10)["id"] for _ in range(cap)]
    over = stack.client.post("/train-jobs", json={"dataset": "ring-8", "steps": 10})
    assert over.status_code == 429 and "GAN_MAX_QUEUED_JOBS" in over.json()["detail"]
    assert stack.queue_length() == cap

    listed = stack.client.get("/train-jobs", params={"state": "queued", "limit": 3}).json()
    assert listed["total"] == cap and len(listed["jobs"]) == 3 and listed["next_offset"] == 3
    assert [j["id"] for j in listed["jobs"]] == ids[::-1][:3]  # newest first

    for job_id in ids:
        answer = stack.client.post(f"/train-jobs/{job_id}/cancel")
        assert answer.status_code == 202 and answer.json()["state"] == "cancelled"
    again = stack.client.post(f"/train-jobs/{ids[0]}/cancel")  # idempotent
    assert again.status_code == 202 and again.json()["state"] == "cancelled"
    assert stack.client.get("/train-jobs", params={"state": "queued"}).json()["total"] == 0

    # A worker now takes the stale messages and must not run any of them.
    stack.ensure_worker()
    wait_for(lambda: stack.queue_length() == 0, 60, "the worker to drain the queue")
    for job_id in ids:
        job = stack.job(job_id)
        assert job["state"] == "cancelled" and job["attempts"] == 0 and job["step"] == 0


def test_unknown_job_is_404(stack: Stack) -> None:
    for path in ("/train-jobs/nope", "/train-jobs/nope/events", "/train-jobs/nope/samples.png"):
        answer = stack.client.get(path)
        assert answer.status_code == 404 and "nope" in answer.json()["detail"]
    assert stack.client.post("/train-jobs/nope/cancel").status_code == 404


def _points(payload: object) -> list[list[float]]:
    """The 2-D points of a /samples JSON answer, wherever the service puts them."""
    if (
        isinstance(payload, list)
        and payload
        and all(isinstance(p, list) and len(p) == 2 for p in payload)
    ):
        return payload
    children = payload.values() if isinstance(payload, dict) else payload
    if isinstance(children, (list, type({}.values()))):
        for child in children:
            if isinstance(child, (list, dict)) and (found := _points(child)):
                return found
    return []


def _modes_covered(points: list[list[float]]) -> int:
    """ring-8 modes covered by the samples, by the project's VEEGAN/PacGAN protocol."""
    import numpy as np

    from training.datasets import mixture_for
    from training.mode_metrics import mode_metrics

    mixture = mixture_for("ring-8")
    assert mixture is not None
    return int(mode_metrics(np.asarray(points), mixture)["modes_covered"])


@pytest.mark.slow
def test_ring8_job_runs_to_success_and_its_versions_serve(stack: Stack) -> None:
    stack.ensure_worker()
    accepted = stack.client.post("/train-jobs", json={"dataset": "ring-8", **RING8_RECIPE})
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    assert accepted.headers["location"] == f"/train-jobs/{job_id}"

    events = list(stack.events(job_id))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "state" and events[0][1]["state"] == "queued"
    assert ("state", "running") in [(k, e.get("state")) for k, e in events]
    progress = [e for k, e in events if k == "progress"]
    steps = [e["step"] for e in progress]
    assert steps == sorted(steps) and steps[-1] == RING8_RECIPE["steps"]
    assert {"d_real", "d_fake", "losses", "flags", "metrics", "eta_s"} <= set(progress[-1])
    assert events[-1] == ("state", events[-1][1]) and events[-1][1]["state"] == "succeeded"

    job = stack.job(job_id)
    assert job["state"] == "succeeded" and job["step"] == RING8_RECIPE["steps"]
    assert job["error"] is None and job["d_real"] is not None
    name = job["name"]
    versions = sorted(int(ref.rpartition("@")[2]) for ref in job["published"])
    assert versions[-1] == RING8_RECIPE["steps"] and len(versions) >= 2
    assert job["promoted"] == f"{name}@{versions[-1]}"

    wait_for(
        lambda: set(versions) <= _versions_of(stack.client.get("/models").json(), name),
        30,
        "the versions in /models",
    )
    answer = stack.client.post(
        "/samples",
        json={"model": f"{name}@{versions[-1]}", "n": 1000, "seed": 7},
    )
    assert answer.status_code == 200, answer.text
    points = _points(answer.json())
    assert len(points) == 1000
    assert _modes_covered(points) == 8

    for picture in ("samples.png", "loss.png"):
        png = stack.client.get(f"/train-jobs/{job_id}/{picture}")
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    late = list(stack.events(job_id))  # a late reader replays the whole run, then it ends
    assert late[-1][1]["state"] == "succeeded" and len(late) == len(events)
    assert stack.client.post(f"/train-jobs/{job_id}/cancel").status_code == 409


def _versions_of(models: object, name: str, owner: str | None = None) -> set[int]:
    """Versions of model `name` anywhere in the /models answer, whatever its nesting."""
    found: set[int] = set()
    if isinstance(models, dict):
        owner = models.get("name", owner) if isinstance(models.get("name"), str) else owner
        version = models.get("version")
        if owner == name and isinstance(version, int):
            found.add(version)
        children = list(models.values())
    elif isinstance(models, list):
        children = models
    else:
        return found
    for child in children:
        found |= _versions_of(child, name, owner)
    return found


def test_cancel_a_running_job_keeps_its_checkpoints(stack: Stack) -> None:
    stack.ensure_worker()
    job_id = stack.submit(dataset="ring-8", steps=100_000, checkpoint_every=100, log_every=20)["id"]
    wait_for(lambda: stack.job(job_id)["published"], 120, "a first checkpoint")
    answer = stack.client.post(f"/train-jobs/{job_id}/cancel")
    assert answer.status_code == 202 and answer.json()["cancel_requested"] is True
    job = stack.wait_state(job_id, {"cancelled", "failed", "succeeded"}, 60)
    assert job["state"] == "cancelled" and job["step"] < 100_000
    model_dir = Path(stack.settings.model_dir) / job["name"]
    for ref in job["published"]:
        assert (model_dir / f"{int(ref.rpartition('@')[2]):08d}.safetensors").is_file()
    kinds = [(k, e.get("state")) for k, e in stack.events(job_id)]
    assert ("cancel_requested", None) in kinds and kinds[-1] == ("state", "cancelled")
