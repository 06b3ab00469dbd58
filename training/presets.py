"""Turn a user's recipe into a complete one: name, network family, architecture config, and
dataset presets for the fields the user left unset.

`resolve_config` loads no data, so the jobs API calls it to validate a submission. It raises
DatasetError for an unknown or unusable dataset spec, TrainingError for a recipe that cannot
work (naming the field), and lets pydantic's ValidationError through for a bad
`arch_config` entry (its error location is the key inside arch_config).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.config import DCGANConfig, MLPConfig
from training.config import TrainConfig
from training.datasets import dataset_kind
from training.errors import RecipeError, TrainingError


@dataclass(frozen=True)
class Preset:
    """Defaults for one dataset: TrainConfig fields and architecture fields."""

    about: str
    train: dict[str, Any] = field(default_factory=dict)
    arch: dict[str, Any] = field(default_factory=dict)


# The 2-D mixtures of VEEGAN / PacGAN. PacGAN's layout (G: 4 ReLU layers with batch norm,
# D: 3 maxout layers), narrower for CPU speed. Tuned on seed 0 (benchmarks/quality_mixtures.py):
# - no packing: with pack 2 or 4 D barely resolves the 0.01 / 0.05 mode widths, and the
#   share of high-quality samples stalls (grid-25: 3 % after 5k steps with pack 2);
# - lr 1e-3 for both nets: 2e-4 left D at D(x) = D(G(z)) = 0.5 for thousands of steps;
# - a weak R1 penalty (0.01) keeps all 25 grid modes, which plain training drops (22 of 25);
# - EMA 0.9999 with its warm-up min(d, (1 + t) / (10 + t)): an average over the last ~10 %
#   of the steps, which removes most of the jitter of lr 1e-3.
MIXTURE_2D = Preset(
    about="2-D mixtures: MLP G 4x128 (batch norm), D 3x128 maxout-4, no packing, batch 256, "
    "Adam lr 1e-3 (0.5, 0.999), R1 0.01, EMA 0.9999, 20,000 steps",
    train={
        "steps": 20_000,
        "batch_size": 256,
        "lr_g": 1e-3,
        "lr_d": 1e-3,
        "beta1": 0.5,
        "beta2": 0.999,
        "r1_gamma": 0.01,
        "ema_decay": 0.9999,
        "checkpoint_every": 2000,
        "log_every": 200,
    },
    arch={
        "z_dim": 2,
        "pack": 1,
        "g_hidden": 128,
        "g_layers": 4,
        "g_batchnorm": True,
        "d_hidden": 128,
        "d_layers": 3,
        "d_maxout": 4,
    },
)

GAUSSIAN_1D = Preset(
    about="1-D Gaussian preset (Goodfellow et al. 2014, Figure 1): small MLPs",
    train={"steps": 3000, "batch_size": 128, "checkpoint_every": 1000},
    arch={"z_dim": 1, "g_hidden": 32, "g_layers": 2, "d_hidden": 32, "d_layers": 2, "d_maxout": 2},
)

# ring-8 needs its samples within 0.03 of a centre (3 std): the learning rates fall linearly
# over the second half, a shorter EMA follows the sharpened G, and a generator 6 layers deep
# leaves fewer samples between the modes. Figures: docs/benchmarks.md; the screens behind
# each choice: docs/experiments/mixture-presets.md.
RING_8 = Preset(
    about=MIXTURE_2D.about.replace("G 4x128", "G 6x128").replace(
        "EMA 0.9999", "lr decay over the second half, EMA 0.999"
    ),
    train={**MIXTURE_2D.train, "lr_decay_from": 0.5, "ema_decay": 0.999},
    arch={**MIXTURE_2D.arch, "g_layers": 6},
)

# grid-25's misses are bridges: samples strung between neighbouring modes, from the z along
# the borders between the regions of z that feed each mode. A linear shortcut z -> x with the
# data's spread (gain 2.83 = the grid's std) starts G as a linear map, so the regions keep the
# grid's layout instead of folding into long slivers (benchmarks/latent_partition.py); a deep
# and wide G (6x256) keeps the borders narrow; R1 0.1 keeps every mode; the lr decay and
# EMA 0.999 of ring-8 sharpen the end. Figures, and the alternatives that lost:
# docs/experiments/mixture-presets.md.
GRID_25 = Preset(
    about="grid-25: MLP G 6x256 (batch norm) plus a linear shortcut z -> x (gain 2.83), "
    "D 3x128 maxout-4, no packing, batch 256, Adam lr 1e-3 (0.5, 0.999) falling linearly over "
    "the second half, R1 0.1, EMA 0.999, 20,000 steps",
    train={**MIXTURE_2D.train, "lr_decay_from": 0.5, "ema_decay": 0.999, "r1_gamma": 0.1},
    arch={**MIXTURE_2D.arch, "g_hidden": 256, "g_layers": 6, "g_shortcut_gain": 2.83},
)

# mnist-5k reads a categorical code from z (models/latent_codes.py): a Gaussian
# z alone leaves G drawing images halfway between digits, where the code lets it keep the
# digits apart (confidence 0.915 -> 0.967 at 8,000 steps; docs/experiments/image-presets.md).
# The image presets add depth: `extra_layers` 3x3 convolutions at half the image size in G and
# D. The plain DCGAN stack (2 to 3 layers at these sizes) plateaus far from the real data
# (digits: confidence 0.76 against the real 0.94, mnist-5k: FD 80+ at 12,000 steps); see
# docs/quality.md for the figures and benchmarks/quality_images.py for the measure.
DIGITS = Preset(
    about="digits: DCGAN width 128 for G and D with 4 extra 3x3 layers at 4x4, batch 64, Adam "
    "lr 2e-4 (0.5, 0.999), EMA 0.999, 3,000 steps",
    train={"steps": 3000, "checkpoint_every": 500, "log_every": 100},
    arch={"g_width": 128, "d_width": 128, "extra_layers": 4},
)

MNIST_5K = Preset(
    about="mnist-5k: DCGAN width 32 for G and D with 4 extra 3x3 layers at 14x14, a 20-way "
    "latent code (InfoGAN), batch 64, Adam lr 2e-4 (0.5, 0.999) falling linearly over the second "
    "half, EMA 0.999, 16,000 steps, float32",
    train={
        "steps": 16_000,
        "lr_decay_from": 0.5,
        "checkpoint_every": 2000,
        "log_every": 200,
        # bf16 autocast reached FD 13.5 where float32 gives 12.2-12.5 (docs/quality.md)
        "bf16": False,
    },
    arch={"g_width": 32, "d_width": 32, "extra_layers": 4, "latent_codes": (20,)},
)

PRESETS: dict[str, Preset] = {
    "ring-8": RING_8,
    "grid-25": GRID_25,
    "gaussian-1d": GAUSSIAN_1D,
    "digits": DIGITS,
    "mnist-5k": MNIST_5K,
    "stacked-mnist": Preset(
        about="stacked-mnist: the mnist-5k network with D width 64, PacGAN packing 2, 3 "
        "channels, no latent codes, no batch norm in D, R1 1.0",
        # R1 in place of D's batch norm keeps the channels' digits less correlated and the
        # seeds close together. D judges two packed samples of three digits each: at width 32
        # most runs draw one channel well and two badly; width 64 lowered the KL on every seed
        # (docs/quality.md).
        # No latent codes: three 10-way codes do not bind to the channels' digits
        # (docs/experiments/image-presets.md).
        train={**MNIST_5K.train, "r1_gamma": 1.0},
        arch={
            **MNIST_5K.arch,
            "d_width": 64,
            "pack": 2,
            "latent_codes": (),
            "d_batchnorm": False,
        },
    ),
}

# Known shapes of the built-in sets, so validation needs no data.
_BUILTIN_SHAPES: dict[str, tuple[int, ...]] = {
    "gaussian-1d": (1,),
    "ring-8": (2,),
    "grid-25": (2,),
    "digits": (1, 8, 8),
    "digits:train": (1, 8, 8),
    "digits:test": (1, 8, 8),
    "mnist-5k": (1, 28, 28),
    "mnist-5k:train": (1, 28, 28),
    "mnist-5k:test": (1, 28, 28),
    "stacked-mnist": (3, 28, 28),
}
_SHAPE_KEYS = {"mlp": ("data_dim",), "dcgan": ("image_size", "channels")}
_BUILTIN_CLASS_COUNTS = {"digits": 10, "mnist-5k": 10, "stacked-mnist": 1000}


def preset_for(dataset: str) -> Preset | None:
    """The preset of a built-in set; a split (`mnist-5k:train`) shares its set's preset."""
    if dataset in PRESETS:
        return PRESETS[dataset]
    base, sep, part = dataset.partition(":")
    return PRESETS.get(base) if sep and part in ("train", "test") else None


