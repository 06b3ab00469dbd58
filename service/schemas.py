"""Request and response bodies of the sample service: checked at the edge, extra fields refused."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from models.latent import MAX_SEED

MODEL_REF_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}(@[0-9]{1,18})?$"
MAX_OFFSET = 2**53 - 1  # exact in every JSON client

_CANONICAL_INT = re.compile(r"0|[1-9][0-9]{0,18}")


def _canonical_int(value: object) -> object:
    """Path and query integers in plain decimal only: '+1', '01', ' 1', '1_0' and '1.0'
    are refused, so each sample address has exactly one spelling."""
    if isinstance(value, str) and not _CANONICAL_INT.fullmatch(value):
        raise ValueError("must be written in plain decimal (no sign, leading zero, space or '.')")
    return value


def canonical_int(ge: int, le: int) -> Any:
    """An integer path or query parameter in [ge, le] with one spelling per value. The bounds
    sit beside the validator (not in Path/Query), so that OpenAPI shows them as minimum and
    maximum."""
    return Annotated[int, Ge(ge), Le(le), BeforeValidator(_canonical_int)]


MAX_CLASS_INDEX = 999  # models.config caps num_classes at 1000
MAX_CLASS_NAME = 256


def _class_label(value: object) -> int | str:
    """One error naming the field for anything but an index or a name (a union of int and
    str would report one error per member, at made-up locations)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CLASS_INDEX:
        return value
    if isinstance(value, str) and 1 <= len(value) <= MAX_CLASS_NAME:
        return value
    raise PydanticCustomError(
        "class_label",
        f"must be a class index from 0 to {MAX_CLASS_INDEX} (an integer) or a class name "
        f"(a string of 1 to {MAX_CLASS_NAME} characters)",
    )


ClassLabel = Annotated[
    int | str,
    PlainValidator(_class_label),
    WithJsonSchema({"anyOf": [
        {"type": "integer", "minimum": 0, "maximum": MAX_CLASS_INDEX},
        {"type": "string", "minLength": 1, "maxLength": MAX_CLASS_NAME},
    ]}),
    Field(description="A class by index (0 .. classes - 1) or by name (GET /models: classes)."),
]  # fmt: skip

SampleFormat = Literal["png", "jpeg", "webp", "zip", "grid", "json", "npy"]


