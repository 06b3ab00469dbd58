"""Admission by predicted wait (service/batcher.py) on a real catalog, device cache, device
thread and generator: samples count from admission until their response is sent, a request
is refused once the samples ahead of it and its own exceed the wait bound at the measured
cost per sample, with a Retry-After from the same prediction, and an empty service admits
anything."""

from __future__ import annotations

import asyncio
import math

import pytest

from models.latent import latent_batch
from service.batcher import Batcher, Job
from service.errors import QueueFull

WAIT_S = 0.05


@pytest.fixture
def batcher(make_batcher) -> tuple[Batcher, str]:
    return make_batcher(max_queue_samples=10_000, max_wait_s_admit=WAIT_S)


def _job(loop: asyncio.AbstractEventLoop, ref: str, n: int) -> Job:
    return Job(ref, latent_batch(1, 0, n, 2), loop.create_future(), loop)


def test_samples_count_from_admission_until_the_response_is_sent(
    batcher: tuple[Batcher, str],
) -> None:
    b, ref = batcher

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        arrival = b.arrival()
        b.admit(arrival, 4)
        assert b.samples_in_service == 4  # admitted: counted before it is even queued
        job = _job(loop, ref, 4)
        b.submit(job, arrival)  # already admitted: not counted twice
        assert b.samples_in_service == 4
        await job.future
        assert b.samples_in_service == 4  # done on the device, still being answered
        arrival.close()
        assert b.samples_in_service == 0
        arrival.close()  # twice does nothing
        assert b.samples_in_service == 0

    asyncio.run(scenario())


def test_an_empty_service_admits_any_size(batcher: tuple[Batcher, str]) -> None:
    b, _ = batcher
    huge = b.arrival()
    b.admit(huge, 1_000_000)  # far over the bound, but nothing is ahead of it
    assert b.samples_in_service == 1_000_000
    huge.close()


def test_refused_when_the_predicted_wait_exceeds_the_bound(batcher: tuple[Batcher, str]) -> None:
    b, ref = batcher

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        # Measure the cost per sample the way the service does: requests answered while the
        # service is loaded (four requests of a batch each in it at a time).
        assert not b.cost_measured
        b.max_wait_s_admit = math.inf  # admit everything while measuring
        for _ in range(100):
            arrivals = [b.arrival() for _ in range(4)]
            jobs = [_job(loop, ref, 8) for _ in arrivals]
            for job, arrival in zip(jobs, arrivals, strict=True):
                b.submit(job, arrival)
            await asyncio.gather(*(job.future for job in jobs))
            await asyncio.sleep(0.005)  # "encoding and sending" the answers
            for arrival in arrivals:
                arrival.close()
        assert b.cost_measured
        b.max_wait_s_admit = WAIT_S
        cost = b.cost_per_sample_s()
        assert 0 < cost < 1
        fits = max(1, int(WAIT_S / cost) - 1)  # samples whose predicted wait fits the bound
        first = b.arrival()
        b.admit(first, fits)
        second = b.arrival()
        over = fits + int(WAIT_S / cost) + 2
        predicted = b.predicted_wait_s(over)
        assert predicted > WAIT_S
        with pytest.raises(QueueFull) as refused:
            b.admit(second, over)
        assert "GAN_MAX_QUEUE_WAIT_S" in str(refused.value)
        retry = int(refused.value.headers()["Retry-After"])
        assert retry == max(1, math.ceil(predicted - WAIT_S))
        assert b.samples_in_service == fits  # the refused request left nothing behind
        first.close()
        b.admit(second, 1)  # room again
        second.close()

    asyncio.run(scenario())
