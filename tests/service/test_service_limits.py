"""Admission and deadlines over real HTTP: a full queue answers 429 with Retry-After (never
5xx), a request past its deadline 504, a client that hangs up has its pending samples dropped,
and a large n is split over device batches without changing a byte.

The model here is a freshly initialised 3 x 32 x 32 DCGAN (published with save_generator):
these tests need a generator slow enough to back the queue up, not a trained one."""

from __future__ import annotations

import asyncio
import io

import httpx
import numpy as np
import pytest
import torch
from sample_service_harness import ServiceProcess, wait_for

from models.checkpoint import save_generator
from models.config import DCGANConfig
from models.factory import build_generator

pytestmark = [pytest.mark.e2e]

MODEL = "slow@1"


@pytest.fixture(scope="module")
def svc(tmp_path_factory, make_service) -> ServiceProcess:
    store = tmp_path_factory.mktemp("limits") / "models"
    torch.manual_seed(0)
    arch = DCGANConfig(image_size=32, channels=3, z_dim=64, g_width=32, d_width=8)
    save_generator(store, "slow", build_generator(arch), arch, step=1, dataset="none",
                   loss="non-saturating")  # fmt: skip
    service = make_service(
        store, max_batch_size=16, max_queue_samples=256, max_samples_per_request=20000,
        request_timeout_s=3, max_batch_wait_ms=2,
        inference_dtype="float32",  # bfloat16 would run 20,000 samples within the deadline
    )  # fmt: skip
    service.wait_ready()
    return service


def test_overload_answers_429_with_retry_after_and_never_5xx(svc: ServiceProcess) -> None:
    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=svc.url, timeout=60) as client:
            body = {"model": MODEL, "n": 64, "seed": 1, "format": "npy"}
            return await asyncio.gather(*(client.post("/samples", json=body) for _ in range(40)))

    answers = asyncio.run(flood())
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(429) >= 1 and statuses.count(200) >= 1, statuses
    for answer in answers:
        if answer.status_code == 429:
            assert int(answer.headers["retry-after"]) >= 1
            detail = answer.json()["detail"]
            assert "GAN_MAX_QUEUE_WAIT_S" in detail or "GAN_MAX_QUEUE_SAMPLES" in detail
    assert svc.metric("gan_requests_rejected_total", reason="queue_full") >= 1
    assert svc.metric("gan_http_requests_total", route="/samples", status="429") >= 1


def test_large_n_is_split_over_batches_without_changing_a_byte(svc: ServiceProcess) -> None:
    passes = svc.metric("gan_device_forward_passes_total")
    big = svc.client.post("/samples", json={"model": MODEL, "n": 100, "seed": 5, "format": "npy"})
    assert big.status_code == 200
    assert svc.metric("gan_device_forward_passes_total") - passes >= 7  # 100 rows, 16 a batch
    images = np.load(io.BytesIO(big.content))
    assert images.shape == (100, 32, 32, 3)
    for offset, n in ((0, 1), (15, 2), (47, 17), (99, 1)):
        part = svc.client.post("/samples", json={"model": MODEL, "n": n, "seed": 5,
                                                 "offset": offset, "format": "npy"})  # fmt: skip
        assert np.array_equal(np.load(io.BytesIO(part.content)), images[offset : offset + n])


def test_request_past_its_deadline_is_504_and_its_samples_are_dropped(svc: ServiceProcess) -> None:
    dropped = svc.metric("gan_samples_dropped_total")
    generated = svc.metric("gan_samples_generated_total")
    answer = svc.client.post("/samples", json={"model": MODEL, "n": 20000, "seed": 2})
    assert answer.status_code == 504
    assert "GAN_REQUEST_TIMEOUT_S" in answer.json()["detail"]
    assert svc.metric("gan_samples_dropped_total") > dropped
    wait_for(lambda: svc.metric("gan_queue_samples") == 0, 10, "the queue to empty")
    assert svc.metric("gan_samples_generated_total") - generated < 20000
    assert svc.client.post("/samples", json={"model": MODEL}).status_code == 200


def test_client_that_hangs_up_has_its_pending_samples_dropped(svc: ServiceProcess) -> None:
    dropped = svc.metric("gan_samples_dropped_total")
    generated = svc.metric("gan_samples_generated_total")
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes the connection
        httpx.post(f"{svc.url}/samples", json={"model": MODEL, "n": 20000, "seed": 3},
                   timeout=httpx.Timeout(10, read=0.8))  # fmt: skip
    wait_for(lambda: svc.metric("gan_samples_dropped_total") > dropped, 5, "dropped samples")
    wait_for(lambda: svc.metric("gan_queue_samples") == 0, 10, "the queue to empty")
    assert svc.metric("gan_samples_generated_total") - generated < 20000
    assert svc.metric("gan_requests_rejected_total", reason="client_gone") >= 1
    assert svc.client.post("/samples", json={"model": MODEL}).status_code == 200
