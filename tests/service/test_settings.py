"""Settings read from the environment (service/settings.py), and secrets read from files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis
from pydantic import ValidationError

from service.settings import Settings, with_password


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean GAN_* environment, set per test."""
    for name in list(os.environ):
        if name.startswith("GAN_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_lists_are_comma_separated_and_trimmed(env: pytest.MonkeyPatch) -> None:
    env.setenv("GAN_API_KEYS", " one, two ,,three ")
    env.setenv("GAN_CORS_ORIGINS", "https://a.example, https://b.example")
    settings = Settings()
    assert settings.api_keys == ["one", "two", "three"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_keys_from_a_file_join_the_environment_ones(env: pytest.MonkeyPatch, tmp_path: Path):
    keys = tmp_path / "api_keys"
    keys.write_text("from-file-1\n  from-file-2  \n\nshared,from-file-3\n")
    env.setenv("GAN_API_KEYS", "from-env,shared")
    env.setenv("GAN_API_KEYS_FILE", str(keys))
    assert Settings().api_keys == ["from-env", "shared", "from-file-1", "from-file-2",
                                   "from-file-3"]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "cannot read"), ("\n \n", "holds no key"), (b"\xff\xfe", "cannot read")],
)
def test_an_unusable_keys_file_is_refused_by_name(
    env: pytest.MonkeyPatch, tmp_path: Path, content: str | bytes | None, words: str
) -> None:
    keys = tmp_path / "api_keys"
    if isinstance(content, bytes):
        keys.write_bytes(content)
    elif content is not None:
        keys.write_text(content)
    env.setenv("GAN_API_KEYS_FILE", str(keys))
    with pytest.raises(ValidationError) as refused:
        Settings()
    [error] = refused.value.errors()
    assert error["loc"] == ("api_keys_file",) and words in error["msg"]


def test_an_empty_file_setting_means_unset(env: pytest.MonkeyPatch) -> None:
    env.setenv("GAN_API_KEYS_FILE", "")
    env.setenv("GAN_REDIS_PASSWORD_FILE", "")
    settings = Settings()
    assert settings.api_keys_file is None and settings.redis_password_file is None


def test_the_password_file_goes_into_the_url_quoted(env: pytest.MonkeyPatch, tmp_path: Path):
    secret = tmp_path / "redis_password"
    password = "p@ss:w/rd %20 #1"
    secret.write_text(password + "\n")
    env.setenv("GAN_REDIS_URL", "redis://cache.internal:6380/2")
    env.setenv("GAN_REDIS_PASSWORD_FILE", str(secret))
    url = Settings().redis_url
    assert password not in url  # quoted: the URL still parses
    kwargs = redis.Redis.from_url(url).connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["host"], kwargs["port"], kwargs["db"]) == (
        password, "cache.internal", 6380, 2,
    )  # fmt: skip


def test_the_embedded_default_takes_no_password(env: pytest.MonkeyPatch, tmp_path: Path):
    secret = tmp_path / "redis_password"
    secret.write_text("pw")
    env.setenv("GAN_REDIS_PASSWORD_FILE", str(secret))
    assert Settings().redis_url == ""  # empty: `python -m service` embeds its own Redis


def test_with_password_keeps_a_username_and_refuses_a_second_password() -> None:
    assert with_password("rediss://app@h:1/0", "pw") == "rediss://app:pw@h:1/0"
    assert with_password("redis://:pw@h:1/0", "pw") == "redis://:pw@h:1/0"  # the same: fine
    with pytest.raises(ValueError, match="differs from GAN_REDIS_PASSWORD_FILE"):
        with_password("redis://:other@h:1/0", "pw")
