"""Redis clients that fail fast and reconnect by themselves.

A request must not hang while Redis is down, and must work again as soon as Redis is back:
short socket timeouts, one quick retry (a pooled connection broken by a Redis restart is
dropped and replaced), and no connection kept once it failed (redis-py disconnects on error).
"""

from __future__ import annotations

import logging

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from service.errors import JobStoreUnavailable

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 1.0
SOCKET_TIMEOUT_S = 3.0

#: What a lost Redis looks like to redis-py (OSError covers refused and reset sockets).
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)


def redacted(url: str) -> str:
    """The URL with any password replaced, fit for messages and logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def unavailable(url: str, exc: BaseException) -> JobStoreUnavailable:
    """The error to raise: its message tells the user only that the store is down; where
    Redis lives (and why it failed) goes to the log."""
    log.warning("job store unavailable: cannot reach Redis at %s (%s)", redacted(url), exc)
    return JobStoreUnavailable("job store unavailable: Redis cannot be reached; try again shortly")


def sync_client(url: str, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=10,
    )


def async_client(url: str, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=socket_timeout,
        retry=AsyncRetry(NoBackoff(), 1),
        health_check_interval=10,
    )
