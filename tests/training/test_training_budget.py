"""training.budget: exact counts against real networks, presets against hostile recipes, and
one estimate against the memory a real training step takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from models.config import DCGANConfig, MLPConfig
from models.factory import build_pair
from training import budget
from training.budget import MemoryEstimate, estimate_memory
from training.config import TrainConfig
from training.presets import resolve_config

ROOT = Path(__file__).resolve().parents[2]
GB = 1024**3
HOSTILE_MLP = {"g_hidden": 8192, "g_layers": 16, "d_hidden": 8192, "d_layers": 16, "d_maxout": 16}


def _nbytes(net: torch.nn.Module, with_buffers: bool = True) -> int:
    tensors = [*net.parameters(), *(net.buffers() if with_buffers else [])]
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.mark.parametrize(
    "arch",
    [
        MLPConfig(g_hidden=16, g_layers=2, d_hidden=8, d_layers=2, d_maxout=3, pack=2,
                  g_shortcut_gain=1.0, spectral_norm=True),
        DCGANConfig(image_size=16, channels=3, g_width=8, d_width=8, z_dim=10),
    ],
    ids=["mlp", "dcgan"],
)  # fmt: skip
def test_counts_match_a_real_build(arch: MLPConfig | DCGANConfig) -> None:
    g_net, d_net = build_pair(arch)
    est = estimate_memory(TrainConfig(dataset="ring-8", batch_size=8), arch)
    assert est.g_params == sum(p.numel() for p in g_net.parameters())
    assert est.d_params == sum(p.numel() for p in d_net.parameters())
    assert est.weights_bytes == _nbytes(g_net) + _nbytes(d_net)
    param_bytes = _nbytes(g_net, with_buffers=False) + _nbytes(d_net, with_buffers=False)
    assert est.optimizer_bytes == 3 * param_bytes  # Adam: two states and the gradient
    assert est.ema_bytes == _nbytes(g_net)
    sgd = TrainConfig(dataset="ring-8", batch_size=8, optimizer="sgd")
    assert estimate_memory(sgd, arch).optimizer_bytes == 2 * param_bytes
    plain_sgd = sgd.model_copy(update={"momentum": 0.0})
    assert estimate_memory(plain_sgd, arch).optimizer_bytes == param_bytes


def test_total_adds_the_parts_and_describe_names_them() -> None:
    est = MemoryEstimate(1, 2, 10 * 1024**2, 30 * 1024**2, 5 * 1024**2, 12_000 * 1024**2, 0)
    assert est.total_bytes == 12_045 * 1024**2
    assert est.total_mb == pytest.approx(12_045)
    text = est.describe()
    assert text.startswith("about 12,045 MB (weights 10 MB, optimizer 30 MB, EMA 5.0 MB, ")
    assert "activations 12,000 MB" in text and "\n" not in text
    with_data = estimate_memory(*resolve_config(TrainConfig(dataset="ring-8")), data_bytes=1000)
    assert with_data.data_bytes == 1000


def test_the_ring8_preset_is_small() -> None:
    est = estimate_memory(*resolve_config(TrainConfig(dataset="ring-8")))
    print("ring-8:", est.describe())
    assert 0 < est.total_bytes < 200 * 1024**2
    assert est.activation_bytes > 0


def test_hostile_recipes_estimate_far_above_8_gb() -> None:
    mlp = resolve_config(TrainConfig(dataset="ring-8", arch_config=HOSTILE_MLP))
    dcgan = resolve_config(TrainConfig(dataset="digits", image_size=128, batch_size=8192))
    assert isinstance(dcgan[1], DCGANConfig) and dcgan[1].image_size == 128
    estimate_memory(*mlp)  # the first call in a process pays torch's one-time imports
    for name, recipe in (("mlp", mlp), ("dcgan", dcgan)):
        start = time.perf_counter()
        est = estimate_memory(*recipe)
        seconds = time.perf_counter() - start
        print(f"hostile {name}: {est.describe()} in {seconds * 1000:.0f} ms")
        assert est.total_bytes > 4 * 8 * GB
        assert seconds < 0.5
    # the MLP is too big in its weights, the DCGAN in its activations
    assert estimate_memory(*mlp).weights_bytes > 8 * GB
    assert estimate_memory(*dcgan).activation_bytes > 8 * GB


def test_activations_grow_with_the_batch_and_with_a_penalty() -> None:
    base = TrainConfig(dataset="digits", image_size=32, batch_size=64)
    est = estimate_memory(*resolve_config(base))
    doubled = estimate_memory(*resolve_config(base.model_copy(update={"batch_size": 128})))
    assert 1.8 < doubled.activation_bytes / est.activation_bytes < 2.2
    assert doubled.weights_bytes == est.weights_bytes
    assert doubled.optimizer_bytes == est.optimizer_bytes
    r1 = estimate_memory(*resolve_config(base.model_copy(update={"r1_gamma": 1.0})))
    gp = estimate_memory(*resolve_config(base.model_copy(update={"loss": "wgan-gp"})))
    assert r1.activation_bytes > 1.2 * est.activation_bytes
    assert gp.activation_bytes > est.activation_bytes  # despite D losing its batch norm


def test_the_fallback_formula_is_near_the_measured_activations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipes = [
        resolve_config(TrainConfig(dataset="digits", image_size=32, batch_size=256)),
        resolve_config(TrainConfig(dataset="ring-8", batch_size=1024)),
    ]
    measured = [estimate_memory(*r).activation_bytes for r in recipes]

    def no_meta(*args: object) -> int:
        raise NotImplementedError("no meta kernel")

    monkeypatch.setattr(budget, "_measured_activations", no_meta)
    for recipe, meta_bytes in zip(recipes, measured, strict=True):
        rough = estimate_memory(*recipe).activation_bytes
        assert 0.5 < rough / meta_bytes < 2.0


# Runs real training steps (training.loop.Run, as dry_run does) after a warm-up with a batch of
# 2, so the peak RSS it measures is the recipe's own: networks, optimizer, EMA, activations.
_REALISM_SCRIPT = """
import json
from pathlib import Path
from training.budget import estimate_memory
from training.config import TrainConfig
from training.datasets import load_dataset
from training.loop import Run
from training.presets import resolve_config

def kib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

config = TrainConfig(dataset="digits", image_size=32, batch_size=256)
data = load_dataset(config.dataset, image_size=config.image_size)
resolved, arch = resolve_config(config, data.sample_shape)
warm = resolved.model_copy(update={"batch_size": 2})
Run(warm, arch, data, Path("unused"))._train_step(want_grad_norm=False)
est = estimate_memory(resolved, arch)
try:
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    base = kib("VmRSS")
except OSError:
    base = kib("VmHWM")
run = Run(resolved, arch, data, Path("unused"))
for _ in range(3):
    run._train_step(want_grad_norm=False)
print(json.dumps({"measured": kib("VmHWM") - base, "estimated": est.total_bytes,
                  "describe": est.describe()}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_the_estimate_is_near_the_memory_a_real_step_takes() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _REALISM_SCRIPT],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = result["measured"] / result["estimated"]
    print(
        f"digits 32 px, batch 256: measured {result['measured'] / 1024**2:.0f} MB, "
        f"estimated {result['describe']}, ratio {ratio:.2f}"
    )
    assert 1 / 3 < ratio < 3
