"""What the device thread (service/batcher.py) puts together: requests queued while the device
is busy go out in full batches of one version each, every row exactly what it is alone."""

from __future__ import annotations

import asyncio
import math
import random
import threading
from pathlib import Path

import numpy as np
from sample_service_harness import TINY_Z_DIM, metric_value, publish_tiny

from models.latent import latent_batch
from service.batcher import Batcher, Job

MAX_BATCH = 8  # make_batcher's device batch


def _job(loop: asyncio.AbstractEventLoop, ref: str, seed: int, offset: int, n: int) -> Job:
    return Job(ref, latent_batch(seed, offset, n, TINY_Z_DIM), loop.create_future(), loop)


def _alone(b: Batcher, ref: str, seed: int, offset: int) -> np.ndarray:
    async def run() -> np.ndarray:
        job = _job(asyncio.get_running_loop(), ref, seed, offset, 1)
        b.submit(job)
        return await job.future

    return asyncio.run(run())[0]


def _batches(b: Batcher) -> tuple[int, int, int]:
    """(device batches, rows, batches of more than half the maximum) as a scraper reads them."""
    count = metric_value(b.metrics, "gan_device_batch_samples_count")
    rows = metric_value(b.metrics, "gan_device_batch_samples_sum")
    up_to_half = metric_value(b.metrics, "gan_device_batch_samples_bucket", le=str(MAX_BATCH / 2))
    return int(count), int(rows), int(count - up_to_half)


def test_requests_queued_together_go_out_in_full_batches_of_one_version(
    make_batcher, tmp_path: Path
) -> None:
    publish_tiny(tmp_path, "other", 1)  # beside make_batcher's tiny@1, in its model directory
    b, tiny = make_batcher(max_queue_samples=10_000)
    refs = [tiny, "other@1"]
    rng = random.Random(0)
    plan = [(rng.choice(refs), rng.choice([5, 6]), rng.randint(0, 9), rng.randint(1, 12))
            for _ in range(50)]  # fmt: skip
    needed = {(ref, seed, offset + i) for ref, seed, offset, n in plan for i in range(n)}
    reference = {key: _alone(b, *key) for key in sorted(needed)}
    before = _batches(b)
    passes_before = metric_value(b.metrics, "gan_device_forward_passes_total")

    device_held, release = threading.Event(), threading.Event()
    b.call(lambda: (device_held.set(), release.wait(30)))  # the device busy with other work
    assert device_held.wait(30)

    async def burst() -> list[np.ndarray]:
        loop = asyncio.get_running_loop()
        jobs = [_job(loop, *request) for request in plan]
        for job in jobs:
            b.submit(job)
        release.set()
        return await asyncio.gather(*(job.future for job in jobs))

    answers = asyncio.run(burst())
    for (ref, seed, offset, n), got in zip(plan, answers, strict=True):
        assert got.shape == (n, 2)
        for i in range(n):
            assert np.array_equal(got[i], reference[(ref, seed, offset + i)]), (ref, seed, i)

    rows = {ref: sum(n for r, _, _, n in plan if r == ref) for ref in refs}
    count, total, over_half = (now - then for now, then in zip(_batches(b), before, strict=True))
    passes = metric_value(b.metrics, "gan_device_forward_passes_total") - passes_before
    # Each version's queued rows fill batches of MAX_BATCH; only its last batch is partial.
    assert passes == count == sum(math.ceil(r / MAX_BATCH) for r in rows.values())
    assert total == sum(rows.values())
    assert over_half == sum(r // MAX_BATCH + (r % MAX_BATCH > MAX_BATCH / 2) for r in rows.values())
