"""A memory cap for one training job, so that running out of memory fails the job, not the worker.

Without a cap, a job that outgrows the machine is killed by the kernel's OOM killer, and the
worker process with it. Inside `memory_cap(n)`, the process may map at most `n` more bytes of
data than it had on entry: an allocation past that fails, and torch raises RuntimeError
("DefaultCPUAllocator: can't allocate memory") or Python raises MemoryError, which the runner
can catch (see `is_out_of_memory`) and report as the job's error.

The cap is Linux's soft RLIMIT_DATA, which since Linux 4.7 counts every private writable
mapping, so it catches the large mmap-backed allocations of glibc and torch as well as brk.
It counts address space, not pages touched: thread stacks (8 MB each) and allocator
reservations count too, so give it headroom above a training.budget estimate. The limit is
process-wide: other threads of the process allocate under it as well.

This module runs in the Celery worker and never imports FastAPI (nor torch).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_OOM_TEXTS = ("out of memory", "can't allocate memory")
_noted_unavailable = False


@contextlib.contextmanager
def memory_cap(limit_bytes: int | None) -> Iterator[None]:
    """Allow at most `limit_bytes` more data memory for the duration (None or 0: no cap).

    Lowers the soft RLIMIT_DATA to the current data size (VmData) plus `limit_bytes`, never
    above a lower limit already in force, and restores the previous soft limit on exit. A
    no-op where RLIMIT_DATA or /proc/self/status is unavailable."""
    previous = _lower_data_limit(limit_bytes) if limit_bytes else None
    try:
        yield
    finally:
        if previous is not None:
            resource.setrlimit(resource.RLIMIT_DATA, previous)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` says an allocation failed: MemoryError, CUDA's OutOfMemoryError, or a
    RuntimeError from an allocator ("out of memory", "can't allocate memory")."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")  # torch's errors exist only once torch is imported
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return any(t in text for t in _OOM_TEXTS)
    return False


def _lower_data_limit(limit_bytes: int) -> tuple[int, int] | None:
    """Set the soft RLIMIT_DATA to VmData + limit_bytes; the previous (soft, hard), or None
    if nothing was changed."""
    if limit_bytes < 0:
        raise ValueError(f"memory cap limit_bytes must be >= 0, got {limit_bytes}")
    data = _data_bytes()
    if resource is None or not hasattr(resource, "RLIMIT_DATA") or data is None:
        _note_unavailable("RLIMIT_DATA or /proc/self/status is not available")
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = data + limit_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY:
        cap = min(cap, soft)  # an outer, lower cap stays in force
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    except (ValueError, OSError) as exc:
        _note_unavailable(f"setrlimit(RLIMIT_DATA) failed: {exc}")
        return None
    log.debug("memory cap: %d MB above the current %d MB", limit_bytes >> 20, data >> 20)
    return soft, hard


def _data_bytes() -> int | None:
    """The process's data segment size (VmData), or None where /proc is unavailable."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _note_unavailable(why: str) -> None:
    global _noted_unavailable
    if not _noted_unavailable:
        log.debug("memory cap is a no-op here: %s", why)
        _noted_unavailable = True
