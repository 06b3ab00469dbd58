"""The heartbeat: what each answer of the store means for the training loop."""

from __future__ import annotations

import time

from service.errors import JobStoreUnavailable
from service.jobs.worker.lease import Heartbeat


class FakeStore:
    def __init__(self, answers: list[int | Exception], draining: bool = False) -> None:
        self.answers = answers
        self.is_draining = draining
        self.beats: list[float] = []

    def heartbeat(self, job_id: str, token: str, lease_s: float) -> int:
        self.beats.append(lease_s)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def draining(self, worker: str) -> bool:
        return self.is_draining


def _beat(store: FakeStore, lease_s: float = 30.0) -> Heartbeat:
    return Heartbeat(store, "job1", "token", lease_s, "worker@host")  # type: ignore[arg-type]


def test_each_answer_sets_its_flag() -> None:
    renewed = _beat(FakeStore([0]))
    renewed.beat()
    assert not renewed.should_stop()
    cancelled = _beat(FakeStore([1]))
    cancelled.beat()
    assert cancelled.cancel_requested.is_set() and cancelled.should_stop()
    lost = _beat(FakeStore([-1]))
    lost.beat()
    assert lost.lost.is_set() and lost.should_stop()
    draining = _beat(FakeStore([0], draining=True))
    draining.beat()
    assert draining.draining.is_set() and draining.should_stop()


def test_the_interval_is_a_third_of_the_lease_between_100_ms_and_1_s() -> None:
    assert _beat(FakeStore([0]), lease_s=30).interval == 1.0
    assert _beat(FakeStore([0]), lease_s=0.9).interval == 0.3
    assert _beat(FakeStore([0]), lease_s=0.1).interval == 0.1


def test_a_redis_outage_does_not_stop_the_beats_and_a_lost_lease_does() -> None:
    store = FakeStore([JobStoreUnavailable("redis down"), 0, 0, -1])
    beat = _beat(store, lease_s=0.3)  # a beat every 100 ms
    beat.start()
    deadline = time.monotonic() + 5
    while not beat.lost.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert beat.lost.is_set() and len(store.beats) == 4  # kept beating through the outage
    time.sleep(0.3)
    assert len(store.beats) == 4  # and stopped once the job belonged to another worker
    beat.stop()
