"""The model catalog (service/catalog.py) on a real model directory of tiny CPU generators:
which version is the default, what is refused and why, what goes away."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sample_service_harness import metric_value, publish_tiny

from service.catalog import ModelCatalog
from service.errors import NoModelPublished, UnknownModel, VersionRefused
from service.metrics import ServiceMetrics


def corrupt(meta_path: Path) -> None:
    weights = meta_path.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:-8])  # truncated: the sha256 no longer matches


def catalog(model_dir: Path, default_model: str = "") -> ModelCatalog:
    return ModelCatalog(model_dir, default_model=default_model, metrics=ServiceMetrics())


def default_of(cat: ModelCatalog, name: str) -> str:
    return cat.resolve(name).ref


def test_the_newest_usable_version_is_the_default(tmp_path: Path) -> None:
    cat = catalog(tmp_path)
    publish_tiny(tmp_path, "tiny", 1)
    publish_tiny(tmp_path, "tiny", 2)
    result = cat.scan()
    assert sorted(result.added) == ["tiny@1", "tiny@2"]
    assert result.new_defaults == ["tiny@2"]
    assert default_of(cat, "tiny") == "tiny@2"
    assert cat.resolve(None).ref == "tiny@2"
    assert cat.resolve("tiny@1").ref == "tiny@1"  # pinned

    publish_tiny(tmp_path, "tiny", 3)
    result = cat.scan()
    assert (result.added, result.new_defaults) == (["tiny@3"], ["tiny@3"])
    assert cat.scan().new_defaults == []  # nothing changed on disk


def test_the_promoted_version_beats_the_newest(tmp_path: Path) -> None:
    cat = catalog(tmp_path)
    publish_tiny(tmp_path, "tiny", 1)
    publish_tiny(tmp_path, "tiny", 2)
    cat.scan()
    assert cat.promote("tiny", 1) == "tiny@1"
    assert default_of(cat, "tiny") == "tiny@1"
    publish_tiny(tmp_path, "tiny", 3)
    cat.scan()
    assert default_of(cat, "tiny") == "tiny@1"  # a newer version does not take over

    other = catalog(tmp_path)  # another replica reads the promotion from the directory
    other.scan()
    assert default_of(other, "tiny") == "tiny@1"
    [state] = other.snapshot()
    assert (state.default_version, state.promoted_version) == (1, 1)
    assert [v.version for v in state.versions] == [1, 2, 3]


def test_refused_versions_are_skipped_with_a_reason_and_no_host_path(tmp_path: Path) -> None:
    cat = catalog(tmp_path)
    publish_tiny(tmp_path, "tiny", 1)
    corrupt(publish_tiny(tmp_path, "tiny", 2))
    result = cat.scan()
    assert (result.added, result.refused) == (["tiny@1"], ["tiny@2"])
    assert default_of(cat, "tiny") == "tiny@1"

    with pytest.raises(VersionRefused) as refused:
        cat.resolve("tiny@2")
    assert "tiny/00000002.safetensors" in str(refused.value)
    assert str(tmp_path) not in str(refused.value)
    with pytest.raises(VersionRefused):
        cat.promote("tiny", 2)
    [state] = cat.snapshot()
    entry = state.versions[1]
    assert not entry.usable and entry.refused and str(tmp_path) not in entry.refused
    assert metric_value(cat.metrics, "gan_model_refusals_total", model="tiny") == 1

    corrupt(publish_tiny(tmp_path, "solo", 1))  # a model with nothing usable is not a default
    cat.scan()
    with pytest.raises(VersionRefused, match="every version of 'solo' was refused"):
        cat.resolve("solo")


def test_a_removed_version_goes_away(tmp_path: Path) -> None:
    cat = catalog(tmp_path)
    publish_tiny(tmp_path, "tiny", 1)
    meta_path = publish_tiny(tmp_path, "tiny", 2)
    cat.scan()
    meta_path.unlink()
    meta_path.with_suffix(".safetensors").unlink()
    result = cat.scan()
    assert (result.removed, result.new_defaults) == (["tiny@2"], ["tiny@1"])
    assert cat.entry("tiny@2") is None
    with pytest.raises(UnknownModel, match="has no version 2; versions: \\[1\\]"):
        cat.resolve("tiny@2")
    assert [v.version for v in cat.snapshot()[0].versions] == [1]


def test_a_refusal_on_load_moves_the_default_back(tmp_path: Path) -> None:
    cat = catalog(tmp_path)
    publish_tiny(tmp_path, "tiny", 1)
    publish_tiny(tmp_path, "tiny", 2)
    cat.scan()
    reason = cat.refuse("tiny@2", f"{tmp_path}/tiny/00000002.safetensors: changed on disk")
    assert reason == "tiny/00000002.safetensors: changed on disk"
    assert default_of(cat, "tiny") == "tiny@1"
    with pytest.raises(VersionRefused, match=reason):
        cat.resolve("tiny@2")


def test_the_default_model_and_what_to_preload(tmp_path: Path) -> None:
    with pytest.raises(NoModelPublished):
        catalog(tmp_path).resolve(None)
    old = publish_tiny(tmp_path, "old", 1)
    publish_tiny(tmp_path, "new", 1)
    os.utime(old, ns=(1, 1))  # same `created` second: the file's age breaks the tie
    cat = catalog(tmp_path)
    cat.scan()
    assert cat.default_model_name() == "new"
    assert cat.resolve(None).ref == "new@1"
    assert cat.preload_order(1) == ["new@1"]
    assert cat.preload_order(5) == ["new@1", "old@1"]

    pinned = catalog(tmp_path, default_model="old")
    pinned.scan()
    assert pinned.default_model_name() == "old"
    assert pinned.resolve(None).ref == "old@1"
    assert pinned.preload_order(5)[0] == "old@1"
    with pytest.raises(UnknownModel, match="no model named 'cats'"):
        pinned.resolve("cats")


def test_a_version_published_since_the_last_scan_is_found_when_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.catalog

    cat = catalog(tmp_path)
    publish_tiny(tmp_path, "old", 1)
    cat.scan()
    scans = []
    cat.scan_on_miss = lambda: scans.append(cat.scan())
    publish_tiny(tmp_path, "fresh", 1)  # a job just finished; no periodic scan yet
    with pytest.raises(UnknownModel):
        cat.resolve("fresh")  # the versions known now: no scan
    assert asyncio.run(cat.find("fresh")).ref == "fresh@1"
    assert asyncio.run(cat.find("fresh@1")).ref == "fresh@1" and len(scans) == 1
    with pytest.raises(UnknownModel, match="no model named 'never'"):
        asyncio.run(cat.find("never"))  # too soon after the last on-demand scan: answered at once
    assert len(scans) == 1
    monkeypatch.setattr(service.catalog, "MISS_SCAN_INTERVAL_S", 0.0)
    with pytest.raises(UnknownModel):
        asyncio.run(cat.find("never"))  # looked for once more, still absent
    assert len(scans) == 2
