"""From a validated request to encoded bytes: resolve the version, admit, draw z, batch, encode.

A route talks only to the Sampler: `with sampler.admit() as ticket:` before the body is read,
then `await sampler.sample(ticket, req, ...)`. The ticket is the request's passage through
the service (the batcher's Arrival): the device knows it is coming, its samples count against
the admission bound from the moment they are admitted, and it closes when the response has
been sent (`ticket.keep_until_sent()`), or when the `with` block ends without a response.

z is drawn here, per request, from (seed, offset + i) alone (models.latent) before any
batching, so what else shares a device batch cannot change a sample. A conditional model's
label (service.labels) is appended to each z as a last column, so it rides beside its z.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from models.latent import MAX_SEED, interpolate, latent_batch, truncate
from service import encoding, labels
from service.batcher import Arrival, Batcher, Job
from service.catalog import ModelCatalog, VersionEntry
from service.errors import FieldError, RequestTimedOut
from service.inference import input_rows
from service.metrics import ServiceMetrics
from service.schemas import InterpolateRequest, SampleRequest
from service.settings import Settings

_ACCEPT = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/webp": "webp",
    "application/zip": "zip",
    "application/json": "json",
    "application/x-npy": "npy",
    "application/octet-stream": "npy",
}
_INLINE_Z = 64  # larger z draws run in the pool, not on the event loop
_INLINE_PNG_BYTES = 64 * 64 * 3  # a PNG of a sample this small is written on the event loop


@dataclass
class Plan:
    """What a checked sample request runs: its version, response format, seed and the class
    index of each sample ((n,) int64; None for an unconditional model)."""

    entry: VersionEntry
    fmt: str
    seed: int
    labels: np.ndarray | None


@dataclass
class Encoded:
    body: bytes
    media_type: str
    headers: dict[str, str]


class Ticket:
    """One request's passage through the service (see the module's docstring)."""

    def __init__(self, arrival: Arrival) -> None:
        self.arrival = arrival
        self._kept = False

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self._kept:
            self.arrival.close()

    def keep_until_sent(self) -> Callable[[], Awaitable[None]]:
        """The response takes the ticket over: run the returned coroutine function once its
        last byte is sent (async, so Starlette runs it on the event loop, not in a thread)."""
        self._kept = True

        async def close() -> None:
            self.arrival.close()

        return close


class Sampler:
    def __init__(
        self,
        settings: Settings,
        catalog: ModelCatalog,
        batcher: Batcher,
        pool: ThreadPoolExecutor,
        workers: int,
        metrics: ServiceMetrics,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.batcher = batcher
        self.pool = pool
        self.workers = workers
        self.metrics = metrics

    def admit(self) -> Ticket:
        """A ticket for a request whose body is about to be read."""
        return Ticket(self.batcher.arrival())

    async def sample(
        self,
        ticket: Ticket,
        req: SampleRequest,
        accept: str | None,
        request_id: str,
        disconnected: Callable[[], Awaitable[None]],
    ) -> Encoded | None:
        """The encoded samples, or None when the client went away first. Raises FieldError,
        QueueFull (429: the predicted wait does not fit), RequestTimedOut and the catalog's
        errors."""
        plan = await self.check(req, accept)
        self.batcher.admit(ticket.arrival, req.n)
        samples = await self.generate(req, plan, request_id, disconnected, ticket.arrival)
        if samples is None:
            return None
        return await self.encode(samples, plan, req.offset, req.scale, req.padding)

    async def check(self, req: SampleRequest, accept: str | None) -> Plan:
        """The version, the response format, the seed and the labels, or the field that is
        wrong."""
        limit = self.settings.max_samples_per_request
        if req.n > limit:
            raise FieldError("n", req.n, f"n must be at most {limit} (GAN_MAX_SAMPLES_PER_REQUEST)")
        labels.check_label_fields(req.label, req.labels, req.n)
        entry = await self.catalog.find(req.model)
        assert entry.meta is not None
        fmt = req.format or self._from_accept(accept, req.n, entry.meta.output_kind)
        if entry.meta.output_kind == "vector" and fmt not in encoding.VECTOR_FORMATS:
            raise FieldError(
                "format", fmt, f"{entry.ref} makes points, not images: use format json or npy"
            )
        if fmt in encoding.SINGLE_IMAGE_FORMATS and req.n != 1:
            raise FieldError(
                "format", fmt, f"format {fmt!r} holds one image, but n is {req.n}: use n = 1, "
                "or zip, grid, json or npy"
            )  # fmt: skip
        for option in ("scale", "padding"):
            if getattr(req, option) is not None and fmt != "grid":
                raise FieldError(
                    option, getattr(req, option), f"{option} applies to format grid only"
                )
        classes = labels.sample_labels(entry.meta, req)
        seed = req.seed if req.seed is not None else secrets.randbelow(MAX_SEED + 1)
        return Plan(entry, fmt, seed, classes)

    @staticmethod
    def _from_accept(accept: str | None, n: int, kind: str) -> str:
        default = "json" if kind == "vector" else ("png" if n == 1 else "zip")
        for part in (accept or "").split(","):
            media = part.split(";")[0].strip().lower()
            fmt = _ACCEPT.get(media)
            if fmt == "png" and n > 1:
                return "grid"
            if fmt is not None:
                return fmt
        return default

    async def generate(
        self,
        req: SampleRequest,
        plan: Plan,
        request_id: str,
        disconnected: Callable[[], Awaitable[None]],
        arrival: Arrival | None = None,
    ) -> np.ndarray | None:
        """The samples as an array, or None when the client went away first."""
        assert plan.entry.meta is not None
        args = (plan.seed, req.offset, req.n, plan.entry.meta.z_dim, req.truncation, plan.labels)
        if req.n <= _INLINE_Z:
            rows = _draw_rows(*args)
        else:
            rows = await asyncio.get_running_loop().run_in_executor(self.pool, _draw_rows, *args)
        return await self._run(rows, plan.entry, request_id, disconnected, arrival)

    async def _run(
        self,
        rows: np.ndarray,
        entry: VersionEntry,
        request_id: str,
        disconnected: Callable[[], Awaitable[None]],
        arrival: Arrival | None,
    ) -> np.ndarray | None:
        """Rows (n, width) through the device, or None when the client went away first."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        job = Job(entry.ref, rows, loop.create_future(), loop, request_id)
        self.batcher.submit(job, arrival)  # QueueFull -> 429
        # The job's future is cancelled when the client goes or the deadline passes, with the
        # reason; plain callbacks, cheaper per request than asyncio.wait on two awaitables.
        stopped: list[str] = []

        def stop(reason: str) -> None:
            if not job.future.done():
                stopped.append(reason)
                job.future.cancel()

        gone = asyncio.ensure_future(disconnected())
        gone.add_done_callback(lambda task: None if task.cancelled() else stop("client_gone"))
        timeout = self.settings.request_timeout_s - (time.monotonic() - started)
        deadline = loop.call_later(max(0.0, timeout), stop, "timeout")
        try:
            return await job.future  # raises the batcher's error, if any
        except asyncio.CancelledError:
            self.batcher.cancel(job)
            if not stopped:  # this request itself was cancelled
                raise
        finally:
            deadline.cancel()
            gone.cancel()
        if stopped[0] == "client_gone":
            self.metrics.rejected.labels("client_gone").inc()
            return None
        self.metrics.rejected.labels("timeout").inc()
        raise RequestTimedOut(
            f"{job.n} samples of {entry.ref} were not ready within "
            f"{self.settings.request_timeout_s:g} s (GAN_REQUEST_TIMEOUT_S); the service is "
            "busy: retry later or ask for fewer samples"
        )

    async def interpolate(
        self,
        ticket: Ticket,
        req: InterpolateRequest,
        request_id: str,
        disconnected: Callable[[], Awaitable[None]],
    ) -> Encoded | None:
        """A latent walk's frames, encoded; None when the client went away first."""
        limit = self.settings.max_samples_per_request
        if req.steps > limit:
            raise FieldError(
                "steps", req.steps, f"steps must be at most {limit} (GAN_MAX_SAMPLES_PER_REQUEST)"
            )
        entry = await self.catalog.find(req.model)
        assert entry.meta is not None
        vector = entry.meta.output_kind == "vector"
        fmt = req.format or ("json" if vector else "webp")
        if vector and fmt not in encoding.VECTOR_FORMATS:
            raise FieldError(
                "format", fmt, f"{entry.ref} makes points, not images: use format json or npy"
            )
        label = labels.walk_label(entry.meta, req)
        self.batcher.admit(ticket.arrival, req.steps)
        z_dim = entry.meta.z_dim
        ends = (
            latent_batch(req.seed_a, req.index_a, 1, z_dim),
            latent_batch(req.seed_b, req.index_b, 1, z_dim),
        )
        z = interpolate(ends[0][0], ends[1][0], req.steps, req.method)  # (steps, z_dim)
        if req.truncation != 1.0:
            z = truncate(z, req.truncation)
        walk_labels = None if label is None else np.full(req.steps, label, np.int64)
        rows = input_rows(z, walk_labels)  # (steps, width)
        frames = await self._run(rows, entry, request_id, disconnected, ticket.arrival)
        if frames is None:
            return None
        return await self._encode_walk(frames, entry, fmt, req, label)

    async def _encode_walk(
        self,
        frames: np.ndarray,
        entry: VersionEntry,
        fmt: str,
        req: InterpolateRequest,
        label: int | None,
    ) -> Encoded:
        assert entry.meta is not None
        loop = asyncio.get_running_loop()
        header = {"model": entry.ref, "sha256": entry.meta.weights_sha256, "method": req.method,
                  "steps": req.steps, "a": {"seed": req.seed_a, "index": req.index_a},
                  "b": {"seed": req.seed_b, "index": req.index_b}}  # fmt: skip
        if label is not None:
            header["label"] = entry.meta.classes[label]
        level = self.settings.png_compress_level
        if fmt == "npy":
            body = encoding.npy(frames)
        elif entry.meta.output_kind == "vector":
            body = encoding.points_json(frames, header)
        elif fmt in ("gif", "webp"):
            body = await loop.run_in_executor(
                self.pool, encoding.animation, frames, fmt, req.frame_ms
            )
        else:
            files = await self._pngs(frames, level)
            make = encoding.zip_of_frames if fmt == "zip" else encoding.frames_json
            args = (files,) if fmt == "zip" else (files, header)
            body = await loop.run_in_executor(self.pool, make, *args)
        headers = {"X-Model-Version": entry.ref, "X-Model-Sha256": entry.meta.weights_sha256,
                   "X-Count": str(frames.shape[0])}  # fmt: skip
        if fmt == "zip":
            name = f"walk-{req.seed_a}-{req.index_a}-{req.seed_b}-{req.index_b}.zip"
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Encoded(body, encoding.MEDIA_TYPES[fmt], headers)

    async def encode(
        self,
        samples: np.ndarray,
        plan: Plan,
        offset: int,
        scale: int | None = None,
        padding: int | None = None,
    ) -> Encoded:
        entry, fmt, seed = plan.entry, plan.fmt, plan.seed
        assert entry.meta is not None
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        level = self.settings.png_compress_level
        header = {"model": entry.ref, "sha256": entry.meta.weights_sha256, "seed": seed,
                  "offset": offset, "n": int(samples.shape[0])}  # fmt: skip
        if plan.labels is not None:
            header["labels"] = labels.names(entry.meta, plan.labels)  # sample i's class name
        if entry.meta.output_kind == "vector":
            body = encoding.points_json(samples, header) if fmt == "json" else encoding.npy(samples)
        elif fmt == "png" and samples[0].nbytes <= _INLINE_PNG_BYTES:
            body = encoding.png(samples[0], level)
        elif fmt in ("png", "jpeg", "webp"):
            one = {"png": lambda x: encoding.png(x, level), "jpeg": encoding.jpeg,
                   "webp": encoding.webp}[fmt]  # fmt: skip
            body = await loop.run_in_executor(self.pool, one, samples[0])
        elif fmt == "npy":
            body = encoding.npy(samples)
        elif fmt == "grid":
            scale = scale or encoding.grid_scale(*samples.shape[1:3])
            padding = 2 * scale if padding is None else padding
            body = await loop.run_in_executor(
                self.pool, encoding.grid, samples, level, scale, padding
            )
        else:  # zip or json: one PNG per sample, spread over the pool
            files = await self._pngs(samples, level)
            if fmt == "zip":
                body = await loop.run_in_executor(
                    self.pool, encoding.zip_of_pngs, files, seed, offset
                )
            else:
                body = await loop.run_in_executor(
                    self.pool, encoding.images_json, files, header, seed, offset
                )
        self.metrics.encode_seconds.labels(fmt).observe(time.perf_counter() - started)
        headers = {
            "X-Model-Version": entry.ref,
            "X-Model-Sha256": entry.meta.weights_sha256,
            "X-Seed": str(seed),
            "X-Offset": str(offset),
            "X-Count": str(samples.shape[0]),
        }
        if fmt == "zip":
            headers["Content-Disposition"] = f'attachment; filename="samples-{seed}-{offset}.zip"'
        return Encoded(body, encoding.MEDIA_TYPES[fmt], headers)

    async def _pngs(self, images: np.ndarray, level: int) -> list[bytes]:
        loop = asyncio.get_running_loop()
        parts = max(1, min(self.workers, len(images) // 4))
        chunks = np.array_split(images, parts)
        done = await asyncio.gather(
            *(loop.run_in_executor(self.pool, encoding.pngs, chunk, level) for chunk in chunks)
        )
        return [f for chunk in done for f in chunk]


def _draw_rows(
    seed: int, offset: int, n: int, z_dim: int, psi: float, classes: np.ndarray | None
) -> np.ndarray:
    z = latent_batch(seed, offset, n, z_dim)  # (n, z_dim), a pure function of (seed, index)
    z = truncate(z, psi) if psi != 1.0 else z
    return input_rows(z, classes)  # (n, z_dim) or, with the labels, (n, z_dim + 1)
