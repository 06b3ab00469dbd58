"""The training recipe: one validated object shared by the CLI, the loop and the jobs API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.checkpoint import MODEL_NAME_PATTERN
from models.latent import MAX_SEED

LossName = Literal["minimax", "non-saturating", "hinge", "wgan-gp"]


class TrainConfig(BaseModel):
    """Every field but `dataset` has a default; dataset-dependent defaults are filled in by
    `training.presets.resolve_config`, which only touches fields the user left unset."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: str = Field(
        description="gaussian-1d, ring-8, grid-25, digits, mnist-5k (each image set also as "
        ":train / :test), stacked-mnist, folder:PATH (images; one sub-folder per class labels "
        "them) or npz:PATH (an array; a 'y' array labels it).",
        examples=["ring-8"],
    )
    name: str | None = Field(
        None,
        pattern=MODEL_NAME_PATTERN,
        description="Model name in the model directory (default: derived from the dataset).",
    )
    arch: Literal["mlp", "dcgan"] | None = Field(
        None, description="Network family (default: mlp for vector data, dcgan for images)."
    )
    arch_config: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the architecture config (models.config), e.g. {'g_width': 32}.",
    )
    conditional: bool = Field(
        False,
        description="Condition G and D on the dataset's class labels (a class embedding in G, a "
        "projection discriminator); samples are then asked for by class.",
    )
    loss: LossName = Field("non-saturating", description="GAN loss.")
    steps: int = Field(2000, ge=1, le=10_000_000, description="Generator steps.")
    batch_size: int = Field(64, ge=1, le=8192, description="Samples per minibatch.")
    d_steps: int = Field(1, ge=1, le=100, description="k: discriminator steps per generator step.")
    optimizer: Literal["adam", "sgd"] = Field("adam", description="Adam, or SGD with momentum.")
    lr_g: float = Field(2e-4, gt=0, le=1.0, description="Generator learning rate.")
    lr_d: float = Field(2e-4, gt=0, le=1.0, description="Discriminator learning rate.")
    lr_decay_from: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Fraction of the steps after which both learning rates fall linearly to 0 "
        "at the last step (1 = constant).",
    )
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    ema_decay: float = Field(
        0.999, ge=0, lt=1, description="EMA of G's weights (0 = publish the raw G)."
    )
    r1_gamma: float = Field(0.0, ge=0, le=1e4, description="R1 penalty weight on real data.")
    code_weight: float = Field(
        1.0,
        ge=0,
        le=100,
        description="Weight of the latent codes' recovery loss (InfoGAN's lambda) in both "
        "networks' losses; only with arch_config.latent_codes.",
    )
    gp_weight: float = Field(10.0, ge=0, le=1e4, description="Gradient penalty weight (wgan-gp).")
    image_size: int | None = Field(
        None, ge=8, le=128, description="Resize folder images to this size (default 64)."
    )
    channels: Literal[1, 3] | None = Field(
        None, description="1 = grayscale, 3 = RGB (default: what the images are)."
    )
    checkpoint_every: int = Field(
        500, ge=1, le=10_000_000, description="Publish a checkpoint every this many steps."
    )
    log_every: int = Field(50, ge=1, le=1_000_000, description="Report metrics every N steps.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed: same seed, same run (on CPU).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA if present.")
    bf16: bool | None = Field(
        None,
        description="bf16 autocast: true on CUDA and on CPUs with avx512_bf16 or AMX "
        "(elsewhere float32); false never; unset (auto) for image models on such a CPU, "
        "float32 on CUDA (faster there for these networks) and for 2-D and 1-D data.",
    )

    @field_validator("channels", mode="before")
    @classmethod
    def _channels_is_an_integer(cls, value: object) -> object:
        # A Literal compares by equality, so 1.0 and True would pass as 1 without this.
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"channels must be the integer 1 or 3, got {value!r}")
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset_is_printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("dataset must not contain control characters (such as NUL)")
        return value
