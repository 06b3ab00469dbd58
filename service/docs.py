"""/docs (Swagger UI) and /redoc from assets the service serves itself (service/static/vendor,
see VENDORED.md there): the pages work without internet and load nothing from elsewhere."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
SWAGGER = "/static/vendor/swagger-ui-5.35.0"
REDOC = "/static/vendor/redoc-3.0.1"


def install_docs(app: FastAPI) -> None:
    """Mount /static and serve /docs and /redoc from it (the app is built with
    docs_url=None and redoc_url=None, so FastAPI's CDN pages are not used)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title}: API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title}: API reference",
            redoc_js_url=f"{REDOC}/redoc.standalone.js",
            redoc_favicon_url=f"{SWAGGER}/favicon-32x32.png",
            with_google_fonts=False,
        )
