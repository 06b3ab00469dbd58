"""Everything a running sample service holds: registry, device thread, encoder pool, watcher.

Built and started by the app's lifespan, stored on `app.state.runtime`. Start-up work (the
first scan, loading and warming the generators) runs in the background so /healthz answers at
once; /readyz turns 200 when it is done and a model is warm.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from service.batcher import Batcher
from service.metrics import ServiceMetrics
from service.registry import ModelRegistry, ScanResult
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
        self.registry = ModelRegistry(
            settings.model_dir,
            self.device,
            max_batch=settings.max_batch_size,
            max_loaded=settings.max_models_on_device,
            default_model=settings.default_model,
            metrics=metrics,
        )
        self.batcher = Batcher(
            self.registry,
            metrics,
            max_batch=settings.max_batch_size,
            max_wait_s=settings.max_batch_wait_ms / 1000,
            max_queue_samples=settings.max_queue_samples,
            fill_factor=settings.batch_fill_factor,
        )
        self.workers = settings.encode_workers or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="encode")
        self.sampler = Sampler(
            settings, self.registry, self.batcher, self.pool, self.workers, metrics
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
            result = await asyncio.to_thread(self.registry.scan)
            _log_scan(result)
            for ref in self.registry.preload_order():
                try:
                    load = self.batcher.call(lambda r=ref: self.registry.acquire(r))
                    await asyncio.wrap_future(load)
                except Exception as exc:  # one bad checkpoint must not keep the others down
                    log.warning("could not load %s at start: %s", ref, exc)
            self._watcher.start()
        except Exception as exc:
            self.startup_error = f"start-up failed: {exc}"
            log.exception("start-up failed")
        finally:
            self.started = True
            log.info("start-up done: %d model(s) on %s", self.registry.loaded_count(), self.device)

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
        if self.registry.loaded_count() > 0:
            return True, "ready"
        if self.settings.ready_without_model:
            return True, "ready (no model loaded yet; GAN_READY_WITHOUT_MODEL)"
        return False, (
            "no model loaded yet: none published in the model directory, or none loadable"
        )

    def _watch(self) -> None:
        """Poll the model directory; load new default versions before anyone asks for them."""
        while not self._stop.wait(self.settings.reload_interval_s):
            try:
                result = self.registry.scan()
            except Exception:
                log.exception("model directory scan failed; trying again")
                continue
            _log_scan(result)
            for ref in result.new_defaults:
                if not self.registry.is_loaded(ref):
                    self.batcher.call(lambda r=ref: self._load_quietly(r))

    def _load_quietly(self, ref: str) -> None:
        try:
            self.registry.acquire(ref)
        except Exception as exc:
            log.warning("could not load %s: %s", ref, exc)


def _log_scan(result: ScanResult) -> None:
    if result.added or result.refused or result.removed:
        log.info(
            "model directory: %d new, %d refused, %d gone",
            len(result.added), len(result.refused), len(result.removed),
            extra={"added": result.added, "refused": result.refused, "removed": result.removed},
        )  # fmt: skip
