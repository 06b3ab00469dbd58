"""/docs and /redoc work without internet: every asset they reference is served by the
service itself, and the vendored files keep their licences."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sample_service_harness import ServiceProcess, copy_store

pytestmark = [pytest.mark.e2e]

VENDOR = Path(__file__).resolve().parents[2] / "service" / "static" / "vendor"


@pytest.fixture(scope="module")
def api(trained_store: Path, make_service, tmp_path_factory) -> ServiceProcess:
    store = copy_store(trained_store, tmp_path_factory.mktemp("docs") / "models")
    service = make_service(store)
    service.wait_ready()
    return service


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_local_assets(api: ServiceProcess, page: str) -> None:
    html = api.client.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    remote = re.findall(r"""(?:src|href)=["']?(https?:)?//""", html.text)
    assert not remote, f"{page} loads from elsewhere: {remote}"
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html.text)
    assert any(a.endswith(".js") for a in assets), html.text
    for asset in assets:
        answer = api.client.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 100, asset
    assert "/openapi.json" in html.text
    assert api.client.get("/openapi.json").json()["paths"]


def test_vendored_assets_keep_their_licences() -> None:
    folders = [p for p in VENDOR.iterdir() if p.is_dir()]
    assert {"swagger-ui-5.35.0", "redoc-3.0.1"} <= {f.name for f in folders}
    for folder in folders:
        assert (folder / "LICENSE").stat().st_size > 500, folder
        assert folder.name in (VENDOR / "VENDORED.md").read_text()
