"""The registry over real HTTP: start with no model, pick up checkpoints as training publishes
them (under load, dropping nothing), refuse corrupt ones while the previous version serves,
keep at most K generators on the device, and agree byte for byte with other replicas."""

from __future__ import annotations

import io
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sample_service_harness import ServiceProcess, checkpoint_files, publish, wait_for

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("reload") / "models"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def svc(store: Path, make_service) -> ServiceProcess:
    service = make_service(
        store, reload_interval_s=0.3, max_models_on_device=2, max_batch_size=8,
        max_batch_wait_ms=5,
    )  # fmt: skip
    service.wait_ready(status=503)  # up, but nothing to serve yet
    return service


def served_by(svc: ServiceProcess, model: str = "digits") -> str:
    answer = svc.client.post("/samples", json={"model": model, "seed": 1})
    assert answer.status_code == 200, answer.text
    return answer.headers["x-model-version"]


def versions(svc: ServiceProcess, name: str) -> dict[int, dict]:
    for model in svc.client.get("/models").json()["models"]:
        if model["name"] == name:
            return {v["version"]: v for v in model["versions"]}
    return {}


def test_starts_without_a_model_then_serves_the_first_one_published(
    svc: ServiceProcess, store: Path, trained_store: Path
) -> None:
    assert svc.client.get("/healthz").status_code == 200
    ready = svc.client.get("/readyz")
    assert ready.status_code == 503 and "no model" in ready.json()["reason"]
    empty = svc.client.post("/samples", json={"n": 1})
    assert empty.status_code == 503
    assert "no model has been published yet" in empty.json()["detail"]

    publish(trained_store, "digits@15", store)
    svc.wait_ready(timeout=30)
    assert served_by(svc) == "digits@15"
    assert served_by(svc, "digits@15") == "digits@15"


def test_new_checkpoint_under_load_drops_nothing(
    svc: ServiceProcess, store: Path, trained_store: Path
) -> None:
    statuses: Counter[int] = Counter()
    served: Counter[str] = Counter()
    stop = threading.Event()

    def client(worker: int) -> None:
        seed = worker * 1000
        while not stop.is_set():
            seed += 1
            answer = svc.client.post(
                "/samples", json={"model": "digits", "n": 1 + seed % 6, "seed": seed}
            )
            statuses[answer.status_code] += 1
            if answer.status_code == 200:
                served[answer.headers["x-model-version"]] += 1

    threads = [threading.Thread(target=client, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: served["digits@15"] >= 20, 60, "load on digits@15")
        publish(trained_store, "digits@30", store)  # what training publishes next
        wait_for(lambda: served["digits@30"] >= 20, 60, "the new version to be served")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert set(statuses) == {200}, statuses
    assert served["digits@15"] >= 20 and served["digits@30"] >= 20
    assert served_by(svc) == "digits@30"
    assert versions(svc, "digits")[30]["default"]


def test_corrupt_checkpoints_are_refused_while_the_previous_one_serves(
    svc: ServiceProcess, store: Path, trained_store: Path
) -> None:
    refusals_before = svc.metric("gan_model_refusals_total", model="digits")
    _, weights_path = checkpoint_files(trained_store, "digits@30")
    weights = bytearray(weights_path.read_bytes())
    tampered = bytes(weights[:-64]) + bytes(b ^ 0x5A for b in weights[-64:])
    publish(trained_store, "digits@30", store, as_version=45, weights=tampered)
    publish(trained_store, "digits@30", store, as_version=50, weights=bytes(weights[:1000]))
    garbage_meta, _ = checkpoint_files(store, "digits@55")
    garbage_meta.write_text('{"format": "gan-generator/1", "name": "digits", "vers')

    def all_refused() -> bool:
        found = versions(svc, "digits")
        return all(found.get(v, {}).get("status") == "refused" for v in (45, 50, 55))

    wait_for(all_refused, 30, "the corrupt checkpoints to be listed as refused")
    found = versions(svc, "digits")
    assert "sha256" in found[45]["refused_reason"] and "tampered" in found[45]["refused_reason"]
    assert "sha256" in found[50]["refused_reason"]
    assert "JSON" in found[55]["refused_reason"]
    assert found[30]["default"] and found[30]["status"] == "ready"
    assert served_by(svc) == "digits@30"  # the newest usable version keeps serving
    pinned = svc.client.post("/samples", json={"model": "digits@45"})
    assert pinned.status_code == 409 and "sha256" in pinned.json()["detail"]
    assert svc.metric("gan_model_refusals_total", model="digits") >= refusals_before + 3
    assert "refused" in svc.log_text()


def test_a_served_version_tampered_in_place_is_withdrawn(
    svc: ServiceProcess, store: Path, trained_store: Path
) -> None:
    ref = publish(trained_store, "digits@30", store, as_version=60)
    wait_for(lambda: served_by(svc) == ref, 30, f"{ref} to become the default")
    _, weights_path = checkpoint_files(store, ref)
    weights_path.write_bytes(weights_path.read_bytes()[:-10] + b"0123456789")
    wait_for(lambda: versions(svc, "digits")[60]["status"] == "refused", 30, "the refusal")
    assert served_by(svc) == "digits@30"
    assert svc.client.post("/samples", json={"model": ref}).status_code == 409


def test_at_most_k_generators_on_the_device(
    svc: ServiceProcess, store: Path, trained_store: Path
) -> None:
    publish(trained_store, "ring-8@30", store)
    wait_for(lambda: versions(svc, "ring-8"), 30, "ring-8 to be listed")
    loads_before = svc.metric("gan_model_loads_total")
    for _ in range(2):
        for ref in ("digits@15", "digits@30", "ring-8@30"):
            assert served_by(svc, ref) == ref
            assert svc.metric("gan_models_on_device") <= 2
    loaded = [
        v["ref"]
        for m in svc.client.get("/models").json()["models"]
        for v in m["versions"]
        if v["loaded"]
    ]
    assert len(loaded) <= 2
    assert svc.metric("gan_model_loads_total") - loads_before >= 3  # evicted ones came back


def test_replicas_with_other_batch_settings_agree_byte_for_byte(
    svc: ServiceProcess, store: Path, make_service
) -> None:
    other = make_service(store, max_batch_size=64, max_batch_wait_ms=0)
    other.wait_ready()
    for body in ({"model": "digits@30", "n": 16, "seed": 77, "offset": 5, "format": "npy"},
                 {"model": "digits@15", "n": 3, "seed": 1, "format": "zip"},
                 {"model": "ring-8@30", "n": 40, "seed": 2, "format": "npy"}):  # fmt: skip
        here = svc.client.post("/samples", json=body)
        there = other.client.post("/samples", json=body)
        assert here.status_code == there.status_code == 200
        assert here.content == there.content, body
    points = np.load(io.BytesIO(here.content))
    assert points.shape == (40, 2)
