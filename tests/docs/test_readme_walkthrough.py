"""The README's "Five minutes with it" runs as written against a real service.

Its shell blocks run in order, in one folder, against `python -m service` (the embedded
default: redis-server, a Celery worker and the API). Two changes only: the address
(`localhost:8000` -> the test's port) and `curl --fail`, so any non-2xx answer fails the test.
The demo models the walkthrough samples are published beforehand (tiny, untrained), which
also keeps the first start from queueing the demo jobs.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from models.checkpoint import save_generator
from models.config import DCGANConfig, MLPConfig
from models.factory import build_generator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Five minutes with it"


def walkthrough_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) : text.index("\n## ", text.index(SECTION) + 1)]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _publish_demo_models(model_dir: Path) -> None:
    torch.manual_seed(0)
    image = DCGANConfig(image_size=28, channels=1, z_dim=16, g_width=8, d_width=8)
    points = MLPConfig(g_hidden=16, g_layers=2, d_hidden=16)
    for name, arch, dataset in (("mnist-demo", image, "mnist-5k"), ("ring-8-demo", points,
                                                                    "ring-8")):  # fmt: skip
        save_generator(model_dir, name, build_generator(arch).eval(), arch, step=1,
                       dataset=dataset, loss="non-saturating")  # fmt: skip


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = walkthrough_blocks()
    assert len(blocks) >= 2 and any("gan_client" in b for b in blocks)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    _publish_demo_models(tmp_path / "model-store")
    port = _port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    env |= {"GAN_URL": url, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    log = tmp_path / "service.log"
    service = subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port)], cwd=tmp_path, env=env,
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or service.poll() is not None:
                    raise AssertionError(log.read_text()[-3000:]) from None
                time.sleep(0.5)
        for block in blocks:
            script = block.replace("localhost:8000", f"127.0.0.1:{port}")
            script = re.sub(r"\bcurl -s", "curl --fail -s", script)
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            assert done.returncode == 0, (
                f"README block failed:\n{script}\nstdout:\n{done.stdout[-3000:]}\n"
                f"stderr:\n{done.stderr[-3000:]}\nservice:\n{log.read_text()[-3000:]}"
            )
        for picture in ("grid.png", "seed7-index3.png", "sevens.png", "threes.png"):
            assert (tmp_path / picture).read_bytes()[:4] == b"\x89PNG", picture
    finally:
        service.terminate()
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()
