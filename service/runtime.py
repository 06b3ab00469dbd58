"""Everything a running sample service holds: catalog, device cache and thread, encoder pool,
watcher.

Built and started by the app's lifespan, stored on `app.state.runtime`. Start-up work (the
first scan, loading and warming the generators) runs in the background so /healthz answers at
once; /readyz turns 200 when it is done and a model is warm.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from service.batcher import Batcher
from service.catalog import ModelCatalog, ScanResult
from service.device_cache import DeviceCache
from service.metrics import ServiceMetrics
from service.sampling import Sampler
from service.settings import Settings

log = logging.getLogger("service.runtime")


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("GAN_DEVICE=cuda, but no CUDA device is available")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda":
        # Same algorithms for the same shapes on every run: part of the determinism contract.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return torch.device(choice)


class Runtime:
    def __init__(self, settings: Settings, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.device = pick_device(settings.device)
        self.catalog = ModelCatalog(
            settings.model_dir, default_model=settings.default_model, metrics=metrics
        )
        self.device_cache = DeviceCache(
            self.catalog,
            self.device,
            max_batch=settings.max_batch_size,
            max_loaded=settings.max_models_on_device,
            metrics=metrics,
            dtype=settings.inference_dtype,
        )
        self.catalog.scan_on_miss = self._scan  # a version published since the last scan
        self.batcher = Batcher(
            self.device_cache,
            metrics,
            max_batch=settings.max_batch_size,
            max_wait_s=settings.max_batch_wait_ms / 1000,
            max_queue_samples=settings.max_queue_samples,
            fill_factor=settings.batch_fill_factor,
            max_wait_s_admit=settings.max_queue_wait_s,
        )
        self.workers = settings.encode_workers or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="encode")
        self.sampler = Sampler(
            settings, self.catalog, self.batcher, self.pool, self.workers, metrics
        )
        self.started = False  # the first scan and loads are done
        self.startup_error: str | None = None
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
        self._startup: asyncio.Task | None = None

    async def start(self) -> None:
        self.batcher.start()
        self._startup = asyncio.create_task(self._start_up())

    async def _start_up(self) -> None:
        try:
            await asyncio.to_thread(self._scan)
            for ref in self.catalog.preload_order(self.settings.max_models_on_device):
                await asyncio.wrap_future(self.warm(ref))  # one by one, in order
            self._watcher.start()
        except Exception as exc:
            self.startup_error = f"start-up failed: {exc}"
            log.exception("start-up failed")
        finally:
            _freeze_heap()
            self.started = True
            log.info(
                "start-up done: %d model(s) on %s", self.device_cache.loaded_count(), self.device
            )

    async def stop(self) -> None:
        self._stop.set()
        if self._startup is not None and not self._startup.done():
            self._startup.cancel()
        await asyncio.to_thread(self.batcher.stop)
        if self._watcher.is_alive():
            await asyncio.to_thread(self._watcher.join, 10)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def ready(self) -> tuple[bool, str]:
        if not self.started:
            return False, "starting: scanning the model directory and warming up generators"
        if self.startup_error:
            return False, self.startup_error
        if self.device_cache.loaded_count() > 0:
            return True, "ready"
        if self.settings.ready_without_model:
            return True, "ready (no model loaded yet; GAN_READY_WITHOUT_MODEL)"
        return False, (
            "no model loaded yet: none published in the model directory, or none loadable"
        )

    def warm(self, ref: str) -> concurrent.futures.Future[bool]:
        """Have the device thread load `ref` before a request needs it (start-up, a new
        default, a promotion). The future tells whether it is on the device; a failure is
        logged, never raised: one bad checkpoint must not keep the others down."""
        if self.device_cache.is_loaded(ref):
            loaded: concurrent.futures.Future[bool] = concurrent.futures.Future()
            loaded.set_result(True)
            return loaded
        return self.batcher.call(lambda: self._load_quietly(ref))

    def _load_quietly(self, ref: str) -> bool:
        try:
            self.device_cache.acquire(ref)
        except Exception as exc:
            log.warning("could not load %s: %s", ref, exc)
            return False
        return True

    def delete_version(self, name: str, version: int) -> str:
        """Delete a version (blocking: call it from a thread). Scans first, so the default it
        protects is current, and after, so the catalog and the device forget the version."""
        self._scan()
        ref = self.catalog.delete(name, version)
        self._scan()
        return ref

    def _scan(self) -> ScanResult:
        """Scan the model directory; drop from the device what the catalog no longer serves."""
        result = self.catalog.scan()
        self.device_cache.discard(result.refused + result.removed)
        _log_scan(result)
        return result

    def _watch(self) -> None:
        """Poll the model directory; load new default versions before anyone asks for them."""
        while not self._stop.wait(self.settings.reload_interval_s):
            try:
                result = self._scan()
            except Exception:
                log.exception("model directory scan failed; trying again")
                continue
            for ref in result.new_defaults:
                self.warm(ref)


def _log_scan(result: ScanResult) -> None:
    if result.added or result.refused or result.removed:
        log.info(
            "model directory: %d new, %d refused, %d gone",
            len(result.added), len(result.refused), len(result.removed),
            extra={"added": result.added, "refused": result.refused, "removed": result.removed},
        )  # fmt: skip


def _freeze_heap() -> None:
    """Keep the objects of start-up (the imported modules, the loaded models: about 180,000)
    out of the cyclic garbage collector's full passes. Each full pass walked all of them, about
    90 ms holding the GIL, so under load it stalled the event loop and the device thread
    together; freezing them raised images/s at 32 connections by 20-29 % (two A/B pairs) and
    cut the p99 latency from about 180 ms to 59-70 ms (docs/benchmarks.md)."""
    if gc.get_freeze_count() == 0:  # once a process (tests start many apps in one)
        gc.collect()
        gc.freeze()
