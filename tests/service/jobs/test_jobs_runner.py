"""How a job's end is recorded (service/jobs/worker/runner.py): each way training can end,
mapped onto the record by the real runner against a real redis-server. The training loop is
replaced by a stand-in that ends the chosen way; claim, heartbeat, cancel and drain are real."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import RedisProcess

import training.loop
from service.jobs.store.job_store import JobStore
from service.jobs.store.records import JobState
from service.jobs.worker.runner import run_job
from service.settings import Settings
from training.config import TrainConfig
from training.errors import DatasetError
from training.loop import TrainResult
from training.presets import resolve_config

WORKER = "runner-test@host"
_ids = itertools.count()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = RedisProcess(Path(tmp_path_factory.mktemp("runner")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(redis_server: RedisProcess, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_server.url, model_dir=tmp_path / "models", data_root=tmp_path / "data",
        job_lease_s=0.6, max_job_memory_mb=1_000_000, device="cpu",
    )  # fmt: skip


def _queued(store: JobStore, auto_promote: bool = False) -> str:
    job_id = f"job{next(_ids)}"
    config, _arch = resolve_config(
        TrainConfig(dataset="ring-8", name=f"m-{job_id}", steps=100, device="cpu")
    )  # complete, as submit stores it
    record = {"name": config.name, "dataset": "ring-8", "total_steps": 100, "step": 0,
              "config": config.model_dump(mode="json"), "auto_promote": auto_promote}  # fmt: skip
    assert store.create(job_id, record, max_queued=100) == "ok"
    return job_id


def _run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, job_id: str, ending: Callable[..., Any]
) -> tuple[str, list[str]]:
    """run_job with `ending(**train's keyword arguments)` as the training loop."""
    monkeypatch.setattr(training.loop, "train", lambda config, model_dir, **kw: ending(**kw))
    enqueued: list[str] = []
    outcome = run_job(settings, JobStore(settings.redis_url), job_id, worker=WORKER,
                      enqueue=enqueued.append)  # fmt: skip
    return outcome, enqueued


def _wait_until(should_stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not should_stop():
        assert time.monotonic() < deadline, "the heartbeat never asked the loop to stop"
        time.sleep(0.05)


def test_a_finished_run_succeeds_with_its_versions(settings, monkeypatch) -> None:
    store = JobStore(settings.redis_url)
    job_id = _queued(store, auto_promote=True)
    ran = TrainResult(name="m", steps_done=100, stopped=False, published=["m@50", "m@100"])
    outcome, enqueued = _run(settings, monkeypatch, job_id, lambda **kw: ran)
    record = store.get(job_id)
    assert outcome == "succeeded" and enqueued == []
    assert record.state is JobState.succeeded and record.step == 100
    assert record.published == ["m@50", "m@100"]
    # auto_promote on a version the model directory does not hold: kept as succeeded, told.
    assert record.error.startswith("trained, but m@100 was not promoted")


def test_a_data_error_fails_with_its_message_without_host_paths(settings, monkeypatch) -> None:
    store = JobStore(settings.redis_url)
    job_id = _queued(store)
    folder = Path(settings.data_root) / "faces"

    def refuse(**kw: Any) -> None:
        raise DatasetError(f"{folder}/a.png: not an image")

    assert _run(settings, monkeypatch, job_id, refuse)[0] == "failed"
    record = store.get(job_id)
    assert record.state is JobState.failed and record.error == "faces/a.png: not an image"


@pytest.mark.parametrize(
    ("error", "words"),
    [(MemoryError(), "out of memory: "), (RuntimeError("CUDA out of memory."), "out of memory: "),
     (ValueError("bad shape"), "training crashed: ValueError: bad shape")],
)  # fmt: skip
def test_other_errors_fail_with_what_a_user_can_act_on(
    settings, monkeypatch, error: Exception, words: str
) -> None:
    store = JobStore(settings.redis_url)
    job_id = _queued(store)

    def crash(**kw: Any) -> None:
        raise error

    assert _run(settings, monkeypatch, job_id, crash)[0] == "failed"
    record = store.get(job_id)
    assert record.state is JobState.failed and record.error.startswith(words), record.error
    if "memory" in words:
        assert "GAN_MAX_JOB_MEMORY_MB is 1000000" in record.error


def test_a_cancel_stops_the_run_and_keeps_its_versions(settings, monkeypatch) -> None:
    store = JobStore(settings.redis_url)
    job_id = _queued(store)

    def cancelled(should_stop: Callable[[], bool], **kw: Any) -> TrainResult:
        assert store.cancel(job_id) == "requested"
        _wait_until(should_stop)
        return TrainResult(name="m", steps_done=40, stopped=True, published=["m@20"])

    outcome, enqueued = _run(settings, monkeypatch, job_id, cancelled)
    record = store.get(job_id)
    assert outcome == "cancelled" and enqueued == []
    assert record.state is JobState.cancelled and record.published == ["m@20"]


def test_a_draining_worker_gives_the_job_back_to_the_queue(settings, monkeypatch) -> None:
    store = JobStore(settings.redis_url)
    job_id = _queued(store)

    def drained(should_stop: Callable[[], bool], **kw: Any) -> TrainResult:
        store.set_drain(WORKER, ttl_s=30)
        _wait_until(should_stop)
        return TrainResult(name="m", steps_done=30, stopped=True)

    try:
        outcome, enqueued = _run(settings, monkeypatch, job_id, drained)
    finally:
        store.clear_drain(WORKER)
    record = store.get(job_id)
    assert outcome == "requeued" and enqueued == [job_id]  # its message is sent again
    assert record.state is JobState.queued


def test_a_job_owned_by_another_worker_is_not_run(settings, monkeypatch) -> None:
    store = JobStore(settings.redis_url)
    job_id = _queued(store)
    assert store.claim(job_id, "other-token", 30.0, "other@host") == "ok"

    def never(**kw: Any) -> None:
        raise AssertionError("a job claimed by another worker was trained")

    assert _run(settings, monkeypatch, job_id, never) == ("busy", [])
