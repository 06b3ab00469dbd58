"""The CUDA path: training on the GPU (fp32 and bf16), checkpoints that load anywhere, the
exact-bucket check and the determinism contract on the device. Skipped without CUDA;
scripts/gpu_check.sh runs them on a GPU machine."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "service"))

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (scripts/gpu_check.sh)"
)

TINY_DCGAN = {"g_width": 16, "d_width": 16, "z_dim": 16}


@pytest.mark.parametrize("bf16", [False, True])
def test_a_run_trains_on_cuda_and_its_checkpoint_loads_on_the_cpu(
    tmp_path: Path, bf16: bool
) -> None:
    from models.checkpoint import load_generator
    from training.config import TrainConfig
    from training.loop import train

    config = TrainConfig(
        dataset="digits", name="gpu", steps=40, checkpoint_every=40, log_every=20,
        device="cuda", bf16=bf16, arch_config=TINY_DCGAN,
    )  # fmt: skip
    result = train(config, tmp_path)
    assert result.published == ["gpu@40"]
    rows = (tmp_path / "gpu" / "run" / "metrics.jsonl").read_text().splitlines()
    assert "NaN" not in rows[-1]
    generator, meta = load_generator(tmp_path / "gpu" / "00000040.json", "cpu")
    with torch.no_grad():
        x = generator(torch.randn(4, meta.z_dim))
    assert x.shape == (4, 1, 8, 8) and torch.isfinite(x).all()
    metrics = meta.metrics
    assert 0.0 <= metrics["confidence"] <= 1.0  # scored on the GPU run's samples


def test_the_bucket_check_keeps_only_exact_batch_sizes_on_cuda() -> None:
    from models.config import DCGANConfig
    from models.factory import build_generator
    from models.latent import latent_batch
    from service.inference import REFERENCE_BATCH, calibrate, optimize_generator

    torch.manual_seed(0)
    arch = DCGANConfig(image_size=32, channels=3, z_dim=32, g_width=16)
    module = optimize_generator(build_generator(arch)).to("cuda")
    cal = calibrate(module, arch.z_dim, 64, torch.device("cuda"))
    print(f"CUDA buckets kept: {cal.buckets} (exact={cal.exact})")
    assert cal.buckets and REFERENCE_BATCH in cal.buckets or not cal.exact
    z = torch.from_numpy(latent_batch(7, 0, REFERENCE_BATCH, arch.z_dim)).cuda()
    with torch.inference_mode():
        reference = module(z)
        for size in cal.buckets:
            batch = torch.zeros(size, arch.z_dim, device="cuda")
            rows = min(size, 5)
            batch[:rows] = z[10 : 10 + rows]
            assert torch.equal(module(batch)[:rows], reference[10 : 10 + rows]), size


def test_a_sample_is_the_same_bytes_alone_and_in_a_batch_on_cuda(tmp_path: Path) -> None:
    import httpx
    from sample_service_harness import ServiceProcess

    from models.checkpoint import save_generator
    from models.config import DCGANConfig
    from models.factory import build_generator

    torch.manual_seed(0)
    arch = DCGANConfig(image_size=32, channels=3, z_dim=32, g_width=16)
    save_generator(tmp_path / "models", "gpu", build_generator(arch).eval(), arch, step=1,
                   dataset="none", loss="none")  # fmt: skip
    (tmp_path / "svc").mkdir()
    service = ServiceProcess(tmp_path / "svc", tmp_path / "models", device="cuda")
    try:
        service.wait_ready()
        url = service.url
        alone = httpx.post(f"{url}/samples", json={"model": "gpu", "seed": 5, "offset": 3,
                                                   "format": "npy"}, timeout=60)  # fmt: skip
        many = httpx.post(f"{url}/samples", json={"model": "gpu", "seed": 5, "n": 40,
                                                  "format": "npy"}, timeout=60)  # fmt: skip
        assert alone.status_code == many.status_code == 200, (alone.text, many.text)
        one = np.load(io.BytesIO(alone.content))
        batch = np.load(io.BytesIO(many.content))
        assert np.array_equal(one[0], batch[3])
        health = httpx.get(f"{url}/readyz", timeout=10).json()
        assert health["device"].startswith("cuda")
    finally:
        service.stop()
