"""python -m training.export writes a labelled set as class folders that load back the same."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.datasets import load_dataset
from training.errors import GanError
from training.export import export


def test_a_labelled_set_round_trips_through_class_folders(tmp_path: Path) -> None:
    folder = tmp_path / "digits"
    assert export("digits:test", folder) == 359
    original = load_dataset("digits:test")
    back = load_dataset(f"folder:{folder}", image_size=8, channels=1)
    assert back.classes == original.classes
    assert back.class_counts() == original.class_counts()
    # 8-bit PNGs of 17-level digits: every pixel comes back within one grey level
    order = sorted(range(len(original)), key=lambda i: (int(original.labels[i]), i))
    torch.testing.assert_close(back.data, original.data[order], atol=1 / 127.5, rtol=0)


def test_it_refuses_a_folder_with_files_and_sets_without_stored_images(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(GanError, match="not empty"):
        export("digits", tmp_path / "full")
    with pytest.raises(GanError, match="not a set of stored images"):
        export("ring-8", tmp_path / "ring")
