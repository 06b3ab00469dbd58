"""Run one job: claim it, train its stored recipe with callbacks wired to Redis, record how it
ended.

Outcomes a user sees on the record: succeeded; failed with the loop's message (GanError), an
out-of-memory message, or the exception's text; cancelled (stopped at the next step, published
checkpoints kept). A worker shutting down gives the job back to the queue, where it resumes.
While Redis is unreachable the job trains on; its end (and published versions) are recorded
when Redis is back.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.checkpoint import CheckpointError, promote_version
from models.config import parse_arch_config
from service.errors import JobStoreUnavailable
from service.jobs.store.job_store import JobStore
from service.jobs.store.records import JobState, JobView
from service.jobs.worker.lease import Heartbeat
from service.jobs.worker.memory_cap import is_out_of_memory, memory_cap
from service.settings import Settings
from training.config import TrainConfig
from training.errors import GanError
from training.progress import ProgressReport

log = logging.getLogger(__name__)

MEMORY_HEADROOM_MB = 512  # beyond the estimate: the estimator's error, allocator slack, plots
STORE_RETRY_S = 6 * 3600.0  # how long a finished job waits for Redis to record its end


def run_job(
    settings: Settings,
    store: JobStore,
    job_id: str,
    *,
    worker: str,
    enqueue: Callable[[str], None],
) -> str:
    """Returns how the delivery ended: 'succeeded', 'failed', 'cancelled', 'requeued', or why
    it did not run ('busy', 'terminal', 'missing', 'lost')."""
    token = uuid.uuid4().hex
    lease_s = settings.job_lease_s
    claimed = _retrying(lambda: store.claim(job_id, token, lease_s, worker))
    if claimed != "ok":
        log.info("job %s: not run (%s)", job_id, claimed)
        return claimed
    record = _retrying(lambda: store.get(job_id))
    assert record is not None
    beat = Heartbeat(store, job_id, token, lease_s, worker)
    beat.start()
    try:
        return _train(settings, store, record, token, beat, enqueue)
    except Exception as exc:  # whatever happens, the record must not stay "running"
        log.exception("job %s crashed", job_id)
        return _end(store, record, token, JobState.failed, f"job crashed: {exc!r}")
    finally:
        beat.stop()


def _train(
    settings: Settings,
    store: JobStore,
    record: JobView,
    token: str,
    beat: Heartbeat,
    enqueue: Callable[[str], None],
) -> str:
    reporter = Reporter(store, record, token, beat)
    try:
        from training.loop import train  # torch loads in the pool process, not at import

        config = TrainConfig.model_validate(record.config)
        arch = parse_arch_config(config.arch_config)
        with memory_cap(_memory_limit_bytes(settings, config)):
            result = train(
                config,
                settings.model_dir,
                progress=reporter,
                should_stop=beat.should_stop,
                resume=True,
                data_root=settings.data_root,
                arch=arch,
            )
    except GanError as exc:
        return _end(store, record, token, JobState.failed, _without_host_paths(exc, settings))
    except Exception as exc:
        if is_out_of_memory(exc):
            message = (
                f"out of memory: {_without_host_paths(exc, settings)}. Try a smaller batch_size "
                "or a smaller network "
                f"(GAN_MAX_JOB_MEMORY_MB is {settings.max_job_memory_mb})."
            )
        else:
            log.exception("job %s crashed", record.id)
            message = (
                f"training crashed: {type(exc).__name__}: {_without_host_paths(exc, settings)}"
            )
        return _end(store, record, token, JobState.failed, message)

    published = _merge(reporter.published, result.published)
    if result.stopped:
        if beat.lost.is_set():
            return "lost"
        if beat.cancel_requested.is_set():
            return _end(store, record, token, JobState.cancelled, "", published=published)
        note = "its worker is shutting down; it resumes from its last saved state"
        if _retrying(lambda: store.requeue(record.id, token, note)):
            _retrying(lambda: enqueue(record.id))
        return "requeued"
    fields: dict[str, Any] = {"published": published, "step": result.steps_done}
    if record.auto_promote and published:
        last = max(published, key=lambda ref: int(ref.rpartition("@")[2]))
        name, _, version = last.rpartition("@")
        try:
            promote_version(settings.model_dir, name, int(version))
            fields["promoted"] = last
        except CheckpointError as exc:
            log.warning("job %s: %s not promoted: %s", record.id, last, exc)
            fields["error"] = f"trained, but {last} was not promoted: {exc}"
    return _end(store, record, token, JobState.succeeded, fields.pop("error", ""), **fields)


class Reporter:
    """The loop's progress callback: writes the record and appends an event."""

    def __init__(self, store: JobStore, record: JobView, token: str, beat: Heartbeat) -> None:
        self.store = store
        self.record = record
        self.token = token
        self.beat = beat
        self.published: list[str] = list(record.published)
        self._first: tuple[float, int] | None = None  # (time, step) of this attempt's first report

    def __call__(self, report: ProgressReport) -> None:
        if report.published and report.published not in self.published:
            self.published.append(report.published)
        eta = self._eta(report)
        fields = {
            "step": report.step,
            "total_steps": report.total_steps,
            "elapsed_s": _finite(report.elapsed_s),
            "eta_s": eta,
            "losses": {k: _finite(v) for k, v in report.losses.items()},
            "d_real": _finite(report.d_real),
            "d_fake": _finite(report.d_fake),
            "g_grad_norm": _finite(report.g_grad_norm),
            "flags": dict(report.flags),
            "metrics": {k: _finite(v) for k, v in report.metrics.items()},
            "published": self.published,
        }
        event = {
            "type": "progress",
            "job_id": self.record.id,
            "attempt": self.record.attempts,
            **fields,
            "published": report.published,
            "versions": self.published,
            "final": report.final,
        }
        try:
            if not self.store.progress(self.record.id, self.token, fields, event):
                self.beat.lost.set()
        except JobStoreUnavailable as exc:
            log.warning("job %s: progress not recorded: %s", self.record.id, exc)

    def _eta(self, report: ProgressReport) -> float | None:
        now = time.monotonic()
        left = max(0, report.total_steps - report.step)
        if self._first is None:
            self._first = (now, report.step)
            if self.record.attempts <= 1 and report.step > 0 and report.elapsed_s > 0:
                return round(report.elapsed_s / report.step * left, 1)
            return None
        t0, s0 = self._first
        if report.step <= s0:
            return None
        return round((now - t0) / (report.step - s0) * left, 1)


