"""Faults: a worker SIGKILLed mid-job, a failing job, Redis going away and coming back."""

from __future__ import annotations

import time
from pathlib import Path

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


def test_data_that_changes_after_submit_fails_the_job_with_a_message(stack: Stack) -> None:
    """The dataset is checked at submit; if it changes before the job runs, the job fails
    with a message (no traceback) and the worker goes on to the next job."""
    import numpy as np

    if stack.worker is not None:
        stack.worker.stop()
    array = stack.data_root / "changing.npy"
    np.save(array, np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32))
    job_id = stack.submit(dataset="npz:changing.npy", steps=50)["id"]
    np.save(array, np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32))
    stack.start_worker()
    job = stack.wait_state(job_id, {"succeeded", "failed", "cancelled"}, 120)
    assert job["state"] == "failed"
    assert "submit the job again" in job["error"] and "Traceback" not in job["error"]
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
        assert answer.headers["retry-after"].isdigit()
        detail = answer.json()["detail"]
        assert "Redis cannot be reached" in detail
        assert str(stack.redis.port) not in detail and "127.0.0.1" not in detail
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


@pytest.mark.slow
def test_redis_outage_while_a_job_trains_does_not_rerun_it(stack: Stack) -> None:
    """Redis is SIGKILLed while a job trains and comes back (same AOF) after the job finished
    training and after its lease expired: the worker records the end, nothing runs again."""
    stack.ensure_worker()
    recipe = {"steps": 1200, "checkpoint_every": 200, "log_every": 50}
    job_id = stack.submit(dataset="ring-8", **recipe)["id"]
    running = wait_for(lambda: (j := stack.job(job_id))["step"] >= 50 and j, 180, "training")
    assert running["state"] == "running" and running["step"] < recipe["steps"]
    final = Path(stack.settings.model_dir) / running["name"] / f"{recipe['steps']:08d}.json"

    stack.redis.kill()
    down_at = time.monotonic()
    wait_for(final.is_file, 300, "the job to finish training while Redis is down", interval=0.5)
    # Stay down past the lease (job_lease_s), so every lease has expired when Redis returns.
    time.sleep(max(0.0, stack.settings.job_lease_s + 2 - (time.monotonic() - down_at)))
    stack.redis.start()

    done = stack.wait_state(job_id, {"succeeded", "failed", "cancelled"}, 120)
    assert done["state"] == "succeeded", done["error"]
    assert done["attempts"] == 1 and done["crashes"] == 0 and done["step"] == recipe["steps"]
    assert f"{done['name']}@{recipe['steps']}" in done["published"]
    # Reapers run every second: give them several rounds to (wrongly) re-queue it.
    time.sleep(3 * stack.settings.job_lease_s)
    again = stack.job(job_id)
    assert again["state"] == "succeeded" and again["attempts"] == 1
    assert stack.queue_length() == 0


@pytest.mark.slow
def test_a_job_out_of_memory_fails_cleanly_and_the_worker_lives_on(stack: Stack) -> None:
    """A recipe within the API's budget but over this worker's memory cap: the allocation
    fails inside the job (not the kernel's OOM killer), the job fails with a clear error, and
    the same worker process runs the next job."""
    if stack.worker is not None:
        stack.worker.stop()
    worker = stack.start_worker(GAN_MAX_JOB_MEMORY_MB="16")
    big = {"dataset": "digits", "image_size": 64, "batch_size": 1024, "steps": 5,
           "arch_config": {"g_width": 64, "d_width": 64, "extra_layers": 0}}  # fmt: skip
    job_id = stack.submit(**big)["id"]
    failed = stack.wait_state(job_id, {"succeeded", "failed", "cancelled"}, 300)
    assert failed["state"] == "failed"
    assert "out of memory" in failed["error"] and "batch_size" in failed["error"]
    assert "Traceback" not in failed["error"]
    assert worker.process.poll() is None  # the worker itself is alive

    small = stack.submit(dataset="ring-8", steps=50, checkpoint_every=50, log_every=25)["id"]
    assert stack.wait_state(small, {"succeeded", "failed"}, 180)["state"] == "succeeded"
    assert worker.process.poll() is None
    worker.stop()
    stack.worker = None
