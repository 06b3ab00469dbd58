"""Fixtures for the sample service: checkpoints published by the real training loop, a tiny
generator on a real device thread, and service processes stopped when their module ends."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from a checkout
    sys.path.insert(0, str(ROOT))

from sample_service_harness import ServiceProcess  # noqa: E402

TINY_MAX_BATCH = 8


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory with checkpoints published by the real training loop (a few dozen
    steps: these tests are about serving them, not about their quality): digits@15,
    digits@30 (1 x 8 x 8 DCGAN) and ring-8@30 (2-D MLP with batch norm)."""
    from training.config import TrainConfig
    from training.loop import train

    store = tmp_path_factory.mktemp("trained") / "models"
    train(
        TrainConfig(dataset="digits", name="digits", steps=30, checkpoint_every=15,
                    log_every=15, batch_size=32, device="cpu",
                    arch_config={"g_width": 16, "d_width": 16, "z_dim": 16}),
        store,
    )  # fmt: skip
    train(
        TrainConfig(dataset="ring-8", name="ring-8", steps=30, checkpoint_every=30,
                    log_every=30, batch_size=64, device="cpu",
                    arch_config={"g_hidden": 32, "d_hidden": 32, "g_layers": 2, "d_layers": 2}),
        store,
    )  # fmt: skip
    return store


@pytest.fixture(scope="module")
def make_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def make(model_dir: Path, **settings: Any) -> ServiceProcess:
        service = ServiceProcess(tmp_path_factory.mktemp("service"), model_dir, **settings)
        started.append(service)
        return service

    yield make
    for service in started:
        service.stop()


@pytest.fixture
def make_batcher(tmp_path: Path) -> Iterator[Callable[..., tuple[Any, str]]]:
    """A real device thread serving a tiny 2-D generator: make(**Batcher options) returns the
    started batcher (max batch 8) and the generator's version ref; stopped at the end."""
    import torch

    from models.checkpoint import save_generator
    from models.config import MLPConfig
    from models.factory import build_generator
    from service.batcher import Batcher
    from service.catalog import ModelCatalog
    from service.device_cache import DeviceCache
    from service.metrics import ServiceMetrics

    arch = MLPConfig(z_dim=2, g_hidden=16, g_layers=2, d_hidden=8)
    torch.manual_seed(0)
    save_generator(tmp_path, "tiny", build_generator(arch), arch, step=1, dataset="none",
                   loss="none")  # fmt: skip
    started: list[Batcher] = []

    def make(**options: Any) -> tuple[Batcher, str]:
        metrics = ServiceMetrics()
        catalog = ModelCatalog(tmp_path, default_model="", metrics=metrics)
        catalog.scan()
        cache = DeviceCache(catalog, torch.device("cpu"), max_batch=TINY_MAX_BATCH, max_loaded=1,
                            metrics=metrics)  # fmt: skip
        batcher = Batcher(cache, metrics, max_batch=TINY_MAX_BATCH, max_wait_s=0.0, **options)
        batcher.start()
        started.append(batcher)
        return batcher, catalog.resolve("tiny").ref

    yield make
    for batcher in started:
        batcher.stop()
