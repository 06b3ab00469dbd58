"""Every API call as data: what to send (`Call`) and how to read the answer (`Call.parse`).

The sync and async clients only send a Call and hand the answer to its parse function, so a
route's path, body and answer shape are written down once, here.
"""

from __future__ import annotations

import io
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
import numpy as np
from PIL import Image

from gan_client.errors import ServerError

T = TypeVar("T")
Label = int | str
As = Literal["pil", "numpy"]
Frames = list[Image.Image] | np.ndarray


@dataclass(frozen=True)
class Upload:
    """A request body sent in chunks: `chunks()` gives a fresh iterator for each attempt."""

    length: int
    chunks: Callable[[], Iterator[bytes]]
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    upload: Upload | None = None
    params: Mapping[str, str | int] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    ok: tuple[int, ...] = (200,)


@dataclass(frozen=True)
class Sampled:
    """A sample or walk answer as sent: its bytes and what the headers say about them."""

    content: bytes
    media_type: str
    model: str | None  # X-Model-Version: the name@version that made them
    seed: int | None  # X-Seed (None for a walk)
    count: int | None  # X-Count

    def array(self) -> np.ndarray:
        """An npy answer: uint8 (n, H, W, C) images, or float32 (n, D) points."""
        return np.load(io.BytesIO(self.content), allow_pickle=False)


def _segment(value: str) -> str:
    return quote(str(value), safe="")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ServerError(
            f"{response.request.method} {response.request.url.path}: the answer is not JSON "
            f"({response.headers.get('content-type', 'no content type')})",
            status=response.status_code,
            body=response.text[:500],
        ) from exc


def _none(_response: httpx.Response) -> None:
    return None


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    return int(value) if value is not None and value.isdigit() else None


def _sampled(response: httpx.Response) -> Sampled:
    return Sampled(
        content=response.content,
        media_type=response.headers.get("content-type", ""),
        model=response.headers.get("x-model-version"),
        seed=_int_header(response, "x-seed"),
        count=_int_header(response, "x-count"),
    )


def _label(value: Label) -> Label:
    """A class index (any integer type, numpy's too) or a class name, as JSON takes it."""
    return value if isinstance(value, str) else operator.index(value)


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


# Samples


def sample(
    model: str | None,
    n: int,
    seed: int | None,
    offset: int,
    truncation: float,
    label: Label | None,
    labels: list[Label] | None,
    format: str,
) -> Call[Sampled]:
    body = {
        "model": model,
        "n": operator.index(n),
        "seed": None if seed is None else operator.index(seed),
        "offset": operator.index(offset),
        "truncation": float(truncation),
        "label": None if label is None else _label(label),
        "labels": None if labels is None else [_label(x) for x in labels],
        "format": format,
    }
    return Call("POST", "/samples", _sampled, json=_drop_none(body))


def interpolate(
    model: str | None,
    seed_a: int,
    seed_b: int,
    index_a: int,
    index_b: int,
    steps: int,
    method: str,
    truncation: float,
    label: Label | None,
    format: str,
) -> Call[Sampled]:
    body = {
        "model": model,
        "seed_a": operator.index(seed_a),
        "index_a": operator.index(index_a),
        "seed_b": operator.index(seed_b),
        "index_b": operator.index(index_b),
        "steps": operator.index(steps),
        "method": method,
        "truncation": float(truncation),
        "label": None if label is None else _label(label),
        "format": format,
    }
    return Call("POST", "/samples/interpolate", _sampled, json=_drop_none(body))


def decode(sampled: Sampled, as_: As) -> Frames:
    """An npy answer as PIL images (one per sample: L for one channel, RGB for three) or as
    the array itself. Points of a vector model stay a float32 (n, D) array either way."""
    if as_ not in ("pil", "numpy"):
        raise ValueError(f"as_ must be 'pil' or 'numpy', got {as_!r}")
    array = sampled.array()
    if as_ == "numpy" or array.ndim != 4:
        return array
    return [Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a) for a in array]  # a: (H, W, C)


# Models


def models() -> Call[dict[str, Any]]:
    return Call("GET", "/models", _json)


def model(name: str) -> Call[dict[str, Any]]:
    return Call("GET", f"/models/{_segment(name)}", _json)


def promote(name: str, version: int) -> Call[dict[str, Any]]:
    body = {"version": operator.index(version)}
    return Call("POST", f"/models/{_segment(name)}/promote", _json, json=body)


def delete_version(name: str, version: int) -> Call[None]:
    ref = f"{_segment(name)}@{operator.index(version)}"
    return Call("DELETE", f"/models/{ref}", _none, ok=(200, 204))


# Datasets


def _dataset_list(response: httpx.Response) -> list[dict[str, Any]]:
    answer = _json(response)
    return answer.get("datasets", []) if isinstance(answer, dict) else answer


def datasets() -> Call[list[dict[str, Any]]]:
    return Call("GET", "/datasets", _dataset_list)


def dataset(name: str) -> Call[dict[str, Any]]:
    return Call("GET", f"/datasets/{_segment(name)}", _json)


def upload_dataset(name: str, upload: Upload) -> Call[dict[str, Any]]:
    return Call("POST", f"/datasets/{_segment(name)}", _json, upload=upload, ok=(200, 201))


def delete_dataset(name: str) -> Call[None]:
    return Call("DELETE", f"/datasets/{_segment(name)}", _none, ok=(200, 204))


# Training jobs


def train(dataset: str, recipe: Mapping[str, Any]) -> Call[dict[str, Any]]:
    return Call("POST", "/train-jobs", _json, json={"dataset": dataset, **recipe}, ok=(202,))


def job(job_id: str) -> Call[dict[str, Any]]:
    return Call("GET", f"/train-jobs/{_segment(job_id)}", _json)


def jobs(state: str | None, limit: int, offset: int) -> Call[dict[str, Any]]:
    params: dict[str, str | int] = {"limit": limit, "offset": offset}
    if state is not None:
        params["state"] = state
    return Call("GET", "/train-jobs", _json, params=params)


def cancel(job_id: str) -> Call[dict[str, Any]]:
    return Call("POST", f"/train-jobs/{_segment(job_id)}/cancel", _json, ok=(200, 202))


def delete_job(job_id: str) -> Call[None]:
    return Call("DELETE", f"/train-jobs/{_segment(job_id)}", _none, ok=(200, 204))


def job_events(job_id: str, headers: Mapping[str, str]) -> Call[None]:
    """Opened as a stream: the clients read its lines; parse is never called."""
    return Call("GET", f"/train-jobs/{_segment(job_id)}/events", _none, headers=headers)