class SampleRequest(BaseModel):
    """POST /samples. Sample i of the answer is sample `offset + i` of `seed`: it depends only
    on (model version, seed, offset + i, its label), never on n or on other requests."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"n": 16, "seed": 42, "model": "digits@2000", "format": "zip"},
                {"n": 1, "seed": 7, "offset": 3, "truncation": 0.7},
                {"n": 256, "seed": 1, "model": "ring-8", "format": "json"},
                {"n": 16, "seed": 42, "model": "digits-cond", "label": 7, "format": "grid"},
            ]
        },
    )

    n: int = Field(1, ge=1, description="Number of samples (at most GAN_MAX_SAMPLES_PER_REQUEST).")
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="0 <= seed < 2**63; omitted = a random seed, "
        "returned in the X-Seed header."
    )  # fmt: skip
    model: str | None = Field(
        None,
        pattern=MODEL_REF_PATTERN,
        description="'name' (its default version) or 'name@version' (pinned). Omitted: "
        "GAN_DEFAULT_MODEL, else the model with the most recently created version.",
    )
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Index of the first sample.")
    truncation: float = Field(
        1.0, ge=0.0, le=1.0, allow_inf_nan=False,
        description="psi in [0, 1]: z is scaled by psi (1 = no truncation, 0 = the mean).",
    )  # fmt: skip
    format: SampleFormat | None = Field(
        None,
        description="png | jpeg | webp (n = 1), zip | grid | json | npy. Omitted: the Accept "
        "header decides, else png for n = 1 and zip for n > 1 (json for vector models).",
    )
    scale: int | None = Field(
        None, ge=1, le=32, description="grid only: enlarge each sample this many times "
        "(nearest neighbour). Omitted: samples at least 64 px wide (8x8: 8, 28x28: 3).",
    )  # fmt: skip
    padding: int | None = Field(
        None, ge=0, le=64, description="grid only: white pixels between and around the "
        "samples. Omitted: 2 x scale.",
    )  # fmt: skip
    label: ClassLabel | None = Field(
        None, description="Conditional models only: the class of every sample, by index or "
        "by name. Omitted (and no labels): sample i is class (offset + i) mod the number of "
        "classes, every class in turn. Unconditional models refuse it.",
    )  # fmt: skip
    labels: list[ClassLabel] | None = Field(
        None, description="Conditional models only: one class per sample (n of them), by "
        "index or by name; not together with label.",
    )  # fmt: skip


WalkFormat = Literal["webp", "gif", "zip", "json", "npy"]


class InterpolateRequest(BaseModel):
    """POST /samples/interpolate: a latent walk between two sample addresses. Frame k of a walk
    of `steps` frames depends only on (model version, the two addresses, method, truncation,
    steps, label, k); its first and last frames are the samples at the two addresses (with
    the walk's label, for a conditional model)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"model": "digits@2000", "seed_a": 1, "seed_b": 2, "steps": 16},
                {"model": "digits", "seed_a": 7, "index_a": 3, "seed_b": 7, "index_b": 4,
                 "steps": 8, "method": "lerp", "format": "zip"},
            ]
        },
    )  # fmt: skip

    model: str | None = Field(None, pattern=MODEL_REF_PATTERN, description="As in POST /samples.")
    seed_a: int = Field(
        ge=0, le=MAX_SEED, description="The walk starts at sample index_a of seed_a."
    )
    index_a: int = Field(0, ge=0, le=MAX_OFFSET)
    seed_b: int = Field(ge=0, le=MAX_SEED, description="It ends at sample index_b of seed_b.")
    index_b: int = Field(0, ge=0, le=MAX_OFFSET)
    steps: int = Field(
        16, ge=2, description="Frames, both ends included (at most GAN_MAX_SAMPLES_PER_REQUEST)."
    )
    method: Literal["slerp", "lerp"] = Field(
        "slerp", description="slerp: along the great circle (keeps z's norm); lerp: straight."
    )
    truncation: float = Field(1.0, ge=0.0, le=1.0, allow_inf_nan=False)
    format: WalkFormat | None = Field(
        None,
        description="webp | gif (animated), zip (PNG frames), json (base64 PNG frames; points "
        "for vector models), npy. Omitted: webp, or json for vector models.",
    )
    frame_ms: int = Field(100, ge=20, le=5000, description="Milliseconds per animation frame.")
    label: ClassLabel | None = Field(
        None, description="Conditional models only: the class of every frame, by index or by "
        "name. Omitted: the class sample index_a has by default (index_a mod the number of "
        "classes), so the first frame is the sample at address a. Unconditional models "
        "refuse it.",
    )  # fmt: skip


class PromoteRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"version": 2000}]}
    )

    version: int = Field(ge=0, description="A usable version of the model.")


class PromoteResult(BaseModel):
    model: str
    default_version: int
    ref: str


class VersionView(BaseModel):
    ref: str = Field(examples=["digits@2000"])
    version: int
    status: Literal["ready", "refused"]
    refused_reason: str | None = Field(
        None, description="Why the checkpoint is not served (corrupt, truncated, tampered...)."
    )
    default: bool
    loaded: bool = Field(description="Held on the device right now.")
    device_batch_sizes: list[int] | None = Field(
        None, description="The padded batch sizes the device runs for this version (exact)."
    )
    inference_dtype: Literal["float32", "bfloat16"] | None = Field(
        None, description="What the loaded generator computes in (GAN_INFERENCE_DTYPE)."
    )
    meta: dict[str, Any] | None = Field(
        None, description="The checkpoint's metadata: dataset, step, metrics, created, sha256..."
    )
    conditional: bool | None = Field(
        None, description="Takes a class (label) per sample; null when the version is refused."
    )
    classes: list[str] = Field(
        default_factory=list, description="Class names by index (empty: unconditional)."
    )


class ModelView(BaseModel):
    name: str
    default_version: int | None
    promoted_version: int | None = Field(description="Set by POST /models/{model}/promote.")
    versions: list[VersionView]


class ModelList(BaseModel):
    default_model: str | None = Field(description="Served when a request names no model.")
    models: list[ModelView]
