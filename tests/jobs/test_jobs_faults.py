"""Faults: a worker SIGKILLed mid-job, a failing job, Redis going away and coming back."""

from __future__ import annotations

import pytest
from conftest import Stack, wait_for

pytestmark = [pytest.mark.e2e]


@pytest.mark.slow
def test_sigkilled_worker_job_resumes_from_its_last_checkpoint(stack: Stack) -> None:
    worker = stack.ensure_worker()
    recipe = {"steps": 600, "checkpoint_every": 200, "log_every": 50}
    job_id = stack.submit(dataset="ring-8", **recipe)["id"]
    first = wait_for(lambda: (j := stack.job(job_id))["published"] and j, 180, "a first checkpoint")
    saved = max(int(ref.rpartition("@")[2]) for ref in first["published"])
    assert saved < recipe["steps"], "the job finished before it could be killed"

    worker.kill()
    # Its lease expires, a reaper puts the job back in the queue: it does not stay "running".
    requeued = stack.wait_state(job_id, {"queued"}, 60)
    assert requeued["crashes"] == 1

    stack.start_worker()
    done = stack.wait_state(job_id, {"succeeded", "failed", "cancelled"}, 240)
    assert done["state"] == "succeeded", done["error"]
    assert done["attempts"] == 2 and done["step"] == recipe["steps"]
    events = [e for kind, e in stack.events(job_id) if kind == "progress"]
    resumed = [e for e in events if e["attempt"] == 2]
    assert resumed, "no progress reported after the restart"
    assert resumed[0]["step"] >= saved > 0  # continued from its saved state, not from step 0
    versions = [int(ref.rpartition("@")[2]) for ref in done["published"]]
    assert saved in versions and versions[-1] == recipe["steps"]


def test_job_with_bad_data_fails_with_a_message(stack: Stack) -> None:
    stack.ensure_worker()
    bad = stack.data_root / "broken"
    bad.mkdir()
    for i in range(4):
        (bad / f"img{i}.png").write_bytes(b"definitely not a PNG")
    job_id = stack.submit(dataset="folder:broken", steps=50)["id"]
    job = stack.wait_state(job_id, {"succeeded", "failed", "cancelled"}, 120)
    assert job["state"] == "failed"
    assert job["error"] and "Traceback" not in job["error"]
    # Nothing else is affected: the next job runs.
    other = stack.submit(dataset="ring-8", steps=100, checkpoint_every=50, log_every=50)["id"]
    assert stack.wait_state(other, {"succeeded", "failed"}, 120)["state"] == "succeeded"


def test_redis_down_jobs_503_samples_200_then_recovers(stack: Stack) -> None:
    stack.ensure_worker()
    job_id = stack.submit(dataset="ring-8", steps=200, checkpoint_every=100, log_every=50)["id"]
    done = stack.wait_state(job_id, {"succeeded", "failed"}, 120)
    assert done["state"] == "succeeded", done["error"]
    sample = {"model": f"{done['name']}@200", "n": 4, "seed": 3}
    wait_for(
        lambda: stack.client.post("/samples", json=sample).status_code == 200,
        30,
        "the model to be served",
    )

    stack.redis.kill()  # a crash: SIGKILL, no final save
    for method, path in [("GET", "/train-jobs"), ("GET", f"/train-jobs/{job_id}"),
                         ("GET", f"/train-jobs/{job_id}/events"),
                         ("POST", f"/train-jobs/{job_id}/cancel")]:  # fmt: skip
        answer = stack.client.request(method, path)
        assert answer.status_code == 503, (path, answer.text)
        assert "cannot reach Redis" in answer.json()["detail"]
    refused = stack.client.post("/train-jobs", json={"dataset": "ring-8", "steps": 10})
    assert refused.status_code == 503
    assert stack.client.post("/samples", json=sample).status_code == 200

    stack.redis.start()  # same port, same AOF: every record is back
    back = wait_for(
        lambda: (a := stack.client.get(f"/train-jobs/{job_id}")).status_code == 200 and a.json(),
        30,
        "the jobs API to recover",
    )
    assert back == done
    again = stack.submit(dataset="ring-8", steps=100, checkpoint_every=50, log_every=50)["id"]
    assert stack.wait_state(again, {"succeeded", "failed"}, 180)["state"] == "succeeded"
