"""What every route module uses: its router, the app's backends and the JSON response
helper."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from chassis.grpc_client import call_metadata
from gateway.backends import Backends

IDEMPOTENCY_KEY = "Idempotency-Key"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY,
        max_length=100,
        description="Makes a retry safe: a retry with the same key (from the same caller, "
        "with the same body) answers like the first call, and changes nothing again. A key "
        "reused for a different request is refused (400 naming Idempotency-Key).",
    ),
]


class GatewayRouter(APIRouter):
    """An APIRouter that a request passes over in one step when none of its routes can match
    the path.

    FastAPI (0.165) tries each included router's routes in turn, about 2 us a route that
    does not match, so a route a hundred routes into the app paid some 175 us before its
    handler ran (an eighth of the gateway's CPU for sending a message). A route matches
    only a path holding the route's text up to its first parameter (Starlette matches the
    path after the root path, a suffix of it), so a path that holds none of its router's
    is refused here without trying any."""

    _prefixes: tuple[str, ...] | None = None
    _prefixes_for: int = -1

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        prefixes = self._static_prefixes()
        if prefixes is not None:
            path = scope["path"]
            if not any(prefix in path for prefix in prefixes):
                return Match.NONE, {}
        return super().matches(scope)

    def _static_prefixes(self) -> tuple[str, ...] | None:
        """The fewest texts of which every route's path holds one; None (never pass over)
        if a route has no path."""
        if self._prefixes_for != len(self.routes):
            self._prefixes = _fewest_prefixes(getattr(r, "path", None) for r in self.routes)
            self._prefixes_for = len(self.routes)
        return self._prefixes


def _fewest_prefixes(paths: Iterable[object]) -> tuple[str, ...] | None:
    statics = set()
    for path in paths:
        if not isinstance(path, str) or not path:
            return None
        statics.add(path.split("{", 1)[0])
    # A path holding a longer text also holds each shorter text it starts with.
    return tuple(sorted(p for p in statics if not any(p != q and p.startswith(q) for q in statics)))


async def backends(request: Request) -> Backends:
    """The gateway's gRPC stubs (async, so FastAPI calls it inline rather than in a thread)."""
    return request.app.state.backends


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serializes a response model once, in pydantic's Rust core, skipping re-validation."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def anonymous() -> tuple[tuple[str, str], ...]:
    """Metadata for a call made on behalf of nobody in particular."""
    return call_metadata()
