"""The documentation pages (/docs, /redoc) load everything from the gateway itself: they work
with no internet connection, outside the rate limits and whatever the body limit."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.settings import GatewaySettings

PAGES = ("/docs", "/redoc")
# What a page fetches: scripts, style sheets, icons, and the OpenAPI document it renders.
FETCHED = re.compile(r"""(?:src|href|spec-url)="([^"]*)"|\burl: '([^']*)'""")
PACKAGED = Path(str(files("fastapi_offline").joinpath("static")))


def fetched_by(html: str) -> list[str]:
    return [a or b for a, b in FETCHED.findall(html)]


def docs_app(**settings: object) -> FastAPI:
    return create_app(GatewaySettings(**settings))  # type: ignore[arg-type]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=docs_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.mark.parametrize("page", PAGES)
async def test_a_docs_page_names_no_other_host(client, page):
    answer = await client.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    # FastAPI's own pages load from cdn.jsdelivr.net, fastapi.tiangolo.com and Google Fonts.
    assert re.findall(r"(?:https?:)?//[\w.-]+", answer.text) == []
    urls = fetched_by(answer.text)
    assert "/openapi.json" in urls
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
async def test_every_asset_a_docs_page_loads_is_served_by_the_gateway(client, page, assets):
    html = (await client.get(page)).text
    urls = [url for url in fetched_by(html) if url != "/openapi.json"]
    assert {Path(urlsplit(url).path).name for url in urls} == assets
    kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in urls:
        answer = await client.get(url)
        assert answer.status_code == 200, url
        name = Path(urlsplit(url).path).name
        assert answer.headers["content-type"].startswith(kinds[Path(name).suffix]), url
        assert answer.content == (PACKAGED / name).read_bytes()
        assert answer.headers["cache-control"] == "public, max-age=86400"


async def test_the_openapi_document_the_pages_render_is_served(client):
    answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.json()["info"]["title"] == "Estuary API"


async def test_swagger_ui_returns_to_its_own_oauth2_redirect_page(client):
    html = (await client.get("/docs")).text
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in html
    redirect = await client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "swaggerUIRedirectOauth2" in redirect.text


@pytest.mark.parametrize("name", ["core.py", "..%2Fcore.py", "swagger-ui.css.map", "index.html"])
async def test_only_the_docs_assets_are_served(client, name):
    answer = await client.get(f"/docs/assets/{name}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_behind_a_path_prefix_the_pages_load_from_under_it():
    transport = httpx.ASGITransport(app=docs_app(), root_path="/gateway")
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        for page in PAGES:
            urls = fetched_by((await client.get(page)).text)
            assert urls and all(url.startswith("/gateway/") for url in urls), urls


async def test_the_docs_spend_no_rate_limit_budget():
    app = docs_app(rate_limit_anonymous_per_hour=2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        for _ in range(3):
            for page in PAGES:
                html = (await client.get(page)).text
                for url in fetched_by(html):
                    answer = await client.get(url)
                    assert answer.status_code == 200, url
                    assert "ratelimit-limit" not in answer.headers
        # The first /api/ request still finds the whole budget but its own request.
        api = await client.get("/api/v1/no-such-route")
        assert api.headers["ratelimit-limit"] == "2"
        assert api.headers["ratelimit-remaining"] == "1"


async def test_assets_larger_than_the_body_limit_are_served_whole():
    transport = httpx.ASGITransport(app=docs_app(max_body_bytes=1024))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        bundle = (PACKAGED / "swagger-ui-bundle.js").read_bytes()
        assert len(bundle) > 1024
        answer = await client.get("/docs/assets/swagger-ui-bundle.js")
        assert answer.status_code == 200
        assert answer.content == bundle
