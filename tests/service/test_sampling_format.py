"""The Sampler's choice of response format from `Accept` when the body names none."""

from __future__ import annotations

import pytest

from service.sampling import Sampler

choose = Sampler._from_accept


@pytest.mark.parametrize(
    ("accept", "n", "kind", "expected"),
    [
        (None, 1, "image", "png"),  # no Accept: one PNG, a ZIP of many, JSON points
        (None, 16, "image", "zip"),
        (None, 16, "vector", "json"),
        ("*/*", 4, "image", "zip"),
        ("image/png", 1, "image", "png"),
        ("image/png", 16, "image", "grid"),  # many samples as one PNG: the grid
        ("IMAGE/WEBP; q=0.9", 1, "image", "webp"),  # case and parameters ignored
        ("text/html, application/x-npy;q=0.8", 8, "image", "npy"),  # the first known one
        ("application/octet-stream", 8, "vector", "npy"),
        ("application/json", 2, "image", "json"),
        ("text/html, image/avif", 1, "image", "png"),  # nothing known: the default
    ],
)
def test_accept_picks_the_format(accept: str | None, n: int, kind: str, expected: str) -> None:
    assert choose(accept, n, kind) == expected
