"""Config resolution: names, network family, architecture from the data, presets only for
fields the user left unset, and clear errors (no data is loaded)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from models.config import DCGANConfig, MLPConfig
from training.config import TrainConfig
from training.errors import DatasetError, TrainingError
from training.presets import MIXTURE_2D, PRESETS, default_name, resolve_config


@pytest.mark.parametrize(
    ("dataset", "name"),
    [
        ("ring-8", "ring-8"),
        ("grid-25", "grid-25"),
        ("folder:/x/cats", "cats"),
        ("folder:/x/My Cats!/", "my-cats"),
        ("npz:data/faces.npz", "faces"),
        ("folder:/x/__", "model"),
    ],
)
def test_default_names(dataset: str, name: str) -> None:
    assert default_name(dataset) == name


def test_ring8_preset_fills_only_unset_fields() -> None:
    resolved, arch = resolve_config(TrainConfig(dataset="ring-8", steps=300, lr_g=1e-4))
    assert resolved.name == "ring-8" and resolved.arch == "mlp"
    assert resolved.steps == 300 and resolved.lr_g == 1e-4  # the user's values stay
    assert resolved.batch_size == PRESETS["ring-8"].train["batch_size"]
    assert resolved.lr_d == PRESETS["ring-8"].train["lr_d"]
    assert isinstance(arch, MLPConfig) and arch.data_dim == 2
    assert resolved.arch_config == arch.model_dump(mode="json")  # the full, explicit config
    assert MIXTURE_2D.about


def test_resolving_twice_changes_nothing() -> None:
    once, arch = resolve_config(TrainConfig(dataset="grid-25", arch_config={"g_hidden": 64}))
    twice, arch2 = resolve_config(once)
    assert twice == once and arch2 == arch and arch.g_hidden == 64


def test_image_sets_get_dcgan_sized_from_the_data(tmp_path) -> None:
    _, arch = resolve_config(TrainConfig(dataset="mnist-5k"))
    assert isinstance(arch, DCGANConfig) and (arch.channels, arch.image_size) == (1, 28)
    _, arch = resolve_config(TrainConfig(dataset="digits", arch_config={"g_width": 16}))
    assert arch.image_size == 8 and arch.g_width == 16
    _, arch = resolve_config(TrainConfig(dataset="folder:/data/cats"), (3, 32, 32))
    assert (arch.channels, arch.image_size) == (3, 32)
    np.save(tmp_path / "v.npy", np.zeros((20, 5), dtype=np.float32))
    resolved, arch = resolve_config(TrainConfig(dataset="npz:v.npy"), data_root=tmp_path)
    assert resolved.arch == "mlp" and resolved.name == "v"


def test_wgan_gp_turns_off_batch_norm_in_d() -> None:
    _, arch = resolve_config(TrainConfig(dataset="digits", loss="wgan-gp"))
    assert arch.d_batchnorm is False
    with pytest.raises(TrainingError, match="d_batchnorm must be false"):
        bn = {"d_batchnorm": True}
        resolve_config(TrainConfig(dataset="digits", loss="wgan-gp", arch_config=bn))


def test_errors_name_the_problem() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'"):
        resolve_config(TrainConfig(dataset="cifar"))
    with pytest.raises(TrainingError, match="arch 'dcgan' does not fit"):
        resolve_config(TrainConfig(dataset="ring-8", arch="dcgan"))
    with pytest.raises(TrainingError, match="multiple of arch_config.pack"):
        resolve_config(TrainConfig(dataset="ring-8", batch_size=10, arch_config={"pack": 4}))
    with pytest.raises(TrainingError, match="arch_config.data_dim"):
        resolve_config(TrainConfig(dataset="ring-8", arch_config={"data_dim": 3}))
    with pytest.raises(ValidationError) as exc:
        resolve_config(TrainConfig(dataset="ring-8", arch_config={"g_hidden": 0}))
    assert exc.value.errors()[0]["loc"] == ("g_hidden",)
    with pytest.raises(ValidationError) as exc:
        resolve_config(TrainConfig(dataset="ring-8", arch_config={"g_widht": 3}))
    assert exc.value.errors()[0]["loc"] == ("g_widht",)


def test_the_stacked_preset_widens_d_and_trades_its_batch_norm_for_r1() -> None:
    resolved, arch = resolve_config(TrainConfig(dataset="stacked-mnist"))
    assert resolved.r1_gamma == 1.0 and arch.d_batchnorm is False and arch.pack == 2
    assert (arch.d_width, arch.g_width) == (64, 32)
    mine, arch = resolve_config(
        TrainConfig(
            dataset="stacked-mnist",
            r1_gamma=0.0,
            arch_config={"d_batchnorm": True, "d_width": 32},
        )
    )
    assert mine.r1_gamma == 0.0 and arch.d_batchnorm is True and arch.d_width == 32
    _, mnist = resolve_config(TrainConfig(dataset="mnist-5k"))
    assert mnist.d_batchnorm is True and mnist.d_width == 32


def test_the_mnist_preset_reads_a_latent_code_from_z_and_a_job_can_drop_it() -> None:
    resolved, arch = resolve_config(TrainConfig(dataset="mnist-5k:train"))
    assert arch.latent_codes == (20,) and resolved.arch_config["latent_codes"] == [20]
    assert resolve_config(resolved)[1] == arch  # the JSON list reads back as the same tuple
    _, stacked = resolve_config(TrainConfig(dataset="stacked-mnist"))
    assert stacked.latent_codes == () and stacked.pack == 2
    _, plain = resolve_config(TrainConfig(dataset="mnist-5k", arch_config={"latent_codes": []}))
    assert plain.latent_codes == ()
    with pytest.raises(ValidationError, match="more than z_dim"):
        resolve_config(TrainConfig(dataset="mnist-5k", arch_config={"z_dim": 16}))
