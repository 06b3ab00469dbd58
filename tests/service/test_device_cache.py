"""The device cache (service/device_cache.py) on tiny CPU generators: loads on demand, keeps
at most `max_loaded`, least recently used leaving first, and hands a file that changed after
verification back to the catalog as refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sample_service_harness import TINY_Z_DIM, metric_value, publish_tiny

from service.catalog import ModelCatalog
from service.device_cache import DeviceCache
from service.errors import ModelUnavailable, VersionRefused
from service.metrics import ServiceMetrics


def cache(model_dir: Path, max_loaded: int) -> DeviceCache:
    metrics = ServiceMetrics()
    catalog = ModelCatalog(model_dir, default_model="", metrics=metrics)
    catalog.scan()
    return DeviceCache(
        catalog, torch.device("cpu"), max_batch=8, max_loaded=max_loaded, metrics=metrics
    )


def loads(c: DeviceCache, name: str) -> float:
    return metric_value(c.metrics, "gan_model_loads_total", model=name)


def test_acquire_loads_on_demand_once(tmp_path: Path) -> None:
    publish_tiny(tmp_path, "tiny", 1)
    c = cache(tmp_path, max_loaded=2)
    assert (c.is_loaded("tiny@1"), c.loaded_count(), c.loaded()) == (False, 0, {})

    model = c.acquire("tiny@1")
    assert (model.ref, model.kind, model.device) == ("tiny@1", "vector", torch.device("cpu"))
    assert max(model.calibration.buckets) <= 8
    z = torch.zeros(model.calibration.buckets[0], TINY_Z_DIM)
    with torch.inference_mode():
        assert model.module(z).shape == (z.shape[0], 2)  # (B, 2): points of a 2-D mixture
    assert c.is_loaded("tiny@1") and c.loaded() == {"tiny@1": model.calibration}
    assert c.acquire("tiny@1") is model
    assert loads(c, "tiny") == 1
    assert metric_value(c.metrics, "gan_models_on_device") == 1


def test_the_least_recently_used_leaves_first(tmp_path: Path) -> None:
    for version in (1, 2, 3):
        publish_tiny(tmp_path, "tiny", version)
    c = cache(tmp_path, max_loaded=2)
    c.acquire("tiny@1")
    c.acquire("tiny@2")
    c.acquire("tiny@1")  # now 2 is the least recently used
    c.acquire("tiny@3")
    assert list(c.loaded()) == ["tiny@1", "tiny@3"]  # least recent first
    c.acquire("tiny@2")  # evicted ones come back on demand
    assert list(c.loaded()) == ["tiny@3", "tiny@2"]
    assert loads(c, "tiny") == 4
    assert metric_value(c.metrics, "gan_models_on_device") == 2

    c.discard(["tiny@3", "tiny@9"])  # what the catalog no longer serves
    assert list(c.loaded()) == ["tiny@2"]
    assert metric_value(c.metrics, "gan_models_on_device") == 1


def test_what_the_catalog_does_not_serve_is_never_loaded(tmp_path: Path) -> None:
    publish_tiny(tmp_path, "tiny", 1)
    c = cache(tmp_path, max_loaded=2)
    with pytest.raises(ModelUnavailable, match="no longer in the model dir"):
        c.acquire("tiny@7")
    assert c.loaded_count() == 0


def test_a_file_changed_after_verification_is_refused_on_load(tmp_path: Path) -> None:
    publish_tiny(tmp_path, "tiny", 1)
    meta_path = publish_tiny(tmp_path, "tiny", 2)
    c = cache(tmp_path, max_loaded=2)
    weights = meta_path.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:-8])  # before the next scan notices it

    with pytest.raises(VersionRefused) as refused:
        c.acquire("tiny@2")
    assert "tiny/00000002.safetensors" in str(refused.value)
    assert str(tmp_path) not in str(refused.value)
    assert c.catalog.resolve("tiny").ref == "tiny@1"  # the default moved back
    assert metric_value(c.metrics, "gan_model_refusals_total", model="tiny") == 1
    with pytest.raises(ModelUnavailable, match="cannot be served"):
        c.acquire("tiny@2")  # refused until the file changes again
    assert c.loaded_count() == 0
