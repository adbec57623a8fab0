"""The gateway's routers pass over a path none of their routes can match, and every request
still reaches the route it reached before (gateway.routes.common.GatewayRouter)."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import Match

from gateway.app import create_app
from gateway.routes.common import GatewayRouter, _fewest_prefixes
from gateway.settings import GatewaySettings


def _request(method: str, path: str, root_path: str = "") -> dict:
    return {
        "type": "http",
        "method": method,
        "path": root_path + path,
        "root_path": root_path,
        "headers": [],
        "query_string": b"",
    }


def _first(routes, scope: dict) -> tuple[Match, object]:
    """The first full match, else the first partial one (a 405), as Starlette's router picks."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return match, route
        if match == Match.PARTIAL and partial is None:
            partial = route
    return (Match.PARTIAL, partial) if partial is not None else (Match.NONE, None)


def _resolve(app, scope: dict) -> tuple[Match, object]:
    """The route a request reaches: through the app's routers, then within the one chosen."""
    match, chosen = _first(app.router.routes, scope)
    inner = getattr(chosen, "original_router", None)
    if inner is None:
        return match, chosen
    _, route = _first(inner.routes, scope)
    return match, route


def _requests_for_every_route(app) -> list[tuple[str, str]]:
    requests = []
    for router in app.routes:
        for route in getattr(router, "original_router", APIRouter()).routes:
            if not isinstance(route, APIRoute):
                continue
            path = re.sub(r"\{[^}]+\}", "x1", route.path)
            for method in sorted(route.methods):
                requests.append((method, path))
                requests.append((method, path + "/more"))
                requests.append(("PUT" if method != "PUT" else "GET", path))
    return requests


@pytest.mark.parametrize("root_path", ["", "/edge"])
def test_every_request_reaches_the_route_it_would_without_passing_over(
    monkeypatch: pytest.MonkeyPatch, root_path: str
) -> None:
    app = create_app(GatewaySettings())
    requests = _requests_for_every_route(app)
    assert len(requests) > 500
    with_skipping = [_resolve(app, _request(m, p, root_path)) for m, p in requests]
    monkeypatch.setattr(GatewayRouter, "_static_prefixes", lambda self: None)
    without = [_resolve(app, _request(m, p, root_path)) for m, p in requests]
    assert with_skipping == without
    # Each route's own request reaches it (or one declared before it for the same path).
    reached = {id(route) for match, route in with_skipping if match == Match.FULL}
    assert len(reached) > 150


def test_a_router_passes_over_a_path_none_of_its_routes_can_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = GatewayRouter(prefix="/api/v1/conversations")

    @router.get("/{conversation_id}/messages")
    async def messages(conversation_id: str) -> None:
        return None

    tried: list[str] = []

    def trying(self, scope):
        tried.append(scope["path"])
        return Match.NONE, {}

    monkeypatch.setattr(APIRouter, "matches", trying)
    assert router.matches(_request("GET", "/api/v1/users/me")) == (Match.NONE, {})
    assert tried == []
    router.matches(_request("GET", "/api/v1/conversations/c1/messages"))
    assert tried == ["/api/v1/conversations/c1/messages"]


def test_the_prefixes_are_the_fewest_each_route_holds_one_of() -> None:
    assert _fewest_prefixes(
        ["/api/v1/conversations", "/api/v1/conversations/{id}", "/api/v1/me/blocks/{user}"]
    ) == ("/api/v1/conversations", "/api/v1/me/blocks/")
    assert _fewest_prefixes(["/a", "/b/{x}/c"]) == ("/a", "/b/")
    assert _fewest_prefixes(["/a", None]) is None  # a route without a path: never passed over


def test_a_route_added_later_is_reached() -> None:
    router = GatewayRouter()

    @router.get("/first")
    async def first() -> None:
        return None

    assert router._static_prefixes() == ("/first",)

    @router.get("/second")
    async def second() -> None:
        return None

    assert router._static_prefixes() == ("/first", "/second")


def test_every_router_the_gateway_includes_is_a_gateway_router() -> None:
    app = create_app(GatewaySettings())
    included = [r.original_router for r in app.router.routes if hasattr(r, "original_router")]
    assert len(included) >= 19
    assert [type(r).__name__ for r in included if not isinstance(r, GatewayRouter)] == []
