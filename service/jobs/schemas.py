"""Request and response bodies of the jobs API (input and output models kept apart)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from training.config import TrainConfig


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class JobRequest(TrainConfig):
    """A training recipe plus what to do when it ends. `{"dataset": "ring-8"}` is complete."""

    model_config = TrainConfig.model_config | {
        "json_schema_extra": {"examples": [{"dataset": "ring-8", "steps": 3000}]}
    }

    auto_promote: bool = Field(
        True, description="On success, make the last version the model's default."
    )

    def train_config(self) -> TrainConfig:
        return TrainConfig.model_validate(self.model_dump(exclude={"auto_promote"}))


class JobAccepted(BaseModel):
    id: str
    name: str = Field(description="Model name the job publishes its checkpoints under.")
    state: JobState
    url: str


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


class JobList(BaseModel):
    jobs: list[JobView]
    total: int
    limit: int
    offset: int
    next_offset: int | None = None
