"""Checkpoints round-trip exactly and refuse anything tampered, truncated or inconsistent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from models.checkpoint import (
    CheckpointError,
    MissingCheckpoint,
    list_checkpoints,
    load_generator,
    promote_version,
    read_default_version,
    read_meta,
    save_generator,
    write_default_version,
)
from models.config import DCGANConfig, MLPConfig
from models.factory import build_generator

ARCH = DCGANConfig(image_size=8, channels=1, z_dim=4, g_width=4, d_width=4)


def _publish(model_dir: Path, arch=ARCH, step: int = 100) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    g = build_generator(arch)
    if getattr(g, "shortcut", None) is not None:
        with torch.no_grad():
            g.shortcut.add_(0.5)  # trained away from its identity start
    g.train()
    g(torch.randn(16, arch.z_dim))  # move the batch-norm statistics off their defaults
    path, _ = save_generator(
        model_dir, "tiny", g, arch, step=step, dataset="digits", loss="hinge",
        hyperparameters={"lr_g": 2e-4}, metrics={"fid": 1.5},
    )  # fmt: skip
    return path, g.eval()


def test_round_trip_gives_the_same_outputs(tmp_path: Path) -> None:
    path, original = _publish(tmp_path)
    assert path == tmp_path / "tiny" / "00000100.json"
    loaded, meta = load_generator(path)
    assert not loaded.training
    z = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.equal(loaded(z), original(z))
    assert meta.ref == "tiny@100" and meta.step == 100 and meta.arch == ARCH
    assert meta.output_kind == "image" and meta.output_shape == [1, 8, 8]
    assert meta.hyperparameters == {"lr_g": 2e-4} and meta.metrics == {"fid": 1.5}
    assert list_checkpoints(tmp_path) == [path]


@pytest.mark.parametrize("shortcut_gain", [0.0, 3.0])
def test_mlp_round_trip(tmp_path: Path, shortcut_gain: float) -> None:
    arch = MLPConfig(z_dim=2, data_dim=2, g_hidden=8, d_hidden=8, g_shortcut_gain=shortcut_gain)
    path, original = _publish(tmp_path, arch)
    loaded, meta = load_generator(path)
    assert (loaded.shortcut is None) == (shortcut_gain == 0)
    z = torch.randn(3, 2)
    with torch.no_grad():
        assert torch.equal(loaded(z), original(z))
    assert meta.output_kind == "vector"


def test_flipped_byte_in_weights_is_refused(tmp_path: Path) -> None:
    path, _ = _publish(tmp_path)
    weights = path.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_generator(path)


def test_truncated_weights_are_refused(tmp_path: Path) -> None:
    path, _ = _publish(tmp_path)
    weights = path.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or tampered"):
        load_generator(path)


def test_missing_weights_file_is_refused(tmp_path: Path) -> None:
    path, _ = _publish(tmp_path)
    path.with_suffix(".safetensors").unlink()
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_generator(path)


def _edit(path: Path, **changes) -> None:
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            meta[key].update(value)
        else:
            meta[key] = value
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"weights_sha256": "0" * 64}, "sha256"),
        ({"arch": {"g_width": 8}}, "do not fit"),  # metadata that does not fit the weights
        ({"output_shape": [3, 8, 8]}, "disagrees"),
        ({"z_dim": 5}, "disagrees"),
        ({"weights_file": "../elsewhere.safetensors"}, "bare file name"),
        ({"format": "pickle"}, "format"),
        ({"step": -1}, "step"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_edited_metadata_is_refused(tmp_path: Path, changes: dict, match: str) -> None:
    path, _ = _publish(tmp_path)
    _edit(path, **changes)
    with pytest.raises(CheckpointError, match=match):
        load_generator(path)


def test_unreadable_or_missing_metadata(tmp_path: Path) -> None:
    path, _ = _publish(tmp_path)
    path.write_text('{"name": "tiny", "version": ')  # truncated JSON
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_meta(path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_meta(tmp_path / "tiny" / "00000999.json")


def test_no_temporary_files_are_left_and_default_version(tmp_path: Path) -> None:
    _publish(tmp_path)
    names = sorted(p.name for p in (tmp_path / "tiny").iterdir())
    assert names == ["00000100.json", "00000100.safetensors"]
    assert read_default_version(tmp_path, "tiny") is None
    write_default_version(tmp_path, "tiny", 100)
    assert read_default_version(tmp_path, "tiny") == 100


def test_bad_model_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="model name"):
        save_generator(
            tmp_path, "Bad Name", build_generator(ARCH), ARCH, step=1, dataset="d", loss="hinge"
        )


def test_promotion_verifies_the_version_before_making_it_the_default(tmp_path: Path) -> None:
    """The one checked promotion, used by POST /models/{m}/promote and by finishing jobs."""
    _publish(tmp_path, step=100)
    path, _ = _publish(tmp_path, step=200)
    assert promote_version(tmp_path, "tiny", 100).version == 100
    assert read_default_version(tmp_path, "tiny") == 100
    with pytest.raises(MissingCheckpoint):
        promote_version(tmp_path, "tiny", 300)
    weights = path.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or tampered"):
        promote_version(tmp_path, "tiny", 200)
    assert read_default_version(tmp_path, "tiny") == 100  # a refused version never becomes it
