"""Dynamic batching, counted in samples, on the one thread that owns the device.

Requests arrive as `Job`s: a version ref and their rows (z, drawn before batching, and a
conditional model's label as a last column, so it cannot be mixed up with others). The device
thread takes rows from the queue, oldest job first, only rows of one version per batch, up to
`max_batch` rows. A job larger than a batch is spread over several.

When to start a batch that is not full. Each request holds an `Arrival` from the moment it is
read until its response is sent, so the batcher knows how many requests are in the service
but not in its queue: being parsed, or being encoded and answered after their batch. Waiting
only pays when rows are about to come, so the device:
- starts at once when no other request is in the service (one client alone never waits);
- waits up to `max_wait_s` from the oldest job's arrival while requests are being parsed;
- right after a batch, waits up to `fill_factor` x the model's full-batch forward time while
  requests of that batch are still being answered: their clients (a service calling in a loop)
  send the next request then. Without this, clients that came back at different moments split
  into small batches, which cost about 2x more per sample on a CPU (benchmarks/serve_bench.py).
  The wait ends as soon as the batch is full or every request in the service is queued.

Results are copied back into each job's own array; when a job is complete its
asyncio future is resolved through its event loop (`call_soon_threadsafe`), so the loop never
waits on the device.

Admission bounds the wait, not only the queue. Every sample is counted from its admission
until its response is sent (queued, on the device, being encoded and answered). A request is
admitted when the samples in the service plus its own, at the measured cost per sample, fit
`max_wait_s_admit` (GAN_MAX_QUEUE_WAIT_S), or when the service is empty; otherwise QueueFull
with a Retry-After from the same prediction. The cost per sample is measured end to end: the
seconds the service was busy (some sample in it) over the samples it answered meanwhile, so
the encoders and the HTTP path count as much as the device. It is measured only while at
least two full batches were in the service on average: a request alone pays latencies that
concurrent ones overlap, and its cost would understate what the service can take. Before the
first such measurement the device's own time per sample stands in. `max_queue_samples` stays a hard
cap on the samples waiting for the device. A cancelled job (client gone, timed out) leaves the
queue at once; rows already running finish and are discarded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from models.output import to_uint8_images, to_vectors
from service.device_cache import DeviceCache, LoadedModel
from service.errors import ModelUnavailable, QueueFull, ServiceError
from service.metrics import ServiceMetrics

log = logging.getLogger("service.batcher")

COST_WINDOW_S = 0.25  # busy seconds between two measurements of the cost per sample


@dataclass(eq=False)
class Job:
    ref: str
    z: np.ndarray  # (n, width) float32: z, already truncated, and a conditional model's label
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    request_id: str = "-"
    arrival: Arrival | None = None
    enqueued_at: float = field(default_factory=time.monotonic)
    out: np.ndarray | None = None  # (n, H, W, C) uint8 or (n, D) float32, filled per batch
    dispatched: int = 0  # rows handed to the device
    completed: int = 0
    cancelled: bool = False

    @property
    def n(self) -> int:
        return int(self.z.shape[0])


def _notify(job: Job, value: Any, error: BaseException | None) -> None:
    """Hand a result to the job's event loop (a closed loop means nobody waits any more)."""
    with contextlib.suppress(RuntimeError):
        job.loop.call_soon_threadsafe(_resolve, job.future, value, error)


