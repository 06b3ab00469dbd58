"""A job's record as the API shows it, and its states (shared by the API and the workers)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class JobView(BaseModel):
    id: str
    name: str
    dataset: str
    state: JobState
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    step: int = 0
    total_steps: int
    eta_s: float | None = Field(None, description="Estimated seconds left while running.")
    elapsed_s: float | None = None
    losses: dict[str, float] = Field(default_factory=dict)
    d_real: float | None = Field(None, description="Mean D(x) on real data (ideal: 0.5).")
    d_fake: float | None = Field(None, description="Mean D(G(z)) on generated data.")
    g_grad_norm: float | None = None
    flags: dict[str, bool] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    published: list[str] = Field(default_factory=list, description="Versions, 'name@step'.")
    promoted: str | None = Field(None, description="Version made default on success.")
    error: str | None = None
    attempts: int = Field(0, description="Times a worker started (or resumed) this job.")
    crashes: int = Field(0, description="Times its worker died while running it.")
    cancel_requested: bool = False
    auto_promote: bool = True
    config: dict[str, Any] = Field(default_factory=dict)
