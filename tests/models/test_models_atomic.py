"""Atomic writes: a reader sees the old file or the whole new one, and no temporary is left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from models import atomic
from models.atomic import atomic_write_bytes, atomic_write_text


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "folder" / "meta.json"  # folders are created
    atomic_write_text(target, "first")
    atomic_write_bytes(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert sorted(p.name for p in target.parent.iterdir()) == ["meta.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # readable by a service of another user


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "weights.safetensors"
    atomic_write_bytes(target, b"old weights")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new weights that never land")
    assert target.read_bytes() == b"old weights"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.safetensors"]


def test_the_rename_is_the_only_moment_the_target_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.json"
    atomic_write_text(target, "old")
    seen: list[str] = []
    real_replace = os.replace

    def replace(src: str, dst: Path) -> None:
        seen.append(Path(dst).read_text())  # just before the rename: still the old file
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    atomic_write_text(target, "new")
    assert seen == ["old"] and target.read_text() == "new"
