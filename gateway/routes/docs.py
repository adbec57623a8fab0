"""The API's documentation pages, Swagger UI at /docs and ReDoc at /redoc, with their scripts
and styles served by the gateway itself, so the pages work with no internet connection.

The assets are the ones the fastapi-offline package ships (Swagger UI and ReDoc's standalone
bundle); the pages are FastAPI's own, pointed at them. Nothing here is under /api/, so the
pages are outside the rate limits, and they take no request body.
"""

from __future__ import annotations

from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

from fastapi import Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import FileResponse, HTMLResponse

from chassis.errors import NotFound
from gateway.routes.common import GatewayRouter

ASSETS_PATH = "/docs/assets"
ASSETS_PACKAGE = "fastapi_offline"
# The files the pages load, by the name they are served under, with their media types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# The URLs carry the package's version, so a browser that cached a day's worth of assets
# fetches them again after an upgrade.
ASSETS_VERSION = version("fastapi-offline")
CACHE_CONTROL = "public, max-age=86400"


def _asset_folder() -> Path:
    folder = Path(str(files(ASSETS_PACKAGE).joinpath("static")))
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"{ASSETS_PACKAGE} no longer ships {', '.join(missing)}")
    return folder


ASSET_FOLDER = _asset_folder()

router = GatewayRouter(include_in_schema=False)


def asset_url(request: Request, name: str) -> str:
    """Where a page finds one of its assets: on this gateway, under the path it is mounted at."""
    return f"{_root(request)}{ASSETS_PATH}/{name}?v={ASSETS_VERSION}"


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI, with an Authorize button for the bearer token."""
    app = request.app
    redirect = app.swagger_ui_oauth2_redirect_url
    return get_swagger_ui_html(
        openapi_url=f"{_root(request)}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=asset_url(request, "swagger-ui-bundle.js"),
        swagger_css_url=asset_url(request, "swagger-ui.css"),
        swagger_favicon_url=asset_url(request, "favicon.png"),
        oauth2_redirect_url=f"{_root(request)}{redirect}" if redirect else None,
        init_oauth=app.swagger_ui_init_oauth,
        swagger_ui_parameters=app.swagger_ui_parameters,
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    """The page Swagger UI's OAuth2 flows return to."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc, without the web fonts it would fetch from Google."""
    app = request.app
    return get_redoc_html(
        openapi_url=f"{_root(request)}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=asset_url(request, "redoc.standalone.js"),
        redoc_favicon_url=asset_url(request, "favicon.png"),
        with_google_fonts=False,
    )


@router.get(ASSETS_PATH + "/{asset}")
async def docs_asset(asset: str) -> FileResponse:
    """A script, style sheet or icon of the documentation pages."""
    media_type = ASSETS.get(asset)
    if media_type is None:
        raise NotFound(f"no documentation asset {asset!r}")
    return FileResponse(
        ASSET_FOLDER / asset, media_type=media_type, headers={"Cache-Control": CACHE_CONTROL}
    )
