"""The digit classifier: trained once, cached as safetensors, retrained rather than trusted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from evaluation import classifier
from evaluation.classifier import FEATURES, load_classifier
from training.datasets import labelled_images


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _held_out_accuracy(model: torch.nn.Module) -> float:
    x, y = (torch.from_numpy(a) for a in labelled_images("digits:test"))
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.slow
def test_cache_round_trip_and_tampered_weights_are_retrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    weights = tmp_path / "classifiers" / "digits.safetensors"

    first = load_classifier("digits")  # nothing cached: trains
    assert first.path == weights and weights.is_file()
    record = json.loads(weights.with_suffix(".json").read_text())
    assert record["sha256"] == first.sha256 == _sha(weights)
    assert first.accuracy >= 0.95
    assert _held_out_accuracy(first.model) == pytest.approx(first.accuracy)
    stamp = weights.stat().st_mtime_ns

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a valid cache was trained again")

    with monkeypatch.context() as patched:
        patched.setattr(classifier, "train_classifier", no_training)
        second = load_classifier("digits")  # cached: loads, trains nothing, writes nothing
    assert weights.stat().st_mtime_ns == stamp
    assert (second.sha256, second.accuracy, second.path) == (first.sha256, first.accuracy, weights)
    for key, value in first.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[key], value), key

    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF  # one weight changed, the record left alone
    weights.write_bytes(bytes(blob))
    third = load_classifier("digits")  # does not match its record: retrained, file replaced
    assert _sha(weights) == third.sha256 == record["sha256"]  # training is seeded
    assert third.accuracy >= 0.95
    assert _held_out_accuracy(third.model) == pytest.approx(third.accuracy)


@pytest.mark.slow
def test_an_unwritable_cache_still_gives_a_working_classifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")  # fails even for root
    monkeypatch.setenv("GAN_CACHE_DIR", str(blocker))
    clf = load_classifier("digits")
    assert clf.path is None and clf.accuracy >= 0.95
    x, _ = labelled_images("digits:test")
    features, probs = clf.outputs(torch.from_numpy(x[:5]))
    assert features.shape == (5, FEATURES) and probs.shape == (5, 10)
    assert probs.sum(axis=1) == pytest.approx([1.0] * 5)


def test_only_the_labelled_sets_have_a_classifier() -> None:
    with pytest.raises(ValueError, match="ring-8"):
        load_classifier("ring-8")
