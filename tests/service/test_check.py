"""`--check`: the API and the worker validate their settings and files, then exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from models.checkpoint import save_generator
from models.config import MLPConfig
from models.factory import build_generator

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    clean |= {"GAN_MODEL_DIR": str(tmp_path / "models"), "GAN_DATA_ROOT": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", module, "--check"], cwd=ROOT, env=clean | env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _publish(model_dir: Path, name: str) -> Path:
    arch = MLPConfig(g_hidden=8, g_layers=1, d_hidden=8)
    torch.manual_seed(0)
    path, _ = save_generator(model_dir, name, build_generator(arch), arch, step=1,
                             dataset="ring-8", loss="non-saturating")  # fmt: skip
    return path


def test_the_api_check_verifies_every_checkpoint(tmp_path: Path) -> None:
    _publish(tmp_path / "models", "good")
    done = _run("service", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "good@1: ok" in done.stdout and "1 checkpoint(s) verified, 0 refused" in done.stdout

    bad = _publish(tmp_path / "models", "tampered")
    weights = bad.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    done = _run("service", tmp_path)
    assert done.returncode == 1
    assert "tampered@1 would be refused" in done.stderr and "sha256" in done.stderr


def test_a_bad_setting_is_named_and_nothing_starts(tmp_path: Path) -> None:
    done = _run("service", tmp_path, GAN_MAX_BATCH_SIZE="0")
    assert done.returncode == 2
    assert "GAN_MAX_BATCH_SIZE" in done.stderr and "Traceback" not in done.stderr


def test_the_worker_check_needs_the_broker_and_a_usable_model_dir(tmp_path: Path) -> None:
    done = _run("service.jobs.worker", tmp_path)
    assert done.returncode == 1 and "GAN_REDIS_URL is empty" in done.stderr
    ok = _run("service.jobs.worker", tmp_path, GAN_REDIS_URL="redis://127.0.0.1:1/0")
    assert ok.returncode == 0, ok.stderr  # nothing is contacted: port 1 has no Redis
    (tmp_path / "models").write_text("a file where the folder should be")
    done = _run("service.jobs.worker", tmp_path, GAN_REDIS_URL="redis://127.0.0.1:1/0")
    assert done.returncode == 1 and "is not a folder" in done.stderr
