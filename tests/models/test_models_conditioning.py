"""Class conditioning: G's class embedding, the projection discriminator, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from models.checkpoint import CheckpointError, load_generator, save_generator
from models.conditioning import cycle_labels, label_column_input
from models.config import DCGANConfig, MLPConfig
from models.factory import build_pair

CONFIGS = [
    DCGANConfig(image_size=8, channels=1, z_dim=16, g_width=8, d_width=8, num_classes=3),
    DCGANConfig(image_size=28, channels=3, z_dim=16, g_width=8, d_width=8, num_classes=5),
    MLPConfig(z_dim=2, data_dim=2, g_hidden=16, d_hidden=16, num_classes=4),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.family}-{c.num_classes}")
def test_a_conditional_pair_takes_one_label_per_sample(cfg: DCGANConfig | MLPConfig) -> None:
    torch.manual_seed(0)
    g, d = build_pair(cfg)
    g.eval()
    z = torch.randn(6, cfg.z_dim)
    labels = torch.arange(6) % cfg.num_classes
    x = g(z, labels)
    assert x.shape == (6, *cfg.output_shape)
    assert d(x, labels).shape == (6,)
    with pytest.raises(ValueError, match="pass labels"):
        g(z)
    with pytest.raises(ValueError, match="pass labels"):
        d(x)
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        g(z, labels[:3])


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.family}-{c.num_classes}")
def test_the_label_changes_the_sample_and_the_judgement(cfg: DCGANConfig | MLPConfig) -> None:
    torch.manual_seed(0)
    g, d = build_pair(cfg)
    g.eval()
    d.eval()
    z = torch.randn(1, cfg.z_dim).repeat(2, 1)  # the same noise twice
    x = g(z, torch.tensor([0, 1]))
    assert not torch.equal(x[0], x[1])
    same = x[:1].repeat(2, *[1] * (x.dim() - 1))
    logits = d(same, torch.tensor([0, 1]))  # one sample judged as two classes
    assert not torch.equal(logits[0], logits[1])


def test_an_unconditional_network_refuses_labels_and_keeps_its_weights() -> None:
    cfg = DCGANConfig(image_size=8, channels=1, z_dim=16, g_width=8, d_width=8)
    torch.manual_seed(0)
    g, d = build_pair(cfg)
    assert not any("label" in k or "projection" in k for k in [*g.state_dict(), *d.state_dict()])
    with pytest.raises(ValueError, match="unconditional"):
        g(torch.randn(2, 16), torch.tensor([0, 1]))
    first = g.state_dict()["net.0.weight"]
    assert first.shape[0] == cfg.z_dim  # z alone feeds the first layer, as before


def test_a_conditional_network_cannot_pack_samples() -> None:
    with pytest.raises(ValidationError, match="pack"):
        DCGANConfig(image_size=8, channels=1, num_classes=3, pack=2)


def test_a_checkpoint_carries_its_class_names(tmp_path: Path) -> None:
    cfg = CONFIGS[0]
    torch.manual_seed(0)
    g, _ = build_pair(cfg)
    g.eval()
    path, meta = save_generator(
        tmp_path, "cond", g, cfg, step=1, dataset="x", loss="l", classes=("cat", "dog", "owl")
    )
    loaded, meta2 = load_generator(path)
    assert meta2.classes == ["cat", "dog", "owl"] and meta2.arch.num_classes == 3
    z, labels = torch.randn(4, cfg.z_dim), torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        assert torch.equal(loaded(z, labels), g(z, labels))

    raw = json.loads(path.read_text())
    for bad in (["cat", "dog"], ["cat", "cat", "dog"], ["cat", "", "dog"]):
        path.write_text(json.dumps({**raw, "classes": bad}))
        with pytest.raises(CheckpointError, match="class names"):
            load_generator(path)


def test_label_column_rows_split_back_into_noise_and_class() -> None:
    z = torch.randn(5, 7)
    labels = torch.tensor([0, 4, 2, 999, 1])
    rows = torch.cat([z, labels.float()[:, None]], dim=1)  # (5, 8)
    z2, labels2 = label_column_input(7, rows)
    assert torch.equal(z2, z) and torch.equal(labels2, labels)


def test_cycle_labels_go_through_every_class_in_turn_from_the_offset() -> None:
    assert cycle_labels(0, 5, 3).tolist() == [0, 1, 2, 0, 1]
    assert cycle_labels(7, 3, 3).tolist() == [1, 2, 0]
    assert cycle_labels(0, 4, 3).dtype == np.int64
