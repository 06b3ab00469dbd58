"""Typed architecture configs. A checkpoint stores one of these, so it can rebuild its network."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator


class _ArchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    z_dim: int = Field(100, ge=1, le=4096, description="Dimension of the noise z ~ N(0, I).")
    pack: int = Field(
        1, ge=1, le=16, description="PacGAN packing: D judges this many samples at once."
    )
    spectral_norm: bool = Field(False, description="Spectral normalization on D's layers.")
    num_classes: int = Field(
        0,
        ge=0,
        le=1000,
        description="Classes G and D are conditioned on (0 = unconditional): a class embedding "
        "beside z in G, a projection discriminator.",
    )

    @model_validator(mode="after")
    def _conditional_packs_one(self) -> _ArchConfig:
        if self.num_classes > 0 and self.pack > 1:
            raise ValueError("a conditional network cannot pack samples: set pack to 1")
        return self


class MLPConfig(_ArchConfig):
    """Fully connected G and D for vector data (the 1-D and 2-D mixtures)."""

    family: Literal["mlp"] = "mlp"
    z_dim: int = Field(2, ge=1, le=4096, description="Dimension of the noise z ~ N(0, I).")
    data_dim: int = Field(2, ge=1, le=65536, description="Dimension of one data vector.")
    g_hidden: int = Field(400, ge=1, le=8192, description="Width of G's hidden layers.")
    g_layers: int = Field(4, ge=1, le=16, description="Number of hidden layers in G.")
    g_batchnorm: bool = Field(True, description="Batch norm after G's hidden layers.")
    g_shortcut_gain: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="A trainable linear map z -> output added to G's output, starting as this "
        "gain times the identity (0 = none). G then starts as a linear spread of z over the data.",
    )
    d_hidden: int = Field(200, ge=1, le=8192, description="Width of D's hidden layers.")
    d_layers: int = Field(3, ge=1, le=16, description="Number of hidden layers in D.")
    d_maxout: int = Field(
        5, ge=1, le=16, description="Maxout pieces per D unit (1 = LeakyReLU instead)."
    )

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.data_dim,)

    @property
    def output_kind(self) -> Literal["vector"]:
        return "vector"


def dcgan_upsamplings(image_size: int) -> int:
    """Number of stride-2 stages: the largest k with size / 2**k a whole number >= 4."""
    k = 0
    while image_size % (2 ** (k + 1)) == 0 and image_size // (2 ** (k + 1)) >= 4:
        k += 1
    return k


class DCGANConfig(_ArchConfig):
    """Transposed convolutions in G, strided convolutions in D (Radford et al., 2015)."""

    family: Literal["dcgan"] = "dcgan"
    image_size: int = Field(64, ge=8, le=128, description="Height and width in pixels.")
    channels: Literal[1, 3] = Field(3, description="1 for grayscale, 3 for RGB.")
    g_width: int = Field(64, ge=4, le=1024, description="G's channel width (ngf).")
    d_width: int = Field(64, ge=4, le=1024, description="D's channel width (ndf).")
    d_batchnorm: bool = Field(True, description="Batch norm in D (turn off for wgan-gp).")
    extra_layers: int = Field(
        0,
        ge=0,
        le=8,
        description="3x3 stride-1 conv layers added at half the image size: in G before its "
        "output layer, in D after its input layer (the n_extra_layers of the WGAN code).",
    )
    latent_codes: tuple[int, ...] = Field(
        (),
        max_length=8,
        description="Categorical codes in z (InfoGAN): code i is the argmax of its own "
        "latent_codes[i] components of z, fed to G as a one-hot vector and recovered from G's "
        "samples by a head on D. For example [10] on digits; [] = none.",
    )

    @field_validator("latent_codes", mode="before")
    @classmethod
    def _codes_from_json(cls, value: object) -> object:
        # JSON (a job, a checkpoint) spells the tuple as a list; strict validation wants a tuple
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _codes_fit_in_z(self) -> DCGANConfig:
        if any(not 2 <= size <= 100 for size in self.latent_codes):
            raise ValueError(f"each latent code needs 2 to 100 categories, got {self.latent_codes}")
        if sum(self.latent_codes) > self.z_dim:
            raise ValueError(
                f"latent_codes {list(self.latent_codes)} need {sum(self.latent_codes)} components "
                f"of z, more than z_dim {self.z_dim}"
            )
        if self.latent_codes and self.num_classes:
            raise ValueError(
                "latent_codes are for unconditional networks: a conditional one is told its class"
            )
        return self

    @model_validator(mode="after")
    def _size_has_a_stride_2_path(self) -> DCGANConfig:
        if dcgan_upsamplings(self.image_size) < 1:
            raise ValueError(
                f"image_size {self.image_size} must be 2**k times a whole number >= 4 "
                "(for example 8, 28, 32 or 64)"
            )
        return self

    @property
    def base_size(self) -> int:
        return self.image_size // 2 ** dcgan_upsamplings(self.image_size)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.channels, self.image_size, self.image_size)

    @property
    def output_kind(self) -> Literal["image"]:
        return "image"


ArchConfig = Annotated[MLPConfig | DCGANConfig, Field(discriminator="family")]

_ARCH_ADAPTER: TypeAdapter[MLPConfig | DCGANConfig] = TypeAdapter(ArchConfig)


def parse_arch_config(values: dict) -> MLPConfig | DCGANConfig:
    """An architecture config from its JSON form (with its `family`)."""
    return _ARCH_ADAPTER.validate_python(values)
