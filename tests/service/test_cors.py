"""GAN_CORS_ORIGINS: the listed origins get CORS answers (preflights included, and errors the
middleware answers early); other origins, and every origin when it is empty, get none."""

from __future__ import annotations

from pathlib import Path

import pytest
from upload_helpers import KEY, app_client

from service.settings import Settings

ORIGIN = "https://lab.example.org"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip


def test_the_setting_reads_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAN_CORS_ORIGINS", f" {ORIGIN} , http://localhost:5173,")
    assert Settings().cors_origins == [ORIGIN, "http://localhost:5173"]
    monkeypatch.setenv("GAN_CORS_ORIGINS", "")
    assert Settings().cors_origins == []


def test_listed_origins_get_cors_headers(tmp_path: Path) -> None:
    with app_client(tmp_path, cors_origins=[ORIGIN], max_body_bytes=1024) as client:
        preflight = client.options("/datasets/faces", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        methods = preflight.headers["access-control-allow-methods"]
        assert {"GET", "POST", "DELETE"} <= {m.strip() for m in methods.split(",")}
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed

        answer = client.get("/healthz", headers={"Origin": ORIGIN})
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        exposed = answer.headers["access-control-expose-headers"]
        for header in ("X-Model-Version", "X-Seed", "X-Offset", "X-Request-Id", "Location"):
            assert header in exposed

        early = client.post("/samples", content=b"x" * 4096, headers={"Origin": ORIGIN, **KEY})
        assert early.status_code == 413  # answered by the middleware before any route
        assert early.headers["access-control-allow-origin"] == ORIGIN

        other = client.get("/healthz", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
        refused = client.options(
            "/samples", headers={**PREFLIGHT, "Origin": "https://elsewhere.example"}
        )
        assert refused.status_code == 400


def test_no_origins_means_no_cors_headers(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        answer = client.get("/healthz", headers={"Origin": ORIGIN})
        assert answer.status_code == 200
        assert not any(h.startswith("access-control-") for h in answer.headers)
