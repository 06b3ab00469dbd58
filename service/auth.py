"""API keys: `Authorization: Bearer <key>` on routes that change state, when GAN_API_KEYS is set.

Use as a dependency: `dependencies=[Depends(require_api_key)]`, or `ApiKey` from service.deps.
Keys are read from the app's Settings (`app.state.settings`), so one app never sees another's.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBearer

from service.settings import Settings


def check_api_key(settings: Settings, authorization: str | None) -> None:
    """401 without a bearer key, 403 with one that is not accepted; nothing when keys are off."""
    if not settings.api_keys:
        return
    # The key is compared exactly as sent: no trimming, so every route accepts the same keys.
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise HTTPException(
            401,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Compare against every key in constant time so timing does not reveal a prefix.
    accepted = [hmac.compare_digest(key.encode(), k.encode()) for k in settings.api_keys]
    if not any(accepted):
        raise HTTPException(403, "API key not accepted")


# Declares the "bearer" security scheme in OpenAPI (so Swagger UI's "Authorize" sends the key);
# the check itself reads the header as sent, in check_api_key.
bearer_scheme = HTTPBearer(auto_error=False, description="One of GAN_API_KEYS.")


async def require_api_key(
    request: Request, _declared: Annotated[object, Depends(bearer_scheme)] = None
) -> None:
    check_api_key(request.app.state.settings, request.headers.get("authorization"))


AUTH_RESPONSES: dict[int | str, dict] = {
    401: {
        "description": "No API key (only when GAN_API_KEYS is set)",
        "content": {"application/json": {"example": {
            "detail": "missing API key: send 'Authorization: Bearer <key>'"}}},
    },
    403: {
        "description": "Wrong API key",
        "content": {"application/json": {"example": {"detail": "API key not accepted"}}},
    },
}  # fmt: skip
