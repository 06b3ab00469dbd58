"""Conditional training: the recipe, a short run that learns its classes, and its pictures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.checkpoint import load_generator
from training.config import TrainConfig
from training.errors import RecipeError, TrainingError
from training.loop import train
from training.presets import resolve_config


@pytest.fixture
def npz(tmp_path: Path) -> str:
    np.savez(tmp_path / "x.npz", x=np.zeros((20, 1, 8, 8), np.float32))
    return f"npz:{tmp_path / 'x.npz'}"


def test_conditional_needs_a_labelled_dataset(npz: str) -> None:
    with pytest.raises(RecipeError, match="needs labels") as caught:
        resolve_config(TrainConfig(dataset="ring-8", conditional=True))
    assert caught.value.field == "conditional"
    with pytest.raises(RecipeError, match="one class"):
        resolve_config(TrainConfig(dataset=npz, conditional=True), (1, 8, 8), classes=("a",))


def test_the_recipe_takes_its_class_count_from_the_data(npz: str) -> None:
    _, plain = resolve_config(TrainConfig(dataset="mnist-5k"))
    assert plain.num_classes == 0
    _, digits = resolve_config(TrainConfig(dataset="digits:train", conditional=True))
    assert digits.num_classes == 10
    _, folder = resolve_config(
        TrainConfig(dataset=npz, conditional=True), (1, 8, 8), classes=("a", "b", "c")
    )
    assert folder.num_classes == 3
    # the stacked-mnist preset packs 2; a conditional D judges one sample with its label
    _, stacked = resolve_config(TrainConfig(dataset="stacked-mnist", conditional=True))
    assert (stacked.num_classes, stacked.pack, stacked.latent_codes) == (1000, 1, ())
    with pytest.raises(TrainingError, match="num_classes = 4 disagrees"):
        resolve_config(
            TrainConfig(dataset="digits", conditional=True, arch_config={"num_classes": 4})
        )


def test_a_short_conditional_run_draws_the_digits_it_is_asked_for(tmp_path: Path) -> None:
    config = TrainConfig(
        dataset="digits:train", name="cond", conditional=True, steps=300, checkpoint_every=300,
        log_every=100, arch_config={"g_width": 32, "d_width": 32, "extra_layers": 0},
    )  # fmt: skip
    result = train(config, tmp_path)
    assert result.published == ["cond@300"]
    meta_path = tmp_path / "cond" / "00000300.json"
    generator, meta = load_generator(meta_path)
    assert meta.classes == [str(d) for d in range(10)] and meta.arch.num_classes == 10
    # the shipped classifier reads the asked-for digit far above chance (0.1)
    assert meta.metrics["conditional_accuracy"] > 0.6, meta.metrics
    assert json.loads(meta_path.read_text())["hyperparameters"]["conditional"] is True
    # the picture: one row per class, eight noises across
    with Image.open(tmp_path / "cond" / "run" / "samples.png") as picture:
        ratio = picture.height / picture.width
    assert ratio == pytest.approx(10 / 8, rel=0.05)
