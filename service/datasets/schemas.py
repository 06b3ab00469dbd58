"""What the datasets API answers: a dataset's manifest (also its manifest.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from models.checkpoint import MODEL_NAME_PATTERN

DATASET_NAME_PATTERN = MODEL_NAME_PATTERN  # ^[a-z0-9][a-z0-9_.-]{0,63}$


class DatasetView(BaseModel):
    name: str
    spec: str = Field(description="The `dataset` a training job names to train on it.")
    format: Literal["images", "array"]
    samples: int
    image_size: int | None = Field(
        description="Side of the square images a job trains on unless it sets image_size: "
        "64 for folders (the loader resizes them), an array's own size; an array whose size "
        "no network takes is checked at 64, and a job on it sets image_size. Null for vectors."
    )
    channels: int | None = Field(description="1 or 3; null for vectors.")
    shape: list[int] = Field(description="One sample's shape: [C, H, W] or [D].")
    classes: list[str] = Field(description="Class names in label order; [] if unlabelled.")
    class_counts: dict[str, int]
    bytes: int = Field(description="Size of the upload as received.")
    created: str
