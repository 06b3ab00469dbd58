"""Bring your own data, end to end with real processes (redis-server, a Celery worker, uvicorn):
upload a zip of class folders over HTTP, train a conditional model on its spec, sample it,
then delete the dataset, the job and an old version. And a client that hangs up mid-upload
leaves nothing behind."""

from __future__ import annotations

import io
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import API_KEY, Stack, wait_for
from PIL import Image

pytestmark = [pytest.mark.e2e]


def pets_zip() -> bytes:
    """32 noisy 16x16 PNGs, `pets/cat/*.png` and `pets/dog/*.png` (reddish and bluish)."""
    rng = np.random.default_rng(0)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for c, name in enumerate(("cat", "dog")):
            for i in range(16):
                pixels = rng.integers(0, 120, size=(16, 16, 3), dtype=np.uint8)
                pixels[..., 2 * c] += 120
                image = io.BytesIO()
                Image.fromarray(pixels).save(image, "PNG")
                zf.writestr(f"pets/{name}/{i:02d}.png", image.getvalue())
    return out.getvalue()


def uploads(stack: Stack) -> list[str]:
    folder = stack.data_root / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_upload_train_conditionally_sample_and_delete(stack: Stack) -> None:
    body = pets_zip()
    assert len(body) > stack.settings.max_body_bytes  # uploads have their own, larger limit
    answer = stack.client.post("/datasets/pets", content=body)
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == "/datasets/pets"
    manifest = answer.json()
    assert manifest["spec"] == "folder:uploads/pets/images"
    assert manifest["classes"] == ["cat", "dog"]
    assert manifest["class_counts"] == {"cat": 16, "dog": 16}
    assert manifest["samples"] == 32 and manifest["bytes"] == len(body)
    assert [m["name"] for m in stack.client.get("/datasets").json()] == ["pets"]

    recipe = {"dataset": manifest["spec"], "conditional": True, "name": "pets-cond",
              "steps": 20, "checkpoint_every": 10, "log_every": 10, "batch_size": 16,
              "image_size": 8, "arch_config": {"g_width": 8, "d_width": 8, "z_dim": 8}}  # fmt: skip
    job = stack.submit(**recipe)  # queued: no worker yet
    busy = stack.client.delete("/datasets/pets")
    assert busy.status_code == 409, busy.text
    assert job["id"] in busy.json()["detail"]
    assert "pets" in uploads(stack)

    stack.ensure_worker()
    done = stack.wait_state(job["id"], {"succeeded", "failed", "cancelled"}, timeout=300)
    assert done["state"] == "succeeded", done.get("error")
    assert done["published"] == ["pets-cond@10", "pets-cond@20"]

    def promoted() -> bool:  # the service's catalog notices new checkpoints every 0.5 s
        model = stack.client.get("/models/pets-cond")
        return model.status_code == 200 and model.json()["default_version"] == 20

    wait_for(promoted, 30, "the service to serve pets-cond@20 by default")
    samples = stack.client.post(
        "/samples", json={"model": "pets-cond", "n": 4, "seed": 3, "label": "dog", "format": "npy"}
    )
    assert samples.status_code == 200, samples.text
    assert samples.headers["x-model-version"] == "pets-cond@20"
    assert np.load(io.BytesIO(samples.content)).shape[0] == 4
    model = stack.client.get("/models/pets-cond").json()
    assert model["versions"][-1]["classes"] == ["cat", "dog"]

    assert stack.client.delete("/datasets/pets").status_code == 204
    assert stack.client.get("/datasets/pets").status_code == 404
    assert stack.client.get("/datasets").json() == []
    assert uploads(stack) == []  # nothing half-deleted left

    assert stack.client.delete(f"/train-jobs/{job['id']}").status_code == 204
    assert stack.client.get(f"/train-jobs/{job['id']}").status_code == 404
    checkpoints = Path(stack.settings.model_dir) / "pets-cond"
    assert (checkpoints / "00000020.safetensors").exists()  # the job's checkpoints stay

    assert stack.client.delete("/models/pets-cond@20").status_code == 409  # the default
    assert stack.client.delete("/models/pets-cond@10").status_code == 204
    versions = [v["version"] for v in stack.client.get("/models/pets-cond").json()["versions"]]
    assert versions == [20]
    assert not (checkpoints / "00000010.json").exists()
    again = stack.client.post("/samples", json={"model": "pets-cond", "n": 1, "format": "npy"})
    assert again.status_code == 200


def test_a_client_that_hangs_up_mid_upload_leaves_nothing(stack: Stack) -> None:
    before = uploads(stack)
    head = (
        "POST /datasets/cut-short HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{stack.api.port}\r\nAuthorization: Bearer {API_KEY}\r\n"
        "Content-Type: application/zip\r\nContent-Length: 1000000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", stack.api.port), timeout=10) as conn:
        conn.sendall(head + b"PK\x03\x04" + bytes(100_000))
        wait_for(
            lambda: any(n.startswith(".incoming-") for n in uploads(stack)),
            30,
            "the upload to be received into its temporary folder",
        )
    wait_for(lambda: uploads(stack) == before, 30, "the temporary folder to be removed")
    assert stack.client.get("/datasets/cut-short").status_code == 404
