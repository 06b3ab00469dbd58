"""What the training loop tells its caller, through callbacks; no job system is imported here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ProgressReport:
    step: int  # generator steps done
    total_steps: int
    elapsed_s: float
    losses: dict[str, float]  # {"d": ..., "g": ...}
    d_real: float  # mean sigmoid(D(x)) on the last real batch (equilibrium: 0.5)
    d_fake: float  # mean sigmoid(D(G(z))) on the last generated batch
    g_grad_norm: float  # norm of G's gradient at the last generator step
    flags: dict[str, bool] = field(default_factory=dict)  # d_overpowers_g, mode_collapse
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. modes_covered on 2-D data
    published: str | None = None  # "name@version" when this step published a checkpoint
    final: bool = False  # the last report of the run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[ProgressReport], None]
StopCallback = Callable[[], bool]
