"""A job trains exactly the recipe the user asked for, checked in full before it is queued:
the same request through the CLI and through the API gives the same weights, bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, Stack
from PIL import Image

from training.datasets import KNOWN_DATASETS

pytestmark = [pytest.mark.e2e]

THREADS = {"OMP_NUM_THREADS": "1"}  # a CPU run is bit-identical only at one thread count


def _loc_names(answer) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in answer.json()["detail"]]


def _final_checkpoint(model_dir: Path, name: str) -> dict:
    metas = sorted((model_dir / name).glob("[0-9]*.json"))
    assert metas, f"no checkpoint of {name} in {model_dir}"
    return json.loads(metas[-1].read_text())


@pytest.mark.slow
def test_an_api_job_trains_the_cli_recipe_bit_for_bit(stack: Stack, tmp_path: Path) -> None:
    """The ring-8 preset (batch 256, lr 1e-3, R1 0.01, decay from 0.5, G 6x128) applies to
    `{"dataset": "ring-8", "steps": N}` through the API as through the CLI."""
    if stack.worker is not None:
        stack.worker.stop()
    stack.start_worker(**THREADS)
    recipe = {"dataset": "ring-8", "steps": 300, "checkpoint_every": 300, "seed": 3}
    job = stack.submit(**recipe, name="parity-api")
    record = stack.job(job["id"])

    cli_dir = tmp_path / "cli-models"
    command = [sys.executable, "-m", "training", "--dataset", "ring-8", "--steps", "300",
               "--checkpoint-every", "300", "--seed", "3", "--name", "parity-api",
               "--model-dir", str(cli_dir), "--no-progress"]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=os.environ | THREADS, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cli_options = json.loads((cli_dir / "parity-api" / "run" / "options.json").read_text())

    # The record holds the complete recipe, resolved once at submit: the preset's values and
    # the architecture spelled out.
    config = record["config"]
    assert config["batch_size"] == 256 and config["lr_g"] == 1e-3 and config["r1_gamma"] == 0.01
    assert config["lr_decay_from"] == 0.5 and config["arch_config"]["g_layers"] == 6
    assert config["arch_config"]["family"] == "mlp" and config["arch"] == "mlp"
    assert config == cli_options

    finished = stack.wait_state(job["id"], {"succeeded", "failed", "cancelled"}, 300)
    assert finished["state"] == "succeeded", finished["error"]
    api_meta = _final_checkpoint(Path(stack.settings.model_dir), "parity-api")
    cli_meta = _final_checkpoint(cli_dir, "parity-api")
    assert api_meta["version"] == cli_meta["version"] == 300
    assert api_meta["weights_sha256"] == cli_meta["weights_sha256"]
    # The one checked promotion path wrote the default.
    default = Path(stack.settings.model_dir) / "parity-api" / "default.json"
    assert json.loads(default.read_text()) == {"version": 300}


def _write_pngs(folder: Path, count: int, *, broken: bool = False) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        if broken:
            (folder / f"img{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
        else:
            pixels = rng.integers(0, 255, (8, 8), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"img{i}.png")


def test_everything_a_job_needs_is_checked_before_it_is_queued(stack: Stack) -> None:
    root = stack.data_root
    np.save(root / "objects.npy", np.array([{"a": 1}] * 32, dtype=object), allow_pickle=True)
    np.save(root / "few.npy", np.zeros((8, 2), dtype=np.float32))
    (root / "empty").mkdir()
    _write_pngs(root / "four", 4)
    _write_pngs(root / "unreadable", 20, broken=True)
    _write_pngs(root / "unlabelled", 20)
    np.savez(root / "labels.npz", x=np.zeros((20, 8, 8), np.float32), y=np.arange(3))
    before = stack.client.get("/train-jobs").json()["total"]
    cases = [
        ({"dataset": "npz:objects.npy"}, "body.dataset", "objects.npy"),
        ({"dataset": "npz:few.npy"}, "body.dataset", "at least 16"),
        ({"dataset": "folder:empty"}, "body.dataset", "no PNG or JPEG"),
        ({"dataset": "folder:four"}, "body.dataset", "at least 16"),
        ({"dataset": "folder:unreadable"}, "body.dataset", "cannot be read"),
        ({"dataset": "ring-8", "steps": "5"}, "body.steps", None),
        ({"dataset": "ring-8", "steps": 5.0}, "body.steps", None),
        ({"dataset": "ring-8", "steps": True}, "body.steps", None),
        ({"dataset": "ring-8", "batch_size": 64.0}, "body.batch_size", None),
        ({"dataset": "ring-8", "auto_promote": 0}, "body.auto_promote", None),
        ({"dataset": "ring-8", "channels": 1.0}, "body.channels", None),
        ({"dataset": "ring-8", "arch_config": {"g_hidden": "128"}}, "body.arch_config.g_hidden",
         None),
        ({"dataset": "ring-8", "conditional": True}, "body.conditional", "needs labels"),
        ({"dataset": "folder:unlabelled", "conditional": True}, "body.conditional",
         "needs labels"),
        ({"dataset": "npz:labels.npz", "conditional": True}, "body.dataset",
         "labels 'y' in 'labels.npz' have shape (3,)"),
        ({"dataset": "digits", "conditional": True, "arch_config": {"pack": 2}},
         "body.arch_config", "cannot pack"),
        ({"dataset": "digits", "conditional": "yes"}, "body.conditional", None),
        ({"dataset": "digits", "arch_config": {"latent_codes": [1]}}, "body.arch_config",
         "2 to 100 categories"),
        ({"dataset": "digits", "arch_config": {"latent_codes": ["10"]}},
         "body.arch_config.latent_codes.0", None),
        ({"dataset": "ring-8", "arch_config": {"latent_codes": [10]}},
         "body.arch_config.latent_codes", None),
    ]  # fmt: skip
    for body, field, words in cases:
        answer = stack.client.post("/train-jobs", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in _loc_names(answer), (body, answer.text)
        if words:
            assert words in answer.json()["message"], (body, answer.text)
        assert str(root) not in answer.text  # no host paths in answers
    assert stack.queue_length() == 0
    assert stack.client.get("/train-jobs").json()["total"] == before


def test_a_recipe_over_the_memory_budget_is_refused_with_the_estimate(stack: Stack) -> None:
    limit = stack.settings.max_job_memory_mb
    giant_mlp = {"g_hidden": 8192, "g_layers": 16, "d_hidden": 8192, "d_layers": 16,
                 "d_maxout": 16}  # fmt: skip
    cases = [
        ({"dataset": "ring-8", "arch_config": giant_mlp}, "body.arch_config"),
        ({"dataset": "digits", "image_size": 128, "batch_size": 8192}, "body.batch_size"),
    ]
    for body, field in cases:
        answer = stack.client.post("/train-jobs", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in _loc_names(answer), answer.text
        message = answer.json()["message"]
        assert "GAN_MAX_JOB_MEMORY_MB" in message and f"{limit:,} MB" in message
    assert stack.queue_length() == 0


def test_bad_bodies_and_queries_on_the_job_routes_are_4xx_naming_the_field(stack: Stack) -> None:
    headers = {"Content-Type": "application/json"}
    for number in ("NaN", "Infinity", "-Infinity", "1e400"):
        raw = f'{{"dataset": "ring-8", "lr_g": {number}}}'.encode()
        answer = stack.client.post("/train-jobs", content=raw, headers=headers)
        assert answer.status_code == 422 and "body.lr_g" in _loc_names(answer), answer.text
    raw = b'{"dataset": "npz:a\\u0000b.npy"}'
    answer = stack.client.post("/train-jobs", content=raw, headers=headers)
    assert answer.status_code == 422 and "body.dataset" in _loc_names(answer), answer.text
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):  # deep, within the body cap
        depth = 3000 if opener == b"[" else 1300
        raw = opener * depth + b"1" + closer * depth
        answer = stack.client.post("/train-jobs", content=raw, headers=headers)
        assert answer.status_code == 422, answer.text[:200]
    no_key = stack.client.post(
        "/train-jobs", content=b"[" * 3000, headers={**headers, "Authorization": ""}
    )
    assert no_key.status_code == 401  # the key is checked before the body is read
    for query in ("offset=160665294032140838633472", "offset=-1", "limit=5.0", "limit=+5"):
        answer = stack.client.get(f"/train-jobs?{query}")
        assert answer.status_code == 422, (query, answer.text)
    assert stack.queue_length() == 0


def test_the_presets_listed_are_what_a_job_on_the_dataset_trains(stack: Stack) -> None:
    presets = {p["dataset"]: p for p in stack.client.get("/train-jobs/presets").json()["presets"]}
    assert set(presets) == set(KNOWN_DATASETS)
    assert presets["mnist-5k:train"]["arch_config"] == presets["mnist-5k"]["arch_config"]
    assert presets["stacked-mnist"]["arch_config"]["pack"] == 2
    ring = presets["ring-8"]
    assert ring["recipe"]["batch_size"] == 256 and ring["arch_config"]["g_layers"] == 6
    assert "ring" in ring["about"] or "2-D" in ring["about"]
    job = stack.submit(dataset="ring-8", steps=ring["recipe"]["steps"], auto_promote=False)
    config = stack.job(job["id"])["config"]
    assert stack.client.post(f"/train-jobs/{job['id']}/cancel").status_code == 202
    assert config["arch_config"] == ring["arch_config"]
    assert {k: config[k] for k in ring["recipe"]} == ring["recipe"]
