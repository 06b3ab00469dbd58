"""A short run with latent codes: the checkpoint keeps them and G learns to use them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from evaluation.classifier import load_classifier
from models.checkpoint import load_generator
from models.latent import latent_batch
from models.latent_codes import code_indices
from training.config import TrainConfig
from training.loop import train


def test_a_short_coded_run_sorts_the_digits_by_code(tmp_path: Path) -> None:
    config = TrainConfig(
        dataset="digits:train", name="coded", steps=200, checkpoint_every=200, log_every=100,
        arch_config={"g_width": 32, "d_width": 32, "extra_layers": 0, "latent_codes": [10]},
    )  # fmt: skip
    assert train(config, tmp_path).published == ["coded@200"]
    generator, meta = load_generator(tmp_path / "coded" / "00000200.json")
    assert meta.arch.latent_codes == (10,)
    z = torch.from_numpy(latent_batch(7, 0, 2000, meta.arch.z_dim))
    with torch.no_grad():
        images = generator.eval()(z)
    _, probs = load_classifier("digits").outputs(images)
    codes = code_indices(z, (10,))[:, 0].numpy()
    table = np.zeros((10, 10), int)
    np.add.at(table, (codes, probs.argmax(axis=1)), 1)
    # the share of samples whose digit is their code's most common one: about 0.1 to 0.2 when
    # G ignores the code
    purity = table.max(axis=1).sum() / table.sum()
    assert purity > 0.4, table
