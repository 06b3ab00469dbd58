"""An exponential moving average of the generator's weights: what checkpoints publish.

Parameters are averaged; buffers (batch-norm running statistics) are copied, and
`recalibrate_batchnorm` re-estimates them for the averaged weights before publishing, since
the service samples in eval mode, one request at a time.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn


class EMA:
    """Shadow copy of `model` whose parameters follow p_ema <- d * p_ema + (1 - d) * p.

    The decay warms up as min(decay, (1 + t) / (10 + t)) so that early, short runs are not
    dominated by the random initial weights. decay = 0 keeps an exact copy of the model."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self._ema_params = list(self.module.parameters())
        self._ema_buffers = list(self.module.buffers())

    def current_decay(self) -> float:
        t = self.updates
        return min(self.decay, (1.0 + t) / (10.0 + t))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = self.current_decay()
        params = [p.detach() for p in model.parameters()]
        if decay == 0.0:
            torch._foreach_copy_(self._ema_params, params)
        else:
            torch._foreach_lerp_(self._ema_params, params, 1.0 - decay)
        if self._ema_buffers:
            torch._foreach_copy_(self._ema_buffers, list(model.buffers()))
        self.updates += 1

    def state_dict(self) -> dict[str, object]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.module.load_state_dict(state["module"])  # type: ignore[arg-type]
        self.updates = int(state["updates"])  # type: ignore[arg-type]


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, noise_batches: list[torch.Tensor], forward: Callable | None = None
) -> nn.Module:
    """Replace every batch norm's running statistics by their plain average over the given
    noise batches (momentum None = cumulative mean), then return the model in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model.eval()
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for z in noise_batches:
        (forward or model)(z)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    return model.eval()
