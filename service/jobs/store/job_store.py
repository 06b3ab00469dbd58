"""Job records in Redis: one hash per job, a sorted set per state, an event stream per job.

Keys (prefix `gan:`)::

    job:<id>            hash: the record (JSON-encoded where a field is structured)
    job:<id>:events     stream: state changes and progress reports, replayable by late readers
    job:<id>:lease      the running worker's lease (expires unless its heartbeat renews it)
    jobs                sorted set of every job id by creation time
    jobs:state:<state>  sorted set of the ids in that state, by creation time
    jobs:names          hash: model name -> the job that owns it
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis

from service.jobs.store import scripts
from service.jobs.store.records import JobState, JobView
from service.jobs.store.redis_client import REDIS_DOWN_ERRORS, sync_client, unavailable

PREFIX = "gan:"
EVENTS_TTL_S = 7 * 24 * 3600  # a finished job's event stream is kept a week


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def events_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}:events"


def drain_key(worker: str) -> str:
    return f"{PREFIX}worker:{worker}:drain"


class JobStore:
    """Synchronous access to job records (the API calls it from a thread pool)."""

    def __init__(self, url: str, client: redis.Redis | None = None) -> None:
        self.url = url
        self.redis = client or sync_client(url)
        self._scripts = {
            name: self.redis.register_script(getattr(scripts, name))
            for name in ("CREATE", "CLAIM", "HEARTBEAT", "PROGRESS", "FINISH", "REQUEUE")
            + ("CANCEL", "REAP", "DELETE")
        }

    def _run(self, name: str, job_id: str, *args: Any) -> Any:
        try:
            return self._scripts[name](args=[PREFIX, job_id, *args])
        except REDIS_DOWN_ERRORS as exc:
            raise unavailable(self.url, exc) from exc

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except REDIS_DOWN_ERRORS as exc:
            raise unavailable(self.url, exc) from exc

    # -- the API side -------------------------------------------------------------------------

    def create(self, job_id: str, record: dict[str, Any], *, max_queued: int) -> str:
        """'ok', 'full' (too many queued jobs) or 'name' (the model name is taken)."""
        created_ms = int(time.time() * 1000)
        fields = {**record, "id": job_id, "state": JobState.queued.value}
        fields |= {"created_ms": created_ms, "created_at": now_iso(), "attempts": 0, "crashes": 0}
        flat = [x for kv in _encode(fields).items() for x in kv]
        return self._run("CREATE", job_id, max_queued, record["name"], created_ms, *flat)

    def forget(self, job_id: str) -> None:
        """Remove a record whose Celery message could not be sent (so nothing waits for it)."""
        record = self.get(job_id)
        pipe = self.redis.pipeline()
        pipe.delete(f"{PREFIX}job:{job_id}", events_key(job_id))
        pipe.zrem(f"{PREFIX}jobs", job_id)
        for state in JobState:
            pipe.zrem(f"{PREFIX}jobs:state:{state.value}", job_id)
        if record is not None:
            pipe.hdel(f"{PREFIX}jobs:names", record.name)
        self._call(pipe.execute)

    def get(self, job_id: str) -> JobView | None:
        fields = self._call(self.redis.hgetall, f"{PREFIX}job:{job_id}")
        return _view(fields) if fields else None

    def list(self, state: JobState | None, limit: int, offset: int) -> tuple[list[JobView], int]:
        """Newest first; returns one page and the total count."""
        index = f"{PREFIX}jobs:state:{state.value}" if state else f"{PREFIX}jobs"
        pipe = self.redis.pipeline()
        pipe.zcard(index)
        pipe.zrevrange(index, offset, offset + limit - 1)
        total, ids = self._call(pipe.execute)
        pipe = self.redis.pipeline()
        for job_id in ids:
            pipe.hgetall(f"{PREFIX}job:{job_id}")
        records = self._call(pipe.execute) if ids else []
        return [_view(r) for r in records if r], int(total)

    def count(self, state: JobState | None = None) -> int:
        index = f"{PREFIX}jobs:state:{state.value}" if state else f"{PREFIX}jobs"
        return int(self._call(self.redis.zcard, index))

    def name_owner(self, name: str) -> str | None:
        return self._call(self.redis.hget, f"{PREFIX}jobs:names", name)

    def cancel(self, job_id: str) -> str:
        """'cancelled' (was queued), 'requested' (running: stops at its next step),
        'missing', or the terminal state it already had."""
        return self._run("CANCEL", job_id, now_iso())

    def delete(self, job_id: str) -> str:
        """Remove an ended job's record and events: 'deleted', 'missing', or the state of a
        job that has not ended ('queued', 'running'), which is kept."""
        return self._run("DELETE", job_id)

    def reap(self, max_crashes: int, grace_s: float) -> list[str]:
        """Running jobs whose lease has been missing for `grace_s` go back to the queue;
        returns their ids."""
        return list(self._run("REAP", "", now_iso(), max_crashes, int(grace_s * 1000)))

    def ping(self) -> None:
        self._call(self.redis.ping)

    # -- the worker side ----------------------------------------------------------------------

    def claim(self, job_id: str, token: str, lease_s: float, worker: str) -> str:
        """'ok' (this worker owns the job now), 'busy' (a worker runs it: a reaper re-queues
        it if that worker is dead), 'terminal', 'missing' or 'cancelled'."""
        lease_ms = int(lease_s * 1000)
        return self._run("CLAIM", job_id, token, lease_ms, now_iso(), worker)

    def heartbeat(self, job_id: str, token: str, lease_s: float) -> int:
        """-1: the lease was lost; 0: keep going; 1: cancel requested."""
        return int(self._run("HEARTBEAT", job_id, token, int(lease_s * 1000)))

    def progress(self, job_id: str, token: str, fields: dict[str, Any], event: dict) -> bool:
        flat = [x for kv in _encode({**fields, "updated_at": now_iso()}).items() for x in kv]
        return bool(self._run("PROGRESS", job_id, token, json.dumps(event), *flat))

    def finish(
        self, job_id: str, token: str, state: JobState, error: str = "", **fields: Any
    ) -> bool:
        flat = [x for kv in _encode(fields).items() for x in kv]
        done = bool(self._run("FINISH", job_id, token, state.value, now_iso(), error, *flat))
        if done:
            self._call(self.redis.expire, events_key(job_id), EVENTS_TTL_S)
        return done

    def requeue(self, job_id: str, token: str, note: str) -> bool:
        return bool(self._run("REQUEUE", job_id, token, now_iso(), note))

    def set_drain(self, worker: str, ttl_s: float = 3600) -> None:
        self._call(self.redis.set, drain_key(worker), "1", None, int(ttl_s * 1000))

    def draining(self, worker: str) -> bool:
        return bool(self._call(self.redis.exists, drain_key(worker)))

    def clear_drain(self, worker: str) -> None:
        self._call(self.redis.delete, drain_key(worker))


_JSON_FIELDS = ("config", "losses", "flags", "metrics", "published")
_INT_FIELDS = ("step", "total_steps", "attempts", "crashes")
_FLOAT_FIELDS = ("eta_s", "elapsed_s", "d_real", "d_fake", "g_grad_norm")


def _encode(fields: dict[str, Any]) -> dict[str, str | int | float]:
    out: dict[str, str | int | float] = {}
    for key, value in fields.items():
        if key in _JSON_FIELDS:
            out[key] = json.dumps(value)
        elif isinstance(value, bool):
            out[key] = "1" if value else "0"
        elif value is None:
            out[key] = ""
        else:
            out[key] = value
    return out


def _view(h: dict[str, str]) -> JobView:
    data: dict[str, Any] = {}
    for key, value in h.items():
        if key in _JSON_FIELDS:
            data[key] = json.loads(value) if value else None
        elif key in _INT_FIELDS:
            data[key] = int(value or 0)
        elif key in _FLOAT_FIELDS:
            data[key] = float(value) if value not in ("", None) else None
        elif key in ("auto_promote", "cancel_requested"):
            data[key] = value == "1"
        elif key in JobView.model_fields:
            data[key] = value or None
    data = {k: v for k, v in data.items() if v is not None}
    if data.get("state") != JobState.running:
        data.pop("eta_s", None)
    return JobView.model_validate(data)
