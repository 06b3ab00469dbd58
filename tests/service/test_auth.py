"""API keys (service/auth.py): 401 without a bearer key, 403 with a wrong one, nothing to
check when no key is configured; the key is compared exactly as sent."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from service.auth import check_api_key
from service.settings import Settings

KEYED = Settings.model_validate({"api_keys": ["k-one", "k-two"]})
OPEN = Settings.model_validate({"api_keys": []})


def _status(settings: Settings, header: str | None) -> int:
    try:
        check_api_key(settings, header)
    except HTTPException as refused:
        return refused.status_code
    return 200


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("", 401), ("Bearer", 401), ("Bearer ", 401), ("Basic k-one", 401),
     ("Bearer k-one", 200), ("bearer k-two", 200), ("Bearer k-three", 403),
     ("Bearer k-one ", 403), ("Bearer  k-one", 403), ("Bearer k-on", 403)],
)  # fmt: skip
def test_keys_are_checked_exactly(header: str | None, status: int) -> None:
    assert _status(KEYED, header) == status


def test_a_missing_key_asks_for_bearer_and_no_keys_means_open() -> None:
    with pytest.raises(HTTPException) as refused:
        check_api_key(KEYED, None)
    assert refused.value.headers == {"WWW-Authenticate": "Bearer"}
    assert "Authorization: Bearer <key>" in refused.value.detail
    assert _status(OPEN, None) == 200 and _status(OPEN, "Bearer anything") == 200
