"""Redis URLs in messages and logs (service/jobs/store/redis_client.py) never show a password."""

from __future__ import annotations

import logging

import pytest

from service.jobs.store.redis_client import redacted, unavailable


@pytest.mark.parametrize(
    ("url", "shown"),
    [("redis://h:6379/0", "redis://h:6379/0"),
     ("redis://:s3cret@h:6379/0", "redis://***@h:6379/0"),
     ("rediss://user:p%40ss@h:6380/1", "rediss://***@h:6380/1"),
     ("redis://:a@b@h:1/0", "redis://***@h:1/0")],
)  # fmt: skip
def test_redacted_hides_the_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_an_unreachable_store_tells_the_user_nothing_about_where_it_lives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        error = unavailable("redis://:s3cret@cache.internal:6379/0", ConnectionError("refused"))
    assert "cache.internal" not in str(error) and "s3cret" not in str(error)
    assert "cache.internal" in caplog.text and "s3cret" not in caplog.text
