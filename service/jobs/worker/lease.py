"""A running job's heartbeat: renews its lease in Redis and brings back cancel/drain requests.

The training loop calls `should_stop()` every step, so it must cost nothing: it reads flags
this thread refreshes about once a second, never Redis itself. A worker that dies stops
renewing; the lease expires after `lease_s` and a reaper puts the job back in the queue.
"""

from __future__ import annotations

import logging
import threading

from service.errors import JobStoreUnavailable
from service.jobs.store.job_store import JobStore

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, store: JobStore, job_id: str, token: str, lease_s: float, worker: str):
        self.store = store
        self.job_id = job_id
        self.token = token
        self.lease_s = lease_s
        self.worker = worker
        self.interval = max(0.1, min(1.0, lease_s / 3))
        self.cancel_requested = threading.Event()
        self.lost = threading.Event()  # another worker owns the job now
        self.draining = threading.Event()  # our worker is shutting down
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id[:8]}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def should_stop(self) -> bool:
        return self.cancel_requested.is_set() or self.lost.is_set() or self.draining.is_set()

    def beat(self) -> None:
        """Renew the lease once and refresh the flags (raises JobStoreUnavailable)."""
        answer = self.store.heartbeat(self.job_id, self.token, self.lease_s)
        if answer < 0:
            self.lost.set()
        elif answer > 0:
            self.cancel_requested.set()
        if self.store.draining(self.worker):
            self.draining.set()

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            try:
                self.beat()
            except JobStoreUnavailable as exc:
                # Training goes on; the lease is renewed as soon as Redis answers again.
                log.warning("job %s: heartbeat failed: %s", self.job_id, exc)
            if self.lost.is_set():
                log.warning("job %s: lease lost to another worker; stopping", self.job_id)
                return
