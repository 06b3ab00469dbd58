"""Generator checkpoints: safetensors weights plus a JSON recipe, checked before use.

Layout inside a model directory (the one training publishes to and the service reads)::

    <model_dir>/<name>/<version:08d>.safetensors   generator weights (EMA), nothing else
    <model_dir>/<name>/<version:08d>.json          CheckpointMeta, including the weights' sha256
    <model_dir>/<name>/run/                        training's own files (resume state, pictures)

The version is the generator step the weights were taken at. The weights file is written
first and the JSON last, both atomically, so a JSON file that exists always names complete
weights. Loading never unpickles: safetensors holds tensors only.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import safetensors.torch
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from models.atomic import atomic_write_bytes, atomic_write_text
from models.config import ArchConfig, DCGANConfig, MLPConfig
from models.factory import build_generator

CHECKPOINT_FORMAT = "gan-generator/1"
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_NAME_RE = re.compile(MODEL_NAME_PATTERN)


class CheckpointError(Exception):
    """A checkpoint is missing, truncated, tampered with or inconsistent; the message says which."""


class MissingCheckpoint(CheckpointError):
    """No checkpoint of that name and version exists."""


class CheckpointMeta(BaseModel):
    """Everything needed to rebuild, verify and describe one generator version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["gan-generator/1"] = CHECKPOINT_FORMAT
    name: str = Field(pattern=MODEL_NAME_PATTERN)
    version: int = Field(ge=0, description="Generator step the weights were taken at.")
    arch: ArchConfig
    z_dim: int = Field(ge=1)
    output_kind: Literal["image", "vector"]
    output_shape: list[int]
    dataset: str
    classes: list[str] = Field(
        default_factory=list, description="Class names by label index (conditional models)."
    )
    step: int = Field(ge=0)
    loss: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    created: str
    weights_file: str
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def version_stem(version: int) -> str:
    return f"{version:08d}"


def validate_model_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(
            f"model name {name!r} must match {MODEL_NAME_PATTERN} "
            "(lower-case letters, digits, '.', '_' and '-', starting with a letter or digit)"
        )
    return name


def save_generator(
    model_dir: Path,
    name: str,
    generator: nn.Module,
    arch: MLPConfig | DCGANConfig,
    *,
    step: int,
    dataset: str,
    loss: str,
    hyperparameters: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    classes: list[str] | tuple[str, ...] = (),
) -> tuple[Path, CheckpointMeta]:
    """Publish `generator` as version `step` of model `name`. Returns the JSON path and meta."""
    validate_model_name(name)
    folder = Path(model_dir) / name
    stem = version_stem(step)
    state = {k: v.detach().to("cpu").contiguous() for k, v in generator.state_dict().items()}
    weights = safetensors.torch.save(state, metadata={"format": CHECKPOINT_FORMAT})
    meta = CheckpointMeta(
        name=name,
        version=step,
        arch=arch,
        z_dim=arch.z_dim,
        output_kind=arch.output_kind,
        output_shape=list(arch.output_shape),
        dataset=dataset,
        classes=list(classes),
        step=step,
        loss=loss,
        hyperparameters=_json_safe(hyperparameters or {}),
        metrics=_json_safe(metrics or {}),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        weights_file=f"{stem}.safetensors",
        weights_sha256=hashlib.sha256(weights).hexdigest(),
    )
    atomic_write_bytes(folder / meta.weights_file, weights)
    meta_path = folder / f"{stem}.json"
    atomic_write_text(meta_path, meta.model_dump_json(indent=2) + "\n")
    return meta_path, meta


def read_meta(meta_path: Path) -> CheckpointMeta:
    """Parse and validate a checkpoint's JSON; raise CheckpointError saying what is wrong."""
    meta_path = Path(meta_path)
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingCheckpoint(f"{meta_path}: no such checkpoint") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{meta_path}: metadata is not valid JSON ({exc})") from None
    try:
        meta = CheckpointMeta.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise CheckpointError(f"{meta_path}: metadata field {where!r}: {first['msg']}") from None
    if list(meta.arch.output_shape) != meta.output_shape or meta.arch.z_dim != meta.z_dim:
        raise CheckpointError(f"{meta_path}: output_shape or z_dim disagrees with the arch config")
    if len(meta.classes) != meta.arch.num_classes:
        raise CheckpointError(
            f"{meta_path}: {len(meta.classes)} class names for {meta.arch.num_classes} classes"
        )
    if len(set(meta.classes)) != len(meta.classes) or not all(meta.classes):
        raise CheckpointError(f"{meta_path}: class names must be distinct and non-empty")
    if Path(meta.weights_file).name != meta.weights_file:
        raise CheckpointError(f"{meta_path}: weights_file must be a bare file name")
    return meta


def read_verified_weights(meta_path: Path, meta: CheckpointMeta) -> dict[str, torch.Tensor]:
    """The weights named by `meta`, after checking their sha256."""
    weights_path = Path(meta_path).parent / meta.weights_file
    try:
        data = weights_path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{weights_path}: cannot read weights ({exc.strerror})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta.weights_sha256:
        raise CheckpointError(
            f"{weights_path}: sha256 {digest[:12]}… does not match the metadata's "
            f"{meta.weights_sha256[:12]}… (truncated or tampered)"
        )
    try:
        return safetensors.torch.load(data)
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise CheckpointError(f"{weights_path}: not a valid safetensors file ({exc})") from None


def load_generator(
    meta_path: Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild, verify and load a generator in eval mode on `device`."""
    meta = read_meta(meta_path)
    state = read_verified_weights(meta_path, meta)
    generator = build_generator(meta.arch)
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{meta_path}: weights do not fit the arch config ({exc})") from None
    return generator.to(device).eval(), meta


def list_checkpoints(model_dir: Path) -> list[Path]:
    """Every checkpoint JSON under `model_dir`, sorted by model name then version."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(p for p in model_dir.glob("*/*.json") if p.stem.isdigit())


def _json_safe(value: Any) -> Any:
    """Round-trip through JSON so tensors or numpy scalars never reach the metadata."""
    return json.loads(json.dumps(value, default=float))


DEFAULT_VERSION_FILE = "default.json"


def write_default_version(model_dir: Path, name: str, version: int) -> None:
    """Promote `version` as the default of model `name` (a file, so every replica sees it)."""
    validate_model_name(name)
    path = Path(model_dir) / name / DEFAULT_VERSION_FILE
    atomic_write_text(path, json.dumps({"version": int(version)}) + "\n")


def promote_version(model_dir: Path, name: str, version: int) -> CheckpointMeta:
    """The one checked promotion: verify `name@version` as the service does before serving it
    (metadata, sha256, weights that fit the network), then make it the default. Raises
    MissingCheckpoint when it does not exist, CheckpointError when it would be refused."""
    validate_model_name(name)
    meta_path = Path(model_dir) / name / f"{version_stem(version)}.json"
    _generator, meta = load_generator(meta_path, "cpu")
    if meta.name != name or meta.version != version:
        raise CheckpointError(
            f"{meta_path}: metadata names {meta.ref} but the file is {name}@{version}"
        )
    write_default_version(model_dir, name, version)
    return meta


def read_default_version(model_dir: Path, name: str) -> int | None:
    """The promoted version of `name`, or None when none was promoted (or the file is bad)."""
    path = Path(model_dir) / name / DEFAULT_VERSION_FILE
    try:
        version = json.loads(path.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, int) and version >= 0 else None
