"""The worker's progress reporter: what a record and an event carry, and the ETA."""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from service.jobs.worker import runner
from service.jobs.worker.runner import Reporter
from training.progress import ProgressReport


class FakeStore:
    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.calls: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def progress(self, job_id: str, token: str, fields: dict, event: dict) -> bool:
        self.calls.append((fields, event))
        return self.accept


def _reporter(store: FakeStore, attempts: int = 1) -> tuple[Reporter, SimpleNamespace]:
    record = SimpleNamespace(id="job1", attempts=attempts, published=["m@100"])
    beat = SimpleNamespace(lost=threading.Event())
    return Reporter(store, record, "token", beat), beat  # type: ignore[arg-type]


def _report(step: int, elapsed: float, **extra: Any) -> ProgressReport:
    values = {"losses": {"d": 0.7, "g": 1.2}, "d_real": 0.6, "d_fake": 0.4, "g_grad_norm": 2.0}
    return ProgressReport(step=step, total_steps=1000, elapsed_s=elapsed, **(values | extra))


def test_the_eta_follows_this_attempts_own_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 110.0, 130.0])
    monkeypatch.setattr(runner.time, "monotonic", lambda: next(clock))
    store = FakeStore()
    report, _ = _reporter(store)
    report(_report(200, 40.0))  # first report of the first attempt: the run's own average
    report(_report(300, 50.0))  # then the pace since this attempt's first report
    report(_report(400, 70.0))
    etas = [fields["eta_s"] for fields, _ in store.calls]
    assert etas == [160.0, 70.0, 90.0]  # 40 s/200 * 800; 10 s/100 * 700; 30 s/200 * 600


def test_a_resumed_attempt_waits_for_its_own_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 5.0])
    monkeypatch.setattr(runner.time, "monotonic", lambda: next(clock))
    store = FakeStore()
    report, _ = _reporter(store, attempts=2)
    report(_report(500, 300.0))  # elapsed includes the dead attempt: no estimate from it
    report(_report(600, 305.0))
    assert [f["eta_s"] for f, _ in store.calls] == [None, 20.0]


def test_fields_and_events_carry_finite_numbers_and_new_versions() -> None:
    store = FakeStore()
    report, beat = _reporter(store)
    report(_report(200, 40.0, published="m@200", losses={"d": math.nan, "g": 1.0},
                   d_fake=math.inf, final=True))  # fmt: skip
    fields, event = store.calls[0]
    assert fields["losses"] == {"d": None, "g": 1.0} and fields["d_fake"] is None
    assert fields["published"] == ["m@100", "m@200"]
    assert event["type"] == "progress" and event["published"] == "m@200"
    assert event["versions"] == ["m@100", "m@200"] and event["final"] is True
    assert not beat.lost.is_set()


def test_a_refused_write_means_the_lease_was_lost() -> None:
    store = FakeStore(accept=False)  # another worker holds the job now
    report, beat = _reporter(store)
    report(_report(10, 1.0))
    assert beat.lost.is_set()
