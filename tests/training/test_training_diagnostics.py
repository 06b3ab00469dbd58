"""Failure-mode diagnostics on constructed inputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from training.diagnostics import (
    FailureWatch,
    batch_diversity,
    collapse_flag,
    grad_norm,
    overpower_flag,
    sigmoid_mean,
)


def test_identical_samples_have_zero_diversity_and_flag_collapse() -> None:
    same = torch.ones(16, 1, 8, 8)
    real = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    fake_div, real_div = batch_diversity(same), batch_diversity(real)
    assert fake_div == 0.0 and real_div > 1.0
    assert collapse_flag(fake_div, real_div)
    assert not collapse_flag(real_div, real_div)


def test_diversity_known_value_excludes_the_diagonal() -> None:
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])  # one pair at distance 5
    assert math.isclose(batch_diversity(x), 5.0, rel_tol=1e-6)
    three = torch.tensor([[0.0], [1.0], [3.0]])  # pairs 1, 3, 2 -> mean 2
    assert math.isclose(batch_diversity(three), 2.0, rel_tol=1e-6)
    assert batch_diversity(torch.zeros(1, 4)) == 0.0


def test_collapse_threshold_edges() -> None:
    assert collapse_flag(0.19, 1.0) and not collapse_flag(0.21, 1.0)
    assert collapse_flag(0.4, 1.0, threshold=0.5)
    assert not collapse_flag(0.0, 0.0)  # constant data: no basis for a verdict


def test_overpower_flag_needs_low_d_fake_and_small_gradient() -> None:
    assert overpower_flag(0.01, 1e-5)
    assert not overpower_flag(0.01, 0.5)  # non-saturating G still learns
    assert not overpower_flag(0.3, 1e-5)
    assert overpower_flag(0.09, 0.005, d_fake_max=0.1, grad_min=0.01)


def test_failure_watch_requires_consecutive_reports() -> None:
    watch = FailureWatch(patience=3)
    healthy = dict(fake_diversity=1.0, real_diversity=1.0, d_fake=0.4, g_grad_norm=1.0)
    collapsed = dict(fake_diversity=0.01, real_diversity=1.0, d_fake=0.4, g_grad_norm=1.0)
    assert watch.update(**collapsed)["mode_collapse"] is False
    assert watch.update(**collapsed)["mode_collapse"] is False
    watch.update(**healthy)  # the run is broken: counting starts over
    flags = [watch.update(**collapsed)["mode_collapse"] for _ in range(3)]
    assert flags == [False, False, True]
    assert watch.update(**healthy) == {"mode_collapse": False, "d_overpowering": False}


def test_failure_watch_flags_sustained_low_d_fake_even_with_gradient() -> None:
    watch = FailureWatch(patience=2)
    low = dict(fake_diversity=1.0, real_diversity=1.0, d_fake=0.001, g_grad_norm=3.0)
    assert watch.update(**low)["d_overpowering"] is False
    assert watch.update(**low)["d_overpowering"] is True


def test_grad_norm_and_sigmoid_mean() -> None:
    layer = nn.Linear(3, 1, bias=True)
    assert grad_norm(layer) == 0.0  # no gradients yet
    with torch.no_grad():
        layer.weight.fill_(0.0)
        layer.bias.fill_(0.0)
    layer(torch.tensor([[1.0, 2.0, 2.0]])).sum().backward()  # d/dw = x, d/db = 1
    assert math.isclose(grad_norm(layer), math.sqrt(1 + 4 + 4 + 1), rel_tol=1e-6)
    assert sigmoid_mean(torch.zeros(5)) == pytest.approx(0.5)
    assert sigmoid_mean(torch.tensor([100.0, -100.0])) == pytest.approx(0.5)
    assert sigmoid_mean(torch.full((4, 1), -20.0)) < 1e-8


def test_grouped_diversity_sees_a_class_whose_samples_ignore_z() -> None:
    from training.diagnostics import grouped_diversity

    gen = torch.Generator().manual_seed(0)
    prototypes = torch.randn(4, 16, generator=gen) * 5  # one image per class, far apart
    labels = torch.arange(32) % 4
    collapsed = prototypes[labels] + 0.01 * torch.randn(32, 16, generator=gen)
    varied = prototypes[labels] + torch.randn(32, 16, generator=gen)
    assert batch_diversity(collapsed) > 5  # across classes the batch looks spread out
    assert grouped_diversity(collapsed, labels) < 0.2  # within each class it is not
    assert grouped_diversity(varied, labels) > 4
    assert collapse_flag(grouped_diversity(collapsed, labels), grouped_diversity(varied, labels))
    assert grouped_diversity(varied, None) == batch_diversity(varied)
    assert grouped_diversity(varied, torch.arange(32)) == batch_diversity(varied)  # no pairs
