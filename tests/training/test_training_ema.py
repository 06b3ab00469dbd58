"""EMA of G's weights and the batch-norm recalibration of a published generator."""

from __future__ import annotations

import torch
from torch import nn

from training.ema import EMA, recalibrate_batchnorm


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_the_average_follows_the_formula_with_its_warm_up() -> None:
    model = _net()
    ema = EMA(model, decay=0.9)
    start = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)  # t = 0: decay min(0.9, 1/10) = 0.1
    for p_ema, p0, p in zip(ema.module.parameters(), start, model.parameters(), strict=True):
        torch.testing.assert_close(p_ema, 0.1 * p0 + 0.9 * p)
    assert ema.current_decay() == min(0.9, 2 / 11)
    for _ in range(200):
        ema.update(model)
    assert ema.current_decay() == 0.9  # the warm-up is over


def test_decay_zero_copies_and_buffers_follow_the_model() -> None:
    model = _net()
    ema = EMA(model, decay=0.0)
    model.train()
    model(torch.randn(16, 3))  # moves the batch-norm running statistics
    with torch.no_grad():
        model[0].weight.mul_(3.0)
    ema.update(model)
    for a, b in zip(ema.module.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_the_state_round_trips() -> None:
    model = _net()
    ema = EMA(model, decay=0.99)
    for _ in range(3):
        ema.update(model)
    other = EMA(_net(), decay=0.99)
    other.load_state_dict(ema.state_dict())
    assert other.updates == 3 and other.current_decay() == ema.current_decay()


def test_recalibration_sets_the_running_statistics_to_the_batches_mean() -> None:
    model = _net()
    batches = [torch.randn(32, 3, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    out = recalibrate_batchnorm(model, batches)
    assert not out.training
    with torch.no_grad():
        hidden = torch.cat([model[0](b) for b in batches])  # (128, 4) the norm's inputs
    norm = model[1]
    # the plain average over batches of each batch's mean (equal batch sizes: the overall mean)
    torch.testing.assert_close(norm.running_mean, hidden.mean(0))
    variances = torch.stack([model[0](b).var(0, unbiased=True) for b in batches]).mean(0)
    torch.testing.assert_close(norm.running_var, variances.detach())
    assert norm.momentum == 0.1  # restored
