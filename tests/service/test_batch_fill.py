"""When the device starts a batch that is not full (service/batcher.py), on a real catalog,
a real device thread and a real generator: a request alone never waits; rows of requests still
being answered are waited for, and the wait ends as soon as nobody else is in the service."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sample_service_harness import metric_value

from models.latent import latent_batch
from service.batcher import Batcher, Job

LONG_FILL = 1e6  # x the forward time: the fill wait only ends when its reason does


@pytest.fixture
def batcher(make_batcher) -> tuple[Batcher, str]:
    return make_batcher(max_queue_samples=64, fill_factor=LONG_FILL)


def _job(loop: asyncio.AbstractEventLoop, ref: str, seed: int, n: int = 1) -> Job:
    return Job(ref, latent_batch(seed, 0, n, 2), loop.create_future(), loop)


async def _done_within(job: Job, seconds: float) -> bool:
    try:
        await asyncio.wait_for(asyncio.shield(job.future), seconds)
    except TimeoutError:
        return False
    return True


def _passes(b: Batcher) -> float:
    return metric_value(b.metrics, "gan_device_forward_passes_total")


def test_a_request_alone_starts_at_once(batcher: tuple[Batcher, str]) -> None:
    b, ref = batcher

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        for seed in range(3):  # a client calling in a loop, alone
            arrival = b.arrival()
            job = _job(loop, ref, seed)
            b.submit(job, arrival)
            assert await _done_within(job, 5.0)  # a fill wait would last LONG_FILL forwards
            arrival.close()

    asyncio.run(scenario())
    assert _passes(b) == 3


def test_rows_wait_for_requests_still_being_answered(batcher: tuple[Batcher, str]) -> None:
    b, ref = batcher

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        first_arrival = b.arrival()
        first = _job(loop, ref, 1)
        b.submit(first, first_arrival)
        assert await _done_within(first, 5.0)  # alone: at once; now it is being answered
        second_arrival = b.arrival()
        second = _job(loop, ref, 2)
        b.submit(second, second_arrival)
        assert not await _done_within(second, 0.3)  # `first`'s client may send again
        first_arrival.close()  # its response is out, and nobody else is in the service
        assert await _done_within(second, 5.0)
        assert _passes(b) == 2
        third_arrival = b.arrival()
        third = _job(loop, ref, 3)
        b.submit(third, third_arrival)
        assert not await _done_within(third, 0.3)  # `second` is being answered
        fourth_arrival = b.arrival()  # `second`'s client comes back...
        second_arrival.close()
        assert not await _done_within(third, 0.3)  # ...and is being parsed
        fourth = _job(loop, ref, 4)
        b.submit(fourth, fourth_arrival)  # everyone in the service is queued: one batch
        assert await _done_within(third, 5.0) and await _done_within(fourth, 5.0)
        assert _passes(b) == 3
        third_arrival.close()
        fourth_arrival.close()

    asyncio.run(scenario())


def test_a_full_batch_never_waits(batcher: tuple[Batcher, str]) -> None:
    b, ref = batcher

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        lingering = b.arrival()
        warm = _job(loop, ref, 0)
        b.submit(warm, lingering)
        assert await _done_within(warm, 5.0)  # `lingering` is now being answered
        arrival = b.arrival()
        full = _job(loop, ref, 7, n=8)
        b.submit(full, arrival)
        assert await _done_within(full, 5.0)
        np.testing.assert_equal(full.future.result().shape, (8, 2))
        arrival.close()
        lingering.close()

    asyncio.run(scenario())
    assert _passes(b) == 2