def _resolve(future: asyncio.Future, value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class Arrival:
    """One request's passage through the service: parsing, then queued (its job submitted),
    then answering (its samples are ready), then closed. Close it when the response has been
    sent, or when the request failed; closing twice does nothing."""

    def __init__(self, batcher: Batcher) -> None:
        self._batcher = batcher
        self.stage: Literal["parsing", "queued", "answering", "closed"] = "parsing"
        self.samples = 0  # counted in the service since admission (0: not admitted)

    def close(self) -> None:
        self._batcher._close(self)


class Batcher:
    def __init__(
        self,
        device_cache: DeviceCache,
        metrics: ServiceMetrics,
        *,
        max_batch: int,
        max_wait_s: float,
        max_queue_samples: int,
        fill_factor: float = 0.0,
        max_wait_s_admit: float = math.inf,
    ) -> None:
        self.device_cache = device_cache
        self.metrics = metrics
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue_samples = max_queue_samples
        self.fill_factor = fill_factor
        self.max_wait_s_admit = max_wait_s_admit
        self._cond = threading.Condition()
        self._jobs: deque[Job] = deque()
        self._tasks: deque[tuple[Callable[[], Any], concurrent.futures.Future]] = deque()
        self._queued = 0  # samples admitted and not yet handed to the device
        self._arriving = 0  # requests being parsed that will submit a job in a moment
        self._answering = 0  # requests whose samples are done, being encoded and answered
        self._free_at = 0.0  # when the last batch ended (monotonic)
        self._fill_wait_s = 0.0  # fill_factor x the last model's full-batch forward time
        self._sample_s: float | None = None  # running estimate of device time per sample
        self._in_service = 0  # samples admitted and not yet answered (see the docstring)
        self._busy_s = 0.0  # seconds with some sample in the service, since start
        self._busy_mark = 0.0  # when _busy_s was last brought up to date
        self._answered = 0  # samples answered, since start
        self._load_s = 0.0  # integral of samples in the service over time (sample-seconds)
        self._window = (0.0, 0, 0.0)  # (_busy_s, _answered, _load_s) at the last measurement
        self._cost_s: float | None = None  # measured end-to-end seconds per sample
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="device", daemon=True)
        metrics.track_queue(lambda: self._queued, lambda: self._in_service, self.cost_per_sample_s)

    # ---- event-loop side ----

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    @property
    def queued_samples(self) -> int:
        return self._queued

    @property
    def samples_in_service(self) -> int:
        return self._in_service

    def arrival(self) -> Arrival:
        """Announce a request that is being parsed (see the module's docstring for what the
        device does with it). The caller closes it when its response has been sent."""
        with self._cond:
            self._arriving += 1
        return Arrival(self)

    def _close(self, arrival: Arrival) -> None:
        with self._cond:
            if arrival.stage == "closed":
                return
            if arrival.stage == "parsing":
                self._arriving -= 1
            elif arrival.stage == "answering":
                self._answering -= 1
            if arrival.samples:
                self._account_busy()
                self._in_service -= arrival.samples
                if arrival.stage == "answering":
                    self._answered += arrival.samples
                    self._measure_cost()
            arrival.stage = "closed"
            self._cond.notify()

    def _account_busy(self) -> None:
        """Bring the busy time up to now (holding the condition)."""
        now = time.monotonic()
        if self._in_service > 0:
            self._busy_s += now - self._busy_mark
            self._load_s += self._in_service * (now - self._busy_mark)
        self._busy_mark = now

    def _measure_cost(self) -> None:
        """Update the cost per sample over the last ~0.25 s of busy time (holding the lock)."""
        busy0, answered0, load0 = self._window
        busy, answered = self._busy_s - busy0, self._answered - answered0
        if busy < COST_WINDOW_S or answered == 0:
            return
        if (self._load_s - load0) / busy >= 2 * self.max_batch:
            cost = busy / answered
            self._cost_s = cost if self._cost_s is None else 0.7 * self._cost_s + 0.3 * cost
        self._window = (self._busy_s, self._answered, self._load_s)

    def admit(self, arrival: Arrival, n: int) -> None:
        """Count `n` samples in the service from now until `arrival` closes, or raise
        QueueFull when their predicted wait does not fit (see the module's docstring)."""
        with self._cond:
            self._admit_locked(arrival, n)

    def _admit_locked(self, arrival: Arrival | None, n: int) -> None:
        if self._in_service > 0:
            wait_s = self.predicted_wait_s(n)
            if wait_s > self.max_wait_s_admit:
                retry = max(1, math.ceil(wait_s - self.max_wait_s_admit))
                self.metrics.rejected.labels("queue_full").inc()
                raise QueueFull(
                    f"service busy: {self._in_service} samples ahead, about {wait_s:.1f} s of "
                    f"work with this request's {n} (GAN_MAX_QUEUE_WAIT_S is "
                    f"{self.max_wait_s_admit:g} s); retry in {retry} s",
                    retry,
                )
        if self._queued > 0 and self._queued + n > self.max_queue_samples:
            retry = self.retry_after_s(self._queued + n)
            self.metrics.rejected.labels("queue_full").inc()
            raise QueueFull(
                f"sample queue full: {self._queued} of {self.max_queue_samples} samples "
                f"waiting (GAN_MAX_QUEUE_SAMPLES), this request adds {n}; retry in {retry} s",
                retry,
            )
        if arrival is not None:
            self._account_busy()
            arrival.samples = n
            self._in_service += n

    def predicted_wait_s(self, n: int) -> float:
        """Seconds until a request of `n` samples admitted now would be answered."""
        return (self._in_service + n) * self.cost_per_sample_s()

    @property
    def cost_measured(self) -> bool:
        """Whether the cost per sample has been measured under load yet."""
        return self._cost_s is not None

    def cost_per_sample_s(self) -> float:
        """End-to-end seconds per sample: measured, or before any measurement the device's."""
        if self._cost_s is not None:
            return self._cost_s
        return self._sample_s or 0.01

    def submit(self, job: Job, arrival: Arrival | None = None) -> None:
        """Queue a job, admitting it first if its arrival was not admitted yet (QueueFull).
        The arrival moves on in the same step as the job is queued, so the device thread never
        sees neither of them and starts a batch without these rows."""
        with self._cond:
            if arrival is None or arrival.samples == 0:
                self._admit_locked(arrival, job.n)
            if arrival is not None and arrival.stage == "parsing":
                self._arriving -= 1
                arrival.stage = "queued"
                job.arrival = arrival
            self._jobs.append(job)
            self._queued += job.n
            self._cond.notify()

    def cancel(self, job: Job) -> int:
        """Take a job's rows that have not run yet out of the queue; returns how many."""
        with self._cond:
            if job.cancelled:
                return 0
            job.cancelled = True
            dropped = job.n - job.dispatched
            if dropped:
                self._queued -= dropped
                job.dispatched = job.n
                with contextlib.suppress(ValueError):
                    self._jobs.remove(job)
        if dropped:
            self.metrics.samples_dropped.inc(dropped)
        return dropped

    def call(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        """Run `fn` on the device thread, between batches (model loads)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:
            self._tasks.append((fn, future))
            self._cond.notify()
        return future

    def retry_after_s(self, samples: int) -> int:
        """Seconds until `samples` queued samples should have run, at the measured speed."""
        return max(1, math.ceil(samples * (self._sample_s or 0.01)))

    # ---- device thread ----

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._stopping or self._tasks or self._jobs):
                    self._cond.wait()
                if self._stopping:
                    break
                task = self._tasks.popleft() if self._tasks else None
                if task is None:
                    self._wait_to_fill(self._jobs[0].ref)
                    if self._stopping or self._tasks or not self._jobs:
                        continue
                    ref = self._jobs[0].ref
                    slices = self._take(ref)
            if task is not None:
                self._run_task(*task)
            else:
                self._run_batch(ref, slices)
        self._fail_all(ModelUnavailable("the service is shutting down"))

    def _wait_to_fill(self, ref: str) -> None:
        """Wait (holding the condition) while more rows of `ref` are about to come."""
        while not (self._stopping or self._tasks) and self._jobs and self._jobs[0].ref == ref:
            if self._rows_waiting(ref) >= self.max_batch:
                return
            deadline = 0.0
            if self._arriving > 0:
                deadline = self._jobs[0].enqueued_at + self.max_wait_s
            if self._arriving + self._answering > 0:
                deadline = max(deadline, self._free_at + self._fill_wait_s)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

    def _rows_waiting(self, ref: str) -> int:
        return sum(j.n - j.dispatched for j in self._jobs if j.ref == ref)

    def _take(self, ref: str) -> list[tuple[Job, int, int]]:
        """Up to max_batch rows of `ref`, oldest job first: (job, first row, row count)."""
        slices = []
        rows = 0
        for job in list(self._jobs):
            if job.ref != ref:
                continue
            count = min(job.n - job.dispatched, self.max_batch - rows)
            slices.append((job, job.dispatched, count))
            job.dispatched += count
            rows += count
            if job.dispatched == job.n:
                self._jobs.remove(job)
            if rows == self.max_batch:
                break
        self._queued -= rows
        return slices

    def _run_task(self, fn: Callable[[], Any], future: concurrent.futures.Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)

    def _run_batch(self, ref: str, slices: list[tuple[Job, int, int]]) -> None:
        try:
            model = self.device_cache.acquire(ref)
            start = time.perf_counter()
            out = self._forward(model, slices)
            elapsed = time.perf_counter() - start
        except ServiceError as exc:
            self._fail(slices, exc)
            return
        except Exception as exc:  # a device error (out of memory...) fails this batch only
            log.exception("device batch of %s failed", ref)
            self._fail(slices, ModelUnavailable(f"generating with {ref} failed: {exc}"))
            return
        rows = out.shape[0]
        self._fill_wait_s = self.fill_factor * model.calibration.forward_s
        if self._sample_s is None:
            self._sample_s = model.calibration.forward_s / model.calibration.max_rows
        if 2 * rows >= self.max_batch:  # small batches overstate the cost of a sample
            self._sample_s = 0.8 * self._sample_s + 0.2 * elapsed / rows
        self.metrics.forward_passes.inc()
        self.metrics.batch_samples.observe(rows)
        self.metrics.forward_seconds.observe(elapsed)
        self.metrics.samples.labels(ref).inc(rows)
        offset = 0
        done = []
        for job, first, count in slices:
            if not job.cancelled:
                if job.out is None:
                    job.out = np.empty((job.n, *out.shape[1:]), dtype=out.dtype)
                job.out[first : first + count] = out[offset : offset + count]
                job.completed += count
                if job.completed == job.n:
                    done.append(job)
            offset += count
        with self._cond:
            self._free_at = time.monotonic()
            for job in done:
                if job.arrival is not None and job.arrival.stage == "queued":
                    job.arrival.stage = "answering"
                    self._answering += 1
        for job in done:
            _notify(job, job.out, None)

    def _forward(self, model: LoadedModel, slices: list[tuple[Job, int, int]]) -> np.ndarray:
        """Run the rows, in padded buckets the calibration found exact, and copy them back."""
        rows = sum(count for _, _, count in slices)
        z = np.concatenate([job.z[first : first + count] for job, first, count in slices])
        parts = []
        for start in range(0, rows, model.calibration.max_rows):
            chunk = z[start : start + model.calibration.max_rows]  # (k, width)
            bucket = model.calibration.bucket_for(len(chunk))
            # (bucket, width); a padding row of a conditional model is class 0, a valid one
            padded = np.zeros((bucket, model.input_width), dtype=np.float32)
            padded[: len(chunk)] = chunk
            with torch.inference_mode():
                x = model.module(torch.from_numpy(padded).to(model.device))[: len(chunk)]
                if model.kind == "image":
                    parts.append(to_uint8_images(x))  # (k, H, W, C) uint8
                else:
                    parts.append(to_vectors(x))  # (k, D) float32
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _fail(self, slices: list[tuple[Job, int, int]], error: ServiceError) -> None:
        for job, _, _ in slices:
            self.cancel(job)
            _notify(job, None, error)

    def _fail_all(self, error: ServiceError) -> None:
        with self._cond:
            jobs = list(self._jobs)
        for job in jobs:
            self.cancel(job)
            _notify(job, None, error)
        while self._tasks:
            _fn, future = self._tasks.popleft()
            if future.set_running_or_notify_cancel():
                future.set_exception(error)
