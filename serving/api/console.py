"""The marketer's console at ``/console`` and the OpenAPI page at ``/docs``, every asset local.

The console is static files shipped in :mod:`serving.console` (no build step, no CDN): one
page that signs in with an API key and reads the JSON routes. ``/docs`` is FastAPI's Swagger
UI page pointed at the Swagger UI files the ``swagger-ui-py`` package ships, so the page
works on a machine without internet.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

CONSOLE = Path(__file__).resolve().parent.parent / "console" / "static"
DOCS_ASSETS = "/docs/assets"


def swagger_assets() -> Path:
    """The Swagger UI dist folder shipped by ``swagger-ui-py`` (found without importing it:
    its package imports every web framework adapter it has)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed; run make setup")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def mount(app: FastAPI) -> None:
    """Add ``/console`` (the page and its assets) and ``/docs`` (Swagger UI) to ``app``."""
    app.mount("/console/assets", StaticFiles(directory=CONSOLE), name="console-assets")
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_assets()), name="docs-assets")

    @app.get("/console", include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(CONSOLE / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/console/", include_in_schema=False)
    async def console_slash() -> RedirectResponse:
        return RedirectResponse("/console")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )
