"""The generators held on the device: at most `max_models_on_device`, least recently used
leaving first.

`acquire` (called only by the device thread, service/batcher.py) loads a version on demand:
weights from the catalog's verified checkpoint, batch norm folded, a conditional generator
wrapped to read its label from its row, exact batch sizes calibrated (service/inference.py).
A request is pinned to a concrete version when it is admitted, and a device batch holds its
own reference to the generator, so neither a new version nor an eviction can break a request
in flight. Other threads only ask what is loaded,
or `discard` versions the catalog no longer serves.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch

from models.checkpoint import CheckpointError, CheckpointMeta, load_generator
from service.catalog import ModelCatalog
from service.errors import ModelUnavailable, VersionRefused
from service.inference import Calibration, calibrate, inference_dtype, serving_module
from service.metrics import ServiceMetrics

log = logging.getLogger("service.device_cache")


@dataclass
class LoadedModel:
    """A generator on the device, ready to run, with what the batcher needs to run it."""

    meta: CheckpointMeta
    module: torch.nn.Module
    calibration: Calibration
    device: torch.device
    dtype: torch.dtype = torch.float32

    @property
    def ref(self) -> str:
        return self.meta.ref

    @property
    def kind(self) -> Literal["image", "vector"]:
        return self.meta.output_kind

    @property
    def input_width(self) -> int:
        """Columns of one device row: z, plus the class index for a conditional model."""
        return self.meta.z_dim + (1 if self.meta.arch.num_classes else 0)


class DeviceCache:
    def __init__(
        self,
        catalog: ModelCatalog,
        device: torch.device,
        *,
        max_batch: int,
        max_loaded: int,
        metrics: ServiceMetrics,
        dtype: str = "auto",
    ) -> None:
        self.catalog = catalog
        self.device = device
        self.dtype_choice = dtype
        self.max_batch = max_batch
        self.max_loaded = max_loaded
        self.metrics = metrics
        self._lock = threading.Lock()
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()  # LRU, newest last

    # ---- any thread ----

    def is_loaded(self, ref: str) -> bool:
        with self._lock:
            return ref in self._loaded

    def loaded_count(self) -> int:
        with self._lock:
            return len(self._loaded)

    def loaded(self) -> dict[str, Calibration]:
        """The versions on the device, with the batch sizes each runs."""
        with self._lock:
            return {ref: model.calibration for ref, model in self._loaded.items()}

    def discard(self, refs: Iterable[str]) -> None:
        """Drop versions the catalog refused or lost: a changed file is no longer the one
        verified. Batches already holding one finish with it."""
        with self._lock:
            for ref in refs:
                self._loaded.pop(ref, None)
            self.metrics.models_on_device.set(len(self._loaded))

    # ---- the device thread only ----

    def acquire(self, ref: str) -> LoadedModel:
        """The loaded generator of `ref`, loading it (and evicting the least recent) if needed."""
        with self._lock:
            model = self._loaded.get(ref)
            if model is not None:
                self._loaded.move_to_end(ref)
                return model
        entry = self.catalog.entry(ref)
        if entry is None or not entry.usable:
            reason = entry.refused if entry else "its checkpoint is no longer in the model dir"
            raise ModelUnavailable(f"{ref} cannot be served: {reason}")
        try:
            generator, meta = load_generator(entry.meta_path, self.device)
        except CheckpointError as exc:
            reason = self.catalog.refuse(ref, str(exc))
            log.warning("checkpoint %s refused on load: %s", ref, exc)
            raise VersionRefused(f"{ref} was refused: {reason}") from None
        classes = meta.arch.num_classes
        dtype = inference_dtype(self.dtype_choice, self.device, meta.output_kind)
        module = serving_module(generator, meta.z_dim, classes, dtype)
        calibration = calibrate(
            module, meta.z_dim, self.max_batch, self.device, num_classes=classes
        )
        model = LoadedModel(meta, module, calibration, self.device, dtype)
        with self._lock:
            self._loaded[ref] = model
            while len(self._loaded) > self.max_loaded:
                evicted, _ = self._loaded.popitem(last=False)
                log.info("evicted %s from the device (least recently used)", evicted)
            self.metrics.models_on_device.set(len(self._loaded))
        self.metrics.model_loads.labels(meta.name).inc()
        log.info(
            "loaded %s on %s in %s: device batch sizes %s, exact=%s, %.1f ms per full batch",
            ref, self.device, str(dtype).removeprefix("torch."), list(calibration.buckets),
            calibration.exact, calibration.forward_s * 1000,
        )  # fmt: skip
        return model
