"""The synchronous client and its Job handle. Each method is one Call from gan_client.calls,
sent by `_send` (retrying 429 and 503 as the RetryPolicy allows) and parsed by the Call."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from gan_client import calls
from gan_client.calls import As, Call, Frames, Label, Sampled
from gan_client.errors import Unreachable
from gan_client.events import (
    FINAL_STATES,
    EventCursor,
    StreamBroken,
    check_deadline,
    final_record,
    read_timeout,
)
from gan_client.retry import RetryPolicy, verdict
from gan_client.transport import (
    DEFAULT_TIMEOUT_S,
    client_options,
    request_args,
    unreachable,
)
from gan_client.upload import counted, prepare_upload

T = TypeVar("T")


class GanClient:
    """`GanClient()` talks to GAN_URL (default http://127.0.0.1:8000) with GAN_API_KEY, if set.
    Use it as a context manager, or call close()."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(**client_options(url, api_key, timeout), transport=transport)
        self.url = str(self._http.base_url).rstrip("/")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GanClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(
        self, call: Call[Any], *, stream: bool = False, timeout: float | None = None
    ) -> httpx.Response:
        """The answer to `call`, its body read (left open with stream=True if it succeeded)."""
        attempt = 0
        while True:
            request = self._http.build_request(
                **request_args(call, timeout),
                content=call.upload.chunks() if call.upload else None,
            )
            try:
                response = self._http.send(request, stream=True)
                if not stream or response.status_code not in call.ok:
                    with contextlib.closing(response):
                        response.read()
            except httpx.TransportError as exc:
                raise unreachable(self._http.base_url, call, exc) from exc
            delay = verdict(response, call.ok, attempt, self.retry)
            if delay is None:
                return response
            time.sleep(delay)
            attempt += 1

    def _run(self, call: Call[T]) -> T:
        return call.parse(self._send(call))

    # Samples

    def sample_raw(
        self,
        model: str | None = None,
        n: int = 1,
        seed: int | None = None,
        *,
        offset: int = 0,
        truncation: float = 1.0,
        label: Label | None = None,
        labels: list[Label] | None = None,
        format: str = "npy",
    ) -> Sampled:
        """The answer's bytes in any `format` (png, jpeg, webp, zip, grid, json, npy) with
        the model version, seed and count from its headers."""
        call = calls.sample(model, n, seed, offset, truncation, label, labels, format)
        return self._run(call)

    def sample(
        self,
        model: str | None = None,
        n: int = 1,
        seed: int | None = None,
        *,
        offset: int = 0,
        truncation: float = 1.0,
        label: Label | None = None,
        labels: list[Label] | None = None,
        as_: As = "pil",
    ) -> Frames:
        """Samples offset .. offset + n - 1 of `seed`: a list of PIL images, or a uint8
        (n, H, W, C) array with as_="numpy"; a float32 (n, D) array of points for a vector
        model. `label` / `labels`: conditional models only, a class by index or by name."""
        answer = self.sample_raw(
            model, n, seed, offset=offset, truncation=truncation, label=label, labels=labels
        )
        return calls.decode(answer, as_)

    def interpolate(
        self,
        model: str | None = None,
        *,
        seed_a: int,
        seed_b: int,
        index_a: int = 0,
        index_b: int = 0,
        steps: int = 16,
        method: str = "slerp",
        truncation: float = 1.0,
        label: Label | None = None,
        as_: As = "pil",
    ) -> Frames:
        """The `steps` frames of a latent walk from sample index_a of seed_a to sample
        index_b of seed_b, as `sample` returns them."""
        call = calls.interpolate(
            model, seed_a, seed_b, index_a, index_b, steps, method, truncation, label, "npy"
        )
        return calls.decode(self._run(call), as_)

    # Models

    def models(self) -> dict[str, Any]:
        """GET /models: {"default_model", "models": [{name, default_version, versions}]}."""
        return self._run(calls.models())

    def model(self, name: str) -> dict[str, Any]:
        return self._run(calls.model(name))

    def promote(self, model: str, version: int) -> dict[str, Any]:
        return self._run(calls.promote(model, version))

    def delete_version(self, model: str, version: int) -> None:
        self._run(calls.delete_version(model, version))

    # Datasets

    def upload_dataset(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        progress: Callable[[int], object] | None = None,
    ) -> dict[str, Any]:
        """Upload a dataset file (zip, tar, tar.gz, .npy, .npz: sent as it is) or a folder
        (packed into a tar while it is sent); returns the server's manifest. `progress` is
        called with the number of bytes of each chunk sent."""
        upload = prepare_upload(path)
        if progress is not None:
            upload = counted(upload, progress)
        return self._run(calls.upload_dataset(name, upload))

    def datasets(self) -> list[dict[str, Any]]:
        return self._run(calls.datasets())

    def dataset(self, name: str) -> dict[str, Any]:
        return self._run(calls.dataset(name))

    def delete_dataset(self, name: str) -> None:
        self._run(calls.delete_dataset(name))

    # Training jobs

    def train(self, dataset: str, **recipe: Any) -> Job:
        """Queue a training job: `recipe` holds any fields of the job request (steps,
        conditional, arch_config, auto_promote, ...); the dataset's preset fills the rest."""
        accepted = self._run(calls.train(dataset, recipe))
        return Job(self, accepted)

    def job(self, job_id: str) -> Job:
        return Job(self, self._run(calls.job(job_id)))

    def jobs(self, state: str | None = None, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        return self._run(calls.jobs(state, limit, offset))

    def delete_job(self, job_id: str) -> None:
        self._run(calls.delete_job(job_id))


class Job:
    """A training job: `record` is its latest record (GET /train-jobs/{id}) as last read."""

    def __init__(self, client: GanClient, record: Mapping[str, Any]) -> None:
        self.client = client
        self.id: str = record["id"]
        self.record: dict[str, Any] = dict(record)

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, name={self.name!r}, state={self.state!r})"

    @property
    def name(self) -> str:
        return self.record["name"]

    @property
    def state(self) -> str:
        return self.record["state"]

    def refresh(self) -> dict[str, Any]:
        self.record = self.client._run(calls.job(self.id))
        return self.record

    def cancel(self) -> dict[str, Any]:
        return self.client._run(calls.cancel(self.id))

    def events(self, last_event_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Live events as dicts ({"type": "state" | "progress" | "cancel_requested", ...}),
        replayed from the start (or after `last_event_id`), until the final state. A dropped
        connection is resumed with Last-Event-ID, so no event is lost or repeated. An event
        with an id carries it as "event_id": events(last_event_id=...) resumes after it."""
        return self._follow(last_event_id, None)

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """The final record once the job has succeeded. Raises JobFailed (failed or
        cancelled; `.record` is the record) or JobTimeout after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.refresh()["state"] not in FINAL_STATES:
            for _ in self._follow(None, deadline):
                pass
            self.refresh()
        return final_record(self.record)

    def _follow(self, last_event_id: str | None, deadline: float | None) -> Iterator[dict]:
        cursor = EventCursor(self.id, self.client.retry, last_event_id)
        while True:
            call = calls.job_events(self.id, cursor.headers())
            try:
                answer = self.client._send(call, stream=True, timeout=read_timeout(deadline))
                with contextlib.closing(answer):
                    for line in answer.iter_lines():
                        if (event := cursor.feed(line)) is not None:
                            yield event
                        if cursor.done:
                            return
                        check_deadline(deadline, self.id)
                reason = "the stream ended before the job's final state"
            except (httpx.TransportError, Unreachable, StreamBroken) as exc:
                reason = str(exc) or type(exc).__name__
            check_deadline(deadline, self.id)
            time.sleep(cursor.dropped(reason))