def _end(
    store: JobStore, record: JobView, token: str, state: JobState, error: str, **fields: Any
) -> str:
    if state is JobState.failed:
        log.warning("job %s failed: %s", record.id, error)
    if not _retrying(lambda: store.finish(record.id, token, state, error, **fields)):
        return "lost"
    return state.value


def _retrying(fn: Callable[[], Any]) -> Any:
    """Call `fn`, waiting for Redis to come back (the job's record is the source of truth)."""
    deadline = time.monotonic() + STORE_RETRY_S
    while True:
        try:
            return fn()
        except JobStoreUnavailable as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("%s; retrying", exc)
            time.sleep(2.0)


def _merge(first: list[str], second: list[str]) -> list[str]:
    return first + [ref for ref in second if ref not in first]


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _without_host_paths(exc: BaseException, settings: Settings) -> str:
    """The error's text with the data root and model directory left out: job records are
    readable without a key, and paths are shown relative to those folders."""
    text = str(exc)
    for root in (settings.data_root, settings.model_dir):
        text = text.replace(f"{Path(root).resolve()}/", "").replace(f"{root}/", "")
    return text


def _memory_limit_bytes(settings: Settings, config: TrainConfig) -> int | None:
    """The job's allowance on a CPU worker: its budget plus room for the runtime. On CUDA the
    device's own allocator raises OutOfMemoryError, and a data limit would only get in the
    way of the driver's mappings."""
    if config.device == "cuda" or (config.device == "auto" and _cuda_available()):
        return None
    return (settings.max_job_memory_mb + MEMORY_HEADROOM_MB) * 2**20


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