def default_name(dataset: str) -> str:
    """A model name from a dataset spec: 'ring-8' -> 'ring-8', 'folder:/x/Cats' -> 'cats'."""
    prefix, sep, rest = dataset.partition(":")
    raw = Path(rest.rstrip("/\\")).stem if sep and prefix in ("folder", "npz") else dataset
    name = re.sub(r"[^a-z0-9_.-]+", "-", raw.lower())
    name = re.sub(r"^[^a-z0-9]+", "", name)[:64].rstrip("-.")
    return name or "model"


def shape_hint(config: TrainConfig, data_root: Path | None = None) -> tuple[int, ...]:
    """The data's sample shape as far as it is known without loading anything."""
    if config.dataset in _BUILTIN_SHAPES:
        shape = _BUILTIN_SHAPES[config.dataset]
        if len(shape) == 3:
            size = config.image_size or shape[1]
            return (config.channels or shape[0], size, size)
        return shape
    kind = dataset_kind(config.dataset, data_root=data_root)
    if kind == "vector":
        return (2,)  # the real width is read when the array is loaded
    size = config.image_size or 64
    return (config.channels or 3, size, size)


def class_count_hint(config: TrainConfig) -> int:
    """The number of classes as far as it is known without loading anything (the real count
    of a folder or array is read when it is loaded)."""
    base = config.dataset.partition(":")[0]
    if base in _BUILTIN_CLASS_COUNTS:
        return _BUILTIN_CLASS_COUNTS[base]
    return 0 if config.dataset in _BUILTIN_SHAPES else 2  # the synthetic sets have no labels


