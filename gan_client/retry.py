"""When to send a request again: 429 and 503 after their Retry-After, a bounded number of
times, never sleeping longer than a cap. Pure functions, shared by the sync and async clients."""

from __future__ import annotations

import email.utils
import math
import time
from dataclasses import dataclass

import httpx

from gan_client.errors import error_for

RETRY_STATUSES = (429, 503)


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` retries after the first try (0: never retry). Without a Retry-After the
    client waits `backoff * 2**attempt`; every sleep is at most `max_sleep` seconds. The
    event stream reconnects on the same terms after a dropped connection."""

    attempts: int = 4
    max_sleep: float = 30.0
    backoff: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 0 or self.max_sleep < 0 or self.backoff < 0:
            raise ValueError(f"retry policy values must be >= 0, got {self}")

    def sleep_for(self, attempt: int, retry_after: float | None = None) -> float:
        wanted = self.backoff * 2**attempt if retry_after is None else retry_after
        return min(self.max_sleep, max(0.0, wanted))


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds: a number of seconds, or an HTTP date; None if absent or bad."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def verdict(
    response: httpx.Response, ok: tuple[int, ...], attempt: int, policy: RetryPolicy
) -> float | None:
    """What to do with an answer whose body has been read (or whose status is in `ok`):
    None = it is the answer; a number = sleep that long and send again (attempt is how many
    retries were made so far); otherwise the typed error is raised."""
    if response.status_code in ok:
        return None
    wait = retry_after(response)
    if response.status_code in RETRY_STATUSES and attempt < policy.attempts:
        return policy.sleep_for(attempt, wait)
    raise error_for(response, wait)
