"""Test harness for the sample service: the real service under uvicorn in a child process
(`python -m service`), waited for and stopped by its pid; helpers to read its metrics."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "test-key-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            value = check()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class ServiceProcess:
    """`python -m service` with GAN_* settings, serving the API alone (a Redis URL is set, so
    the embedded Redis and worker are not started; the jobs routes are not under test here)."""

    def __init__(self, tmp: Path, model_dir: Path, **settings: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.model_dir = model_dir
        self.log = tmp / f"service-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
        env |= {
            "GAN_MODEL_DIR": str(model_dir),
            "GAN_DEVICE": "cpu",
            "GAN_REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens: jobs answer 503
            "GAN_VAR_DIR": str(tmp / "var"),
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        }
        for key, value in settings.items():
            env[f"GAN_{key.upper()}"] = ",".join(value) if isinstance(value, list) else str(value)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=tmp,
            env=env,
            stdout=open(self.log, "wb"),  # noqa: SIM115 (the child keeps it)
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def wait_ready(self, timeout: float = 120, status: int = 200) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"service exited:\n{self.log_text()[-3000:]}")
            return self.client.get("/readyz").status_code == status

        wait_for(ready, timeout, f"{self.url}/readyz to answer {status}", interval=0.2)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include `labels` (0 when absent)."""
        text = self.client.get("/metrics").text
        total = 0.0
        for line in text.splitlines():
            match = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", line)
            if not match or match.group(1) != name:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(match.group(3))
        return total

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def copy_store(source: Path, target: Path, only: list[str] | None = None) -> Path:
    """A private copy of published checkpoints (without training's run/ folders)."""
    target.mkdir(parents=True, exist_ok=True)
    for model in source.iterdir():
        for file in model.glob("*.*"):
            ref = f"{model.name}@{int(file.stem)}" if file.stem.isdigit() else None
            if only is None or ref in only:
                (target / model.name).mkdir(exist_ok=True)
                shutil.copy2(file, target / model.name / file.name)
    return target


def checkpoint_files(store: Path, ref: str) -> tuple[Path, Path]:
    name, _, version = ref.partition("@")
    stem = f"{int(version):08d}"
    return store / name / f"{stem}.json", store / name / f"{stem}.safetensors"


def publish(
    source: Path,
    ref: str,
    target: Path,
    *,
    as_version: int | None = None,
    weights: bytes | None = None,
) -> str:
    """Publish checkpoint `ref` of `source` into `target` the way training does (weights
    first, metadata last, each by rename). `as_version` re-labels it; `weights` replaces the
    weight bytes while the metadata keeps the original sha256 (a tampered checkpoint)."""
    meta_path, weights_path = checkpoint_files(source, ref)
    meta = json.loads(meta_path.read_text())
    if as_version is not None:
        stem = f"{as_version:08d}"
        meta |= {"version": as_version, "step": as_version, "weights_file": f"{stem}.safetensors"}
    new_meta, new_weights = checkpoint_files(target, f"{meta['name']}@{meta['version']}")
    new_meta.parent.mkdir(parents=True, exist_ok=True)
    for path, data in ((new_weights, weights if weights is not None else weights_path.read_bytes()),
                       (new_meta, json.dumps(meta, indent=2).encode())):  # fmt: skip
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return f"{meta['name']}@{meta['version']}"


TINY_Z_DIM = 2


def publish_tiny(model_dir: Path, name: str, version: int) -> Path:
    """A tiny 2-D MLP generator (z_dim 2), seeded by its version, published as name@version;
    returns its metadata path."""
    import torch

    from models.checkpoint import save_generator
    from models.config import MLPConfig
    from models.factory import build_generator

    arch = MLPConfig(z_dim=TINY_Z_DIM, g_hidden=8, g_layers=2, d_hidden=8)
    torch.manual_seed(version)
    meta_path, _meta = save_generator(
        model_dir, name, build_generator(arch), arch, step=version, dataset="none", loss="none"
    )
    return meta_path


def trained_looking(arch: Any) -> Any:
    """A random generator whose batch-norm statistics are not the identity, as after training
    (eval mode)."""
    import torch

    from models.factory import build_generator

    torch.manual_seed(0)
    g = build_generator(arch)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.bias.data.normal_(0, 0.1)
    return g.eval()


def metric_value(metrics: Any, name: str, **labels: str) -> float:
    """A sample of a ServiceMetrics registry read the way a scraper reads it (0 when the
    labelled series was never touched): `name` is the exposed sample, `_total` included."""
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