def resolve_config(
    config: TrainConfig,
    sample_shape: tuple[int, ...] | None = None,
    *,
    data_root: Path | None = None,
    classes: tuple[str, ...] | None = None,
) -> tuple[TrainConfig, MLPConfig | DCGANConfig]:
    """The complete recipe and its architecture config. `sample_shape` and `classes` are the
    loaded data's: (D,) or (C, H, W), and its class names; without them they are inferred
    cheaply (see shape_hint, class_count_hint). Relative folder:/npz: paths are read from
    `data_root` (default: the current folder)."""
    kind = dataset_kind(config.dataset, data_root=data_root)  # DatasetError if unknown
    shape = tuple(sample_shape) if sample_shape is not None else shape_hint(config, data_root)
    num_classes = 0
    if config.conditional:
        num_classes = len(classes) if classes is not None else class_count_hint(config)
        if num_classes < 2:
            raise RecipeError(
                "conditional",
                f"conditional training needs labels, and dataset {config.dataset!r} has "
                f"{'none' if num_classes == 0 else 'one class'}: use a labelled set (digits, "
                "mnist-5k, stacked-mnist), an .npz with a 'y' array, or a folder with one "
                "sub-folder per class",
            )
    arch = config.arch or ("mlp" if kind == "vector" else "dcgan")
    if (arch == "mlp") != (kind == "vector"):
        raise TrainingError(
            f"arch {arch!r} does not fit dataset {config.dataset!r}: "
            f"use mlp for vector data and dcgan for images (this dataset holds {kind} data)"
        )
    preset = preset_for(config.dataset) or Preset(about="no preset")
    unset = {k: v for k, v in preset.train.items() if k not in config.model_fields_set}
    update: dict[str, Any] = {
        **unset,
        "name": config.name or default_name(config.dataset),
        "arch": arch,
    }
    resolved = config.model_copy(update=update)
    resolved = TrainConfig.model_validate(resolved.model_dump())  # re-check preset values
    arch_config = _arch_config(resolved, arch, shape, preset, num_classes)
    if resolved.batch_size % arch_config.pack:
        raise TrainingError(
            f"batch_size {resolved.batch_size} must be a multiple of arch_config.pack "
            f"{arch_config.pack} (PacGAN packs that many samples into one D input)"
        )
    return resolved.model_copy(update={"arch_config": _explicit(arch_config)}), arch_config


