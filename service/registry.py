"""The model registry: which versions exist, which are refused, which is default, which are loaded.

Source of truth is the model directory (shared by every replica):
- a version is `<name>/<version:08d>.json` plus its weights; `scan()` verifies each new or
  changed one (metadata, sha256, shapes) and refuses it, with the reason, if anything is off;
- the default version of a model is its promoted one (`default.json`, re-read on every scan),
  else its newest usable version;
- the model used when a request names none is GAN_DEFAULT_MODEL if set, else the model whose
  usable version was created most recently.

At most `max_models_on_device` generators are held on the device, least recently used leaving
first; `acquire` (called only by the device thread) loads one on demand. A request is pinned
to a concrete version when it is admitted, and a device batch holds its own reference to the
generator, so neither a new version nor an eviction can break a request in flight.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from models.checkpoint import (
    CheckpointError,
    CheckpointMeta,
    MissingCheckpoint,
    list_checkpoints,
    load_generator,
    promote_version,
    read_default_version,
)
from service.errors import ModelUnavailable, NoModelPublished, UnknownModel, VersionRefused
from service.inference import Calibration, calibrate, optimize_generator
from service.metrics import ServiceMetrics

log = logging.getLogger("service.registry")

Stamp = tuple[int, int, int, int]  # (json mtime_ns, json size, weights mtime_ns, weights size)


@dataclass
class VersionEntry:
    name: str
    version: int
    meta_path: Path
    stamp: Stamp
    meta: CheckpointMeta | None = None
    refused: str | None = None  # why, when the checkpoint is not served

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def usable(self) -> bool:
        return self.meta is not None and self.refused is None


@dataclass
class LoadedModel:
    """A generator on the device, ready to run, with what the batcher needs to run it."""

    meta: CheckpointMeta
    module: torch.nn.Module
    calibration: Calibration
    device: torch.device

    @property
    def ref(self) -> str:
        return self.meta.ref

    @property
    def kind(self) -> Literal["image", "vector"]:
        return self.meta.output_kind


@dataclass
class ScanResult:
    added: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    new_defaults: list[str] = field(default_factory=list)  # defaults that changed this scan


class ModelRegistry:
    def __init__(
        self,
        model_dir: Path,
        device: torch.device,
        *,
        max_batch: int,
        max_loaded: int,
        default_model: str,
        metrics: ServiceMetrics,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.device = device
        self.max_batch = max_batch
        self.max_loaded = max_loaded
        self.default_model = default_model
        self.metrics = metrics
        self._lock = threading.Lock()
        self._entries: dict[str, dict[int, VersionEntry]] = {}  # name -> version -> entry
        self._promoted: dict[str, int | None] = {}
        self._defaults: dict[str, str] = {}  # name -> ref of its default version
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()  # LRU, newest last
        self._scan_lock = threading.Lock()

    # ---- discovery (watcher thread, start-up) ----

    def scan(self) -> ScanResult:
        """Compare the directory with what is known; verify new or changed checkpoints."""
        with self._scan_lock:
            result = ScanResult()
            seen: dict[str, dict[int, VersionEntry]] = {}
            for meta_path in list_checkpoints(self.model_dir):
                name, version = meta_path.parent.name, int(meta_path.stem)
                stamp = _stamp(meta_path)
                if stamp is None:
                    continue  # vanished between listing and stat
                known = self._entries.get(name, {}).get(version)
                if known is not None and known.stamp == stamp:
                    seen.setdefault(name, {})[version] = known
                    continue
                entry = self._verify(name, version, meta_path, stamp)
                seen.setdefault(name, {})[version] = entry
                (result.refused if entry.refused else result.added).append(entry.ref)
            promoted = {name: read_default_version(self.model_dir, name) for name in seen}
            with self._lock:
                for name, versions in self._entries.items():
                    for version, entry in versions.items():
                        if version not in seen.get(name, {}):
                            result.removed.append(entry.ref)
                self._entries = seen
                self._promoted = promoted
                old_defaults = self._defaults
                self._defaults = self._compute_defaults()
                for ref in result.refused + result.removed:
                    self._loaded.pop(ref, None)  # a changed file is no longer the one verified
                self.metrics.models_on_device.set(len(self._loaded))
            result.new_defaults = [
                ref for name, ref in self._defaults.items() if old_defaults.get(name) != ref
            ]
            for ref in result.refused:
                self.metrics.model_refusals.labels(ref.partition("@")[0]).inc()
            for ref in result.removed:
                log.info("checkpoint %s is gone from the model directory", ref)
            return result

    def _verify(self, name: str, version: int, meta_path: Path, stamp: Stamp) -> VersionEntry:
        entry = VersionEntry(name, version, meta_path, stamp)
        try:
            _generator, meta = load_generator(meta_path, "cpu")  # checks sha256 and shapes
            if meta.name != name or meta.version != version:
                raise CheckpointError(
                    f"{meta_path}: metadata names {meta.ref} but the file is {name}@{version}"
                )
            entry.meta = meta
            log.info("checkpoint %s verified (sha256 %s…)", entry.ref, meta.weights_sha256[:12])
        except CheckpointError as exc:
            entry.refused = self._relative(str(exc))
            log.warning("checkpoint %s refused: %s", entry.ref, exc, extra={"model": entry.ref})
        except Exception as exc:  # anything unforeseen in a file must not stop the service
            entry.refused = self._relative(
                f"{meta_path}: cannot be loaded ({type(exc).__name__}: {exc})"
            )
            log.warning("checkpoint %s refused: %s", entry.ref, entry.refused)
        return entry

    def _compute_defaults(self) -> dict[str, str]:
        defaults = {}
        for name, versions in self._entries.items():
            usable = sorted(v for v, e in versions.items() if e.usable)
            if not usable:
                continue
            promoted = self._promoted.get(name)
            version = promoted if promoted in usable else usable[-1]
            defaults[name] = f"{name}@{version}"
        return defaults

    # ---- requests (event loop) ----

    def resolve(self, model: str | None) -> VersionEntry:
        """The concrete version a request is served by; raises the reason when there is none."""
        with self._lock:
            if not self._defaults:
                raise NoModelPublished(self._nothing_published())
            if model is None:
                name = self.default_model or self._newest_model()
                if name not in self._defaults:
                    raise NoModelPublished(
                        f"the default model {name!r} (GAN_DEFAULT_MODEL) has no usable version "
                        f"yet; models: {sorted(self._defaults)}"
                    )
                return self._entry(self._defaults[name])
            name, _, version_text = model.partition("@")
            versions = self._entries.get(name)
            if versions is None:
                raise UnknownModel(f"no model named {name!r}; models: {sorted(self._entries)}")
            if not version_text:
                if name not in self._defaults:
                    reasons = "; ".join(e.refused or "" for e in versions.values())
                    raise VersionRefused(f"every version of {name!r} was refused: {reasons}")
                return self._entry(self._defaults[name])
            entry = versions.get(int(version_text))
            if entry is None:
                raise UnknownModel(
                    f"model {name!r} has no version {version_text}; versions: {sorted(versions)}"
                )
            if not entry.usable:
                raise VersionRefused(f"{entry.ref} was refused: {entry.refused}")
            return entry

    def _entry(self, ref: str) -> VersionEntry:
        name, _, version = ref.partition("@")
        return self._entries[name][int(version)]

    def _newest_model(self) -> str:
        def created(name: str) -> tuple[str, int, str]:
            entry = self._entry(self._defaults[name])
            newest = max(
                (e for e in self._entries[name].values() if e.usable),
                key=lambda e: (e.meta.created, e.stamp[0]),  # type: ignore[union-attr]
            )
            return (newest.meta.created, newest.stamp[0], entry.name)  # type: ignore[union-attr]

        return max(self._defaults, key=created)

    def _nothing_published(self) -> str:
        refused = [e.ref for v in self._entries.values() for e in v.values() if e.refused]
        extra = f" ({len(refused)} refused: see GET /models)" if refused else ""
        return (
            f"no model has been published yet in the model directory{extra}: train one "
            "(POST /train-jobs or `python -m training`); new checkpoints are picked up "
            "without a restart"
        )

    def promote(self, name: str, version: int) -> str:
        """Make `version` the default of `name` for every replica, through the same checked
        promotion a finishing training job uses (models.checkpoint.promote_version)."""
        with self._lock:
            versions = self._entries.get(name, {})
            entry = versions.get(version)
            if entry is not None and not entry.usable:
                raise VersionRefused(f"{entry.ref} was refused: {entry.refused}")
        try:
            promote_version(self.model_dir, name, version)
        except MissingCheckpoint:
            if not versions:
                raise UnknownModel(
                    f"no model named {name!r}; models: {sorted(self._entries)}"
                ) from None
            raise UnknownModel(
                f"model {name!r} has no version {version}; versions: {sorted(versions)}"
            ) from None
        except CheckpointError as exc:
            raise VersionRefused(
                f"{name}@{version} was refused: {self._relative(str(exc))}"
            ) from None
        with self._lock:
            self._promoted[name] = version
            self._defaults = self._compute_defaults()
        log.info("promoted %s@%d to default", name, version)
        return f"{name}@{version}"

    def _relative(self, text: str) -> str:
        """Paths in a message relative to the model directory: answers readable without a
        key never show where the service keeps its files."""
        for root in {str(self.model_dir.resolve()), str(self.model_dir)}:
            text = text.replace(f"{root}/", "")
        return text

    def snapshot(self) -> list[dict]:
        """Every model with its versions, for GET /models."""
        with self._lock:
            loaded = {ref: m.calibration for ref, m in self._loaded.items()}
            models = []
            for name in sorted(self._entries):
                versions = []
                for version in sorted(self._entries[name]):
                    e = self._entries[name][version]
                    cal = loaded.get(e.ref)
                    versions.append({
                        "ref": e.ref,
                        "version": version,
                        "status": "refused" if e.refused else "ready",
                        "refused_reason": e.refused,
                        "default": self._defaults.get(name) == e.ref,
                        "loaded": cal is not None,
                        "device_batch_sizes": list(cal.buckets) if cal else None,
                        "meta": e.meta.model_dump(mode="json") if e.meta else None,
                    })  # fmt: skip
                models.append({
                    "name": name,
                    "default_version": _version_of(self._defaults.get(name)),
                    "promoted_version": self._promoted.get(name),
                    "versions": versions,
                })  # fmt: skip
            return models

    def default_model_name(self) -> str | None:
        with self._lock:
            if not self._defaults:
                return None
            if self.default_model:
                return self.default_model if self.default_model in self._defaults else None
            return self._newest_model()

    def preload_order(self) -> list[str]:
        """What to load at start: defaults (newest model first), then other versions, newest
        first, up to the device cap."""
        with self._lock:
            if not self._defaults:
                return []
            first = self.default_model if self.default_model in self._defaults else None
            first = first or self._newest_model()
            order = [self._defaults[first]]
            order += [ref for name, ref in self._defaults.items() if name != first]
            others = sorted(
                (e for v in self._entries.values() for e in v.values() if e.usable),
                key=lambda e: (e.meta.created, e.version),  # type: ignore[union-attr]
                reverse=True,
            )
            order += [e.ref for e in others if e.ref not in order]
            return order[: self.max_loaded]

    def is_loaded(self, ref: str) -> bool:
        with self._lock:
            return ref in self._loaded

    def loaded_count(self) -> int:
        with self._lock:
            return len(self._loaded)

    # ---- the device (device thread only) ----

    def acquire(self, ref: str) -> LoadedModel:
        """The loaded generator of `ref`, loading it (and evicting the least recent) if needed."""
        with self._lock:
            model = self._loaded.get(ref)
            if model is not None:
                self._loaded.move_to_end(ref)
                return model
            entry = self._entry_or_none(ref)
        if entry is None or not entry.usable:
            reason = entry.refused if entry else "its checkpoint is no longer in the model dir"
            raise ModelUnavailable(f"{ref} cannot be served: {reason}")
        try:
            generator, meta = load_generator(entry.meta_path, self.device)
        except CheckpointError as exc:
            with self._lock:
                entry.refused = self._relative(str(exc))
                self._defaults = self._compute_defaults()
            self.metrics.model_refusals.labels(entry.name).inc()
            log.warning("checkpoint %s refused on load: %s", ref, exc)
            raise VersionRefused(f"{ref} was refused: {exc}") from None
        module = optimize_generator(generator)
        calibration = calibrate(module, meta.z_dim, self.max_batch, self.device)
        model = LoadedModel(meta, module, calibration, self.device)
        with self._lock:
            self._loaded[ref] = model
            while len(self._loaded) > self.max_loaded:
                evicted, _ = self._loaded.popitem(last=False)
                log.info("evicted %s from the device (least recently used)", evicted)
            self.metrics.models_on_device.set(len(self._loaded))
        self.metrics.model_loads.labels(meta.name).inc()
        log.info(
            "loaded %s on %s: device batch sizes %s, exact=%s, %.1f ms per full batch",
            ref, self.device, list(calibration.buckets), calibration.exact,
            calibration.forward_s * 1000,
        )  # fmt: skip
        return model

    def _entry_or_none(self, ref: str) -> VersionEntry | None:
        name, _, version = ref.partition("@")
        return self._entries.get(name, {}).get(int(version))


def _stamp(meta_path: Path) -> Stamp | None:
    try:
        js = meta_path.stat()
    except OSError:
        return None
    try:
        weights = meta_path.with_suffix(".safetensors").stat()
        w = (weights.st_mtime_ns, weights.st_size)
    except OSError:
        w = (0, -1)
    return (js.st_mtime_ns, js.st_size, *w)


def _version_of(ref: str | None) -> int | None:
    return int(ref.partition("@")[2]) if ref else None
