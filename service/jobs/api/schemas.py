"""Bodies of the jobs API (input and output models kept apart; the record is JobView)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from service.jobs.store.records import JobState, JobView
from training.config import TrainConfig

__all__ = ["JobAccepted", "JobList", "JobRequest", "JobView", "PresetList", "PresetView"]


class JobRequest(TrainConfig):
    """A training recipe plus what to do when it ends. `{"dataset": "ring-8"}` is complete."""

    # Strict, as on /samples: "steps": "5", 5.0 or true is refused, not coerced.
    model_config = TrainConfig.model_config | {
        "strict": True,
        "json_schema_extra": {"examples": [{"dataset": "ring-8", "steps": 3000}]},
    }

    auto_promote: bool = Field(
        True, description="On success, make the last version the model's default."
    )

    def train_config(self) -> TrainConfig:
        """The recipe as the user gave it: only the fields they set count as set, so the
        dataset's preset fills the rest exactly as `python -m training` does."""
        given = self.model_dump(exclude={"auto_promote"}, exclude_unset=True)
        return TrainConfig.model_validate(given)


class JobAccepted(BaseModel):
    id: str
    name: str = Field(description="Model name the job publishes its checkpoints under.")
    state: JobState
    url: str


class JobList(BaseModel):
    jobs: list[JobView]
    total: int
    limit: int
    offset: int
    next_offset: int | None = None


class PresetView(BaseModel):
    dataset: str
    about: str = Field(description="What the preset is, in one line.")
    recipe: dict[str, Any] = Field(description="Every training field a job on it gets.")
    arch_config: dict[str, Any] = Field(description="The architecture it builds.")


class PresetList(BaseModel):
    presets: list[PresetView]