def _arch_config(
    config: TrainConfig, arch: str, shape: tuple[int, ...], preset: Preset, num_classes: int
) -> MLPConfig | DCGANConfig:
    overrides = dict(config.arch_config)
    if overrides.get("num_classes", num_classes) != num_classes:
        raise TrainingError(
            f"arch_config.num_classes = {overrides['num_classes']!r} disagrees with the data "
            f"({num_classes} classes{' when conditional' if num_classes else ''}); set "
            "conditional: true to train on the dataset's labels"
        )
    overrides["num_classes"] = num_classes
    family = overrides.pop("family", arch)
    if family != arch:
        raise TrainingError(f"arch_config.family {family!r} disagrees with arch {arch!r}")
    from_data: dict[str, Any]
    if arch == "mlp":
        from_data = {"data_dim": int(shape[0])}
    else:
        from_data = {"channels": int(shape[0]), "image_size": int(shape[1])}
    for key in _SHAPE_KEYS[arch]:
        if key in overrides and overrides[key] != from_data[key]:
            raise TrainingError(
                f"arch_config.{key} = {overrides[key]!r} disagrees with the data "
                f"({key} {from_data[key]}); set the top-level image_size / channels to resize"
            )
    values: dict[str, Any] = {**preset.arch, **overrides, **from_data}
    if num_classes and "pack" not in config.arch_config:
        values["pack"] = 1  # a preset's PacGAN packing: the class labels take its place
    if num_classes and "latent_codes" not in config.arch_config:
        values.pop("latent_codes", None)  # and its latent codes
    if arch == "dcgan" and config.loss == "wgan-gp":
        if overrides.get("d_batchnorm") is True:
            raise TrainingError(
                "arch_config.d_batchnorm must be false with loss 'wgan-gp': the gradient "
                "penalty is taken per sample, and batch norm mixes the samples of a batch"
            )
        values["d_batchnorm"] = False
    if arch == "mlp":
        return MLPConfig.model_validate(values, strict=True)
    return DCGANConfig.model_validate(values, strict=True)


def _explicit(arch_config: MLPConfig | DCGANConfig) -> dict[str, Any]:
    return arch_config.model_dump(mode="json")


def builtin_recipes() -> list[tuple[str, str, TrainConfig, MLPConfig | DCGANConfig]]:
    """(dataset, about, complete recipe, architecture) for every built-in dataset: what a job
    or a CLI run that names only the dataset trains."""
    from training.datasets import KNOWN_DATASETS

    recipes = []
    for dataset in KNOWN_DATASETS:
        resolved, arch = resolve_config(TrainConfig(dataset=dataset))
        preset = preset_for(dataset)
        about = preset.about if preset is not None else "the generic defaults"
        recipes.append((dataset, about, resolved, arch))
    return recipes
