"""The model catalog: which versions exist, which are refused, which is the default.

Source of truth is the model directory (shared by every replica):
- a version is `<name>/<version:08d>.json` plus its weights; `scan()` verifies each new or
  changed one (metadata, sha256, shapes) and refuses it, with the reason, if anything is off;
- the default version of a model is its promoted one (`default.json`, re-read on every scan),
  else its newest usable version;
- the model used when a request names none is GAN_DEFAULT_MODEL if set, else the model whose
  usable version was created most recently.

Reasons name files relative to the model directory: answers readable without a key never show
where the service keeps its files. Thread-safe: the watcher thread scans, the event loop
resolves and lists, the device thread refuses a version that fails to load
(service/device_cache.py holds the generators themselves).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.checkpoint import (
    CheckpointError,
    CheckpointMeta,
    MissingCheckpoint,
    list_checkpoints,
    load_generator,
    promote_version,
    read_default_version,
    version_stem,
)
from service.errors import DefaultVersion, NoModelPublished, UnknownModel, VersionRefused
from service.metrics import ServiceMetrics

MISS_SCAN_INTERVAL_S = 0.5

log = logging.getLogger("service.catalog")

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


@dataclass(frozen=True)
class ModelState:
    """One model as the catalog sees it at one moment (copies: later scans do not change it)."""

    name: str
    default_version: int | None
    promoted_version: int | None  # set by POST /models/{model}/promote
    versions: list[VersionEntry]  # ascending


@dataclass
class ScanResult:
    added: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    new_defaults: list[str] = field(default_factory=list)  # defaults that changed this scan


class ModelCatalog:
    def __init__(self, model_dir: Path, *, default_model: str, metrics: ServiceMetrics) -> None:
        self.model_dir = Path(model_dir)
        self.default_model = default_model
        self.metrics = metrics
        self._lock = threading.Lock()
        self._entries: dict[str, dict[int, VersionEntry]] = {}  # name -> version -> entry
        self._promoted: dict[str, int | None] = {}
        self._defaults: dict[str, str] = {}  # name -> ref of its default version
        self._scan_lock = threading.Lock()
        self.scan_on_miss: Callable[[], object] | None = None  # set by the runtime
        self._last_miss_scan = -math.inf

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

    def refuse(self, ref: str, reason: str) -> str:
        """Stop serving `ref` (its file failed when the device loaded it) until it changes on
        disk; the reason as answers show it."""
        reason = self._relative(reason)
        with self._lock:
            entry = self._entry_or_none(ref)
            if entry is not None:
                entry.refused = reason
                self._defaults = self._compute_defaults()
        self.metrics.model_refusals.labels(ref.partition("@")[0]).inc()
        return reason

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

    async def find(self, model: str | None) -> VersionEntry:
        """resolve(), but a name or version not known yet is looked for once more in the
        directory first: a client told that a job finished may ask for its model before the
        next periodic scan. The scan runs in a thread, so the event loop never waits on the
        disk or a checkpoint's sha256. On-demand scans are at most one per
        MISS_SCAN_INTERVAL_S, so asking for names that do not exist costs no more than the
        watcher does."""
        try:
            return self.resolve(model)
        except (UnknownModel, NoModelPublished):
            if self.scan_on_miss is None or not self._miss_scan_due():
                raise
        await asyncio.to_thread(self.scan_on_miss)
        return self.resolve(model)

    def _miss_scan_due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last_miss_scan < MISS_SCAN_INTERVAL_S:
                return False
            self._last_miss_scan = now
            return True

    def resolve(self, model: str | None) -> VersionEntry:
        """The concrete version a request is served by, among the versions known now; raises
        the reason when there is none."""
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

    def entry(self, ref: str) -> VersionEntry | None:
        """The entry of `name@version`, usable or not; None when it is not in the directory."""
        with self._lock:
            return self._entry_or_none(ref)

    def _entry(self, ref: str) -> VersionEntry:
        name, _, version = ref.partition("@")
        return self._entries[name][int(version)]

    def _entry_or_none(self, ref: str) -> VersionEntry | None:
        name, _, version = ref.partition("@")
        return self._entries.get(name, {}).get(int(version))

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

    def delete(self, name: str, version: int) -> str:
        """Remove `name@version` from the model directory: its JSON first, so no reader finds
        a JSON without its weights. Refused for the model's default version (its promoted
        one, else its newest usable one): promote another version first. The caller scans
        afterwards, so the catalog stops listing it."""
        meta_path = self.model_dir / name / f"{version_stem(version)}.json"
        if not meta_path.is_file():
            folder = self.model_dir / name
            if not folder.is_dir():
                with self._lock:
                    known = sorted(self._entries)
                raise UnknownModel(f"no model named {name!r}; models: {known}")
            versions = sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())
            raise UnknownModel(f"model {name!r} has no version {version}; versions: {versions}")
        promoted = read_default_version(self.model_dir, name)
        with self._lock:
            default = _version_of(self._defaults.get(name))
        if version in (promoted, default):
            raise DefaultVersion(
                f"{name}@{version} is the default version of {name!r}; promote another version "
                f"first (POST /models/{name}/promote), then delete this one"
            )
        meta_path.unlink(missing_ok=True)
        meta_path.with_suffix(".safetensors").unlink(missing_ok=True)
        log.info("deleted %s@%d from the model directory", name, version)
        return f"{name}@{version}"

    def _relative(self, text: str) -> str:
        for root in {str(self.model_dir.resolve()), str(self.model_dir)}:
            text = text.replace(f"{root}/", "")
        return text

    def snapshot(self) -> list[ModelState]:
        """Every model with its versions, by name (GET /models)."""
        with self._lock:
            return [
                ModelState(
                    name=name,
                    default_version=_version_of(self._defaults.get(name)),
                    promoted_version=self._promoted.get(name),
                    versions=[dataclasses.replace(versions[v]) for v in sorted(versions)],
                )
                for name, versions in sorted(self._entries.items())
            ]

    def default_model_name(self) -> str | None:
        with self._lock:
            if not self._defaults:
                return None
            if self.default_model:
                return self.default_model if self.default_model in self._defaults else None
            return self._newest_model()

    def preload_order(self, limit: int) -> list[str]:
        """What to load at start, at most `limit`: defaults (newest model first), then other
        versions, newest first."""
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
            return order[:limit]


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
