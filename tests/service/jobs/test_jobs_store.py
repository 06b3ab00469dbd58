"""The job record's state machine, against a real redis-server (no worker, no training)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RedisProcess

from service.jobs.store.job_store import JobStore, events_key
from service.jobs.store.records import JobState


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobStore]:
    server = RedisProcess(Path(tmp_path_factory.mktemp("store")))
    server.start()
    try:
        yield JobStore(server.url)
    finally:
        server.stop()


def _create(store: JobStore, job_id: str, name: str | None = None, max_queued: int = 100) -> str:
    record = {"name": name or f"m-{job_id}", "dataset": "ring-8", "config": {}, "total_steps": 10}
    return store.create(job_id, record, max_queued=max_queued)


def test_one_owner_at_a_time_and_only_the_owner_writes(store: JobStore) -> None:
    assert _create(store, "a") == "ok"
    assert _create(store, "a2", name="m-a") == "name"  # the model name belongs to job a
    assert store.claim("a", "t1", 5.0, "w1") == "ok"
    assert store.claim("a", "t2", 5.0, "w2") == "busy"  # a redelivered message is skipped
    assert store.heartbeat("a", "t1", 5.0) == 0
    assert store.heartbeat("a", "t2", 5.0) == -1
    assert not store.progress("a", "t2", {"step": 9}, {"type": "progress"})
    assert store.progress("a", "t1", {"step": 3}, {"type": "progress", "step": 3})
    assert not store.finish("a", "t2", JobState.succeeded)
    assert store.finish("a", "t1", JobState.succeeded, step=10)
    job = store.get("a")
    assert job is not None and job.state == "succeeded" and job.step == 10 and job.attempts == 1
    assert store.claim("a", "t3", 5.0, "w1") == "terminal"
    kinds = [e["data"] for _, e in store.redis.xrange(events_key("a"))]
    assert '"state":"queued"' in kinds[0] and '"state":"succeeded"' in kinds[-1]


def _reap_after_grace(store: JobStore, grace_s: float, max_crashes: int = 2) -> list[str]:
    """A reaper's two rounds: the first notes the missing lease, the second acts on it."""
    assert store.reap(max_crashes, grace_s) == []
    time.sleep(grace_s + 0.05)
    return store.reap(max_crashes, grace_s)


def test_expired_lease_requeues_then_fails_after_too_many_crashes(store: JobStore) -> None:
    assert _create(store, "b") == "ok"
    for crash in (1, 2):
        assert store.claim("b", f"t{crash}", 0.2, "w") == "ok"
        time.sleep(0.4)  # the worker died: nobody renews the lease
        assert _reap_after_grace(store, 0.2) == ["b"]
        job = store.get("b")
        assert job is not None and job.state == "queued" and job.crashes == crash
        assert store.heartbeat("b", f"t{crash}", 0.2) == -1  # a late heartbeat cannot revive it
    assert store.claim("b", "t3", 0.2, "w") == "ok"
    time.sleep(0.4)
    assert _reap_after_grace(store, 0.2) == []
    job = store.get("b")
    assert job is not None and job.state == "failed" and "died 3 times" in (job.error or "")


def test_a_lease_renewed_within_the_grace_period_is_not_reaped(store: JobStore) -> None:
    """After a Redis restart every lease may be gone; a live worker renews its lease within
    a heartbeat, and the reaper, which first only noted the missing lease, leaves it alone."""
    assert _create(store, "g") == "ok"
    assert store.claim("g", "tg", 5.0, "w") == "ok"
    store.redis.delete("gan:job:g:lease")  # what a restart after the lease's expiry looks like
    assert store.reap(2, 0.3) == []  # noted, not acted on
    assert store.heartbeat("g", "tg", 5.0) == 0  # the worker is alive
    time.sleep(0.4)
    assert store.reap(2, 0.3) == []
    job = store.get("g")
    assert job is not None and job.state == "running" and job.crashes == 0
    assert store.finish("g", "tg", JobState.succeeded)


def test_a_reaped_job_finished_by_its_owner_before_anyone_claims_it_is_not_rerun(
    store: JobStore,
) -> None:
    assert _create(store, "h") == "ok"
    assert store.claim("h", "th", 0.1, "w") == "ok"
    time.sleep(0.2)
    assert _reap_after_grace(store, 0.1) == ["h"]  # the worker could not renew in time
    assert store.finish("h", "th", JobState.succeeded, step=10)  # but it finished training
    assert store.claim("h", "t-next", 5.0, "w2") == "terminal"  # the re-queued message is dropped
    job = store.get("h")
    assert job is not None and job.state == "succeeded" and job.step == 10
    # Once another worker has claimed a reaped job, the old owner can no longer finish it.
    assert _create(store, "i") == "ok"
    assert store.claim("i", "ti", 0.1, "w") == "ok"
    time.sleep(0.2)
    assert _reap_after_grace(store, 0.1) == ["i"]
    assert store.claim("i", "ti2", 5.0, "w2") == "ok"
    assert not store.finish("i", "ti", JobState.succeeded)


def test_cancel_queued_and_running(store: JobStore) -> None:
    assert _create(store, "c") == "ok" and _create(store, "d") == "ok"
    assert store.cancel("c") == "cancelled"
    assert store.claim("c", "t", 5.0, "w") == "terminal"  # its message is skipped
    assert store.claim("d", "t", 5.0, "w") == "ok"
    assert store.cancel("d") == "requested"
    assert store.heartbeat("d", "t", 5.0) == 1  # the worker learns it at its next heartbeat
    assert store.finish("d", "t", JobState.cancelled)
    assert store.cancel("d") == "cancelled" and store.cancel("nope") == "missing"


def test_queue_cap_and_listing(store: JobStore) -> None:
    queued = store.count(JobState.queued)
    assert _create(store, "e", max_queued=queued + 1) == "ok"
    assert _create(store, "f", max_queued=queued + 1) == "full"
    assert store.get("f") is None
    jobs, total = store.list(None, 2, 0)
    assert total == store.count() and [j.id for j in jobs][0] == "e"  # newest first
    assert all(j.state == "queued" for j in store.list(JobState.queued, 50, 0)[0])
