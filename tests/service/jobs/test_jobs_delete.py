"""DELETE /train-jobs/{id} against real Redis and uvicorn: a queued or running job is kept
(409), an ended one loses its record, its events and its name, nothing else."""

from __future__ import annotations

import httpx
import pytest
from conftest import Stack

pytestmark = [pytest.mark.e2e]


def test_an_ended_job_is_forgotten_and_an_active_one_is_kept(stack: Stack) -> None:
    queued = stack.submit(dataset="ring-8", steps=10, name="to-forget")  # no worker: it waits
    kept = stack.submit(dataset="ring-8", steps=10)
    busy = stack.client.delete(f"/train-jobs/{queued['id']}")
    assert busy.status_code == 409
    assert "is queued" in busy.json()["detail"] and "/cancel" in busy.json()["detail"]

    assert stack.client.post(f"/train-jobs/{queued['id']}/cancel").status_code == 202
    gone = stack.client.delete(f"/train-jobs/{queued['id']}")
    assert gone.status_code == 204 and gone.content == b""
    assert stack.client.get(f"/train-jobs/{queued['id']}").status_code == 404
    listed = [j["id"] for j in stack.client.get("/train-jobs").json()["jobs"]]
    assert queued["id"] not in listed and kept["id"] in listed

    r = stack.redis_client()
    assert not r.exists(f"gan:job:{queued['id']}", f"gan:job:{queued['id']}:events")
    assert r.zscore("gan:jobs:state:cancelled", queued["id"]) is None
    assert r.hget("gan:jobs:names", "to-forget") is None  # the name is free again
    assert stack.submit(dataset="ring-8", steps=10, name="to-forget")["name"] == "to-forget"

    again = stack.client.delete(f"/train-jobs/{queued['id']}")
    assert again.status_code == 404 and queued["id"] in again.json()["detail"]
    assert stack.client.delete("/train-jobs/" + "f" * 65).status_code == 404


def test_deleting_a_job_needs_the_api_key(stack: Stack) -> None:
    job = stack.submit(dataset="ring-8", steps=10)
    answer = httpx.delete(f"{stack.api.url}/train-jobs/{job['id']}")
    assert answer.status_code == 401
    assert stack.job(job["id"])["state"] == "queued"
