"""All service configuration, read from GAN_* environment variables and validated at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def default_job_memory_mb() -> int:
    """Half of this machine's memory, or of its container's limit when that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return max(256, total // 2 // 2**20)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAN_", extra="ignore")

    # Storage
    model_dir: Path = Field(Path("model-store"), description="Published checkpoints (shared).")
    data_root: Path = Field(Path("data"), description="folder:/npz: datasets must lie inside it.")
    var_dir: Path = Field(Path("var"), description="Embedded redis data, logs, pid files.")

    # Device
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA if present.")
    inference_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="Image generators' dtype; auto = bfloat16 on a CPU with avx512_bf16 or "
        "AMX, else float32. Vector generators always run in float32.",
    )

    # Redis / jobs. Empty redis_url: `python -m service` embeds redis-server and a worker.
    redis_url: str = Field("", description="redis://host:port/db; empty = embedded default.")
    redis_password_file: Path | None = Field(
        None,
        description="File holding the Redis password (a compose secret), put into "
        "GAN_REDIS_URL when the URL carries none.",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated keys; empty = no auth."
    )
    api_keys_file: Path | None = Field(
        None,
        description="File of API keys, one per line or comma-separated (a compose secret), "
        "accepted beside GAN_API_KEYS.",
    )
    require_api_keys: bool = Field(
        False, description="The API refuses to start without an API key (production)."
    )
    max_queued_jobs: int = Field(16, ge=1, description="Queued training jobs before 429.")
    job_lease_s: float = Field(30.0, gt=0, description="A running job's heartbeat lease.")
    job_reaper_interval_s: float = Field(
        5.0, gt=0, description="How often expired leases are looked for (jobs re-queued)."
    )
    job_max_crashes: int = Field(
        3, ge=1, description="Worker deaths a job survives before it is marked failed."
    )
    max_job_memory_mb: int = Field(
        default_factory=default_job_memory_mb,
        ge=1,
        description="Largest memory a job's recipe may need, estimated at submit (default: "
        "half of the machine's or container's memory); a worker also caps each job near it.",
    )
    job_visibility_timeout_s: float = Field(
        6 * 3600.0, gt=0, description="Celery Redis visibility_timeout (leases do recovery)."
    )
    embedded_redis_port: int = Field(
        0, ge=0, le=65535, description="Embedded redis-server port (0 = a free port)."
    )
    ready_without_model: bool = Field(
        False, description="/readyz answers 200 before any model exists (compose deployments)."
    )
    default_model: str = Field("", description="Model used when a request names none.")
    demo_job: bool = Field(True, description="Embedded default queues a demo job when empty.")

    # Sampling
    max_samples_per_request: int = Field(256, ge=1, le=65536, description="Largest n.")
    max_batch_size: int = Field(64, ge=1, le=65536, description="Samples per device batch.")
    max_batch_wait_ms: float = Field(
        2.0, ge=0, le=1000, description="Wait for requests being parsed to join a batch."
    )
    batch_fill_factor: float = Field(
        0.5,
        ge=0,
        le=10,
        description="After a batch, wait up to this x a full batch's "
        "forward time for the answered requests' clients to send again (0 = never).",
    )
    max_queue_samples: int = Field(
        4096, ge=1, description="Samples waiting for the device before 429 (a hard cap)."
    )
    max_queue_wait_s: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Admit a sample request only if its predicted wait (the samples in the "
        "service and its own, at the measured cost per sample) fits; else 429.",
    )
    request_timeout_s: float = Field(30.0, gt=0, description="Per-request deadline.")
    max_models_on_device: int = Field(4, ge=1, description="LRU cap on loaded generators.")
    encode_workers: int = Field(0, ge=0, description="Encoding threads (0 = one per core).")
    api_processes: int = Field(
        1,
        ge=1,
        le=256,
        description="API processes behind the one port, each with its own event loop, device "
        "thread and copy of the models (API alone, with GAN_REDIS_URL set; the embedded default "
        "runs one). On a CPU host, one per core serves about 1.3x more at 32 connections "
        "(docs/benchmarks.md).",
    )
    torch_threads: int = Field(
        0,
        ge=0,
        le=1024,
        description="Torch threads per API process for the forward (0 = torch's default with one "
        "API process, the cores divided among them with several).",
    )
    png_compress_level: int = Field(1, ge=0, le=9, description="zlib level for PNGs.")
    reload_interval_s: float = Field(2.0, gt=0, description="Model directory scan period.")
    keep_alive_s: float = Field(
        75.0,
        gt=0,
        le=3600,
        description="Idle seconds before a keep-alive connection is closed (longer than a load "
        "balancer's idle timeout, so the balancer closes first).",
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest request body.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins a browser may call the API from (CORS), e.g. "
        "https://lab.example.org; empty = no CORS headers.",
    )
    opentelemetry: bool = Field(
        False,
        description="FastAPI's OpenTelemetry spans, metrics and logs for each request, sent "
        "to the providers an OpenTelemetry SDK configures (off: the Prometheus metrics and "
        "JSON logs stay; on, every request pays FastAPI's check, about 5 % of the event "
        "loop's time per request under load, by py-spy).",
    )

    # Uploaded datasets (POST /datasets/{name}), kept under <data_root>/uploads/
    max_upload_bytes: int = Field(
        256 * 2**20, ge=1024, description="Largest dataset upload body (413 beyond)."
    )
    max_upload_files: int = Field(
        100_000, ge=1, description="Most entries an uploaded archive may hold (413 beyond)."
    )
    max_unpacked_bytes: int = Field(
        2**30,
        ge=1024,
        description="Most bytes an uploaded archive may unpack to, declared and actually "
        "written (413 beyond; each entry may also unpack to at most 100x its packed size).",
    )

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("redis_password_file", "api_keys_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("redis_password_file")
    @classmethod
    def _password_readable(cls, path: Path | None) -> Path | None:
        if path is not None and not read_secret(path):
            raise ValueError(f"{path} holds no password")
        return path

    @field_validator("api_keys_file")
    @classmethod
    def _keys_readable(cls, path: Path | None) -> Path | None:
        if path is not None and not _split_lines(read_secret(path)):
            raise ValueError(f"{path} holds no key")
        return path

    @model_validator(mode="after")
    def _secrets_from_files(self) -> Settings:
        if self.api_keys_file is not None:
            extra = _split_lines(read_secret(self.api_keys_file))
            self.api_keys = list(dict.fromkeys([*self.api_keys, *extra]))
        if self.redis_password_file is not None and self.redis_url:
            self.redis_url = with_password(self.redis_url, read_secret(self.redis_password_file))
        return self


def read_secret(path: Path) -> str:
    """A secret file's text without its trailing newline; ValueError naming the file when it
    cannot be read."""
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc.__class__.__name__}") from exc


def _split_lines(text: str) -> list[str]:
    return [k.strip() for line in text.splitlines() for k in line.split(",") if k.strip()]


def with_password(url: str, password: str) -> str:
    """`url` with `password` in it (quoted); a URL that already has a different one is an
    error, so two sources never silently disagree."""
    parts = urlsplit(url)
    if parts.password is not None:
        if unquote(parts.password) != password:
            raise ValueError("GAN_REDIS_URL's password differs from GAN_REDIS_PASSWORD_FILE's")
        return url
    user = quote(parts.username or "", safe="")
    netloc = f"{user}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))
