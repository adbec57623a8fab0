"""The gateway application: routes, problem+json, request ids, rate limits, CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chassis.auth.remote import identity_jwks
from chassis.auth.tokens import KeySet, TokenVerifier
from chassis.clock import Clock
from chassis.media import FolderMediaStore
from chassis.media.folder import UPLOADS_PATH
from chassis.service import ServiceDeclaration
from gateway.backends import Backends
from gateway.middleware import BodyLimit, EdgeMiddleware, TooManyRequests, too_many_requests
from gateway.openapi import TAGS
from gateway.openapi import install as install_openapi
from gateway.problems import install_problem_handlers
from gateway.ratelimit import Counter, MemoryCounter, RedisCounter
from gateway.routes import (
    admin,
    auth,
    bookings,
    conversations,
    docs,
    health,
    live,
    media,
    notifications,
    partner_webhooks,
    payments,
    practitioners,
    reviews,
    rooms,
    services,
    stream_orders,
    streams,
    users,
)
from gateway.settings import GatewaySettings
from suite.registry import SERVICES

DESCRIPTION = """
The public API of Estuary, a wellness marketplace.

* JSON field names are snake_case; times are RFC 3339 UTC instants.
* Errors are RFC 9457 `application/problem+json` with an `errors` list naming each bad field.
* Lists answer `results`, `next_cursor` (null at the end), `has_more` and `total`, and take
  `limit` (default 20, at most 100) and `cursor`.
* Send `Authorization: Bearer <access_token>` from `/api/v1/auth/login`.
"""


class Gateway(FastAPI):
    """FastAPI, with the live socket (/ws) served ahead of its routing, middleware and
    telemetry, none of which a socket uses once open, and all of which an open socket's
    coroutine would otherwise keep alive for as long as it stays open (gateway.routes.live)."""

    live_path = live.LIVE_PATH

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == self.live_path:
            scope["app"] = self
            await live.live(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: GatewaySettings,
    *,
    counter: Counter | None = None,
    declarations: Sequence[ServiceDeclaration] = SERVICES,
) -> FastAPI:
    """Builds the gateway in front of the declared services; its gRPC channels open when the
    app starts, on the serving loop."""
    counter = counter or (
        RedisCounter(settings.redis_url) if settings.redis_url else MemoryCounter()
    )

    async def fetch_jwks() -> list[dict[str, str]]:
        return await identity_jwks(app.state.backends.channels["identity"])()

    verifier = TokenVerifier(
        KeySet(fetch_jwks),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=Clock(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.backends = Backends(settings, declarations)
        app.state.ready = True
        yield
        app.state.ready = False
        await app.state.backends.close()
        await counter.close()

    app = Gateway(
        title="Estuary API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # Served by gateway.routes.docs from packaged assets, not FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
        # FastAPI's own telemetry makes the request spans once chassis.telemetry installs a
        # tracer provider. Its metrics are off: EdgeMiddleware records
        # http.server.request.duration for a fraction of their cost per request.
        telemetry={"metrics": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.counter = counter
    app.state.verifier = verifier
    # The folder store's signed URLs point here; with S3 (or no signing secret) none can.
    serves_media = settings.media.backend == "folder" and bool(settings.media.signing_secret)
    app.state.media = FolderMediaStore(settings.media) if serves_media else None
    install_problem_handlers(app)

    async def rate_limited(request: Request, error: Exception) -> Response:
        assert isinstance(error, TooManyRequests)
        return too_many_requests(error.verdict)

    app.add_exception_handler(TooManyRequests, rate_limited)
    for router in (
        health.router,
        docs.router,
        auth.router,
        users.router,
        admin.router,
        practitioners.router,
        practitioners.admin_router,
        services.router,
        reviews.router,
        bookings.router,
        notifications.router,
        conversations.router,
        partner_webhooks.router,
        payments.router,
        payments.sandbox_pages,
        streams.router,
        stream_orders.router,
        rooms.router,
        media.router,
    ):
        app.include_router(router)
    install_openapi(app)
    # Inside the edge, so a 413 carries the request id and is counted against the budget.
    larger = {UPLOADS_PATH: max(settings.media.max_bytes.values()) + media.FORM_OVERHEAD_BYTES}
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, larger=larger if serves_media else None
    )
    app.add_middleware(EdgeMiddleware, settings=settings, counter=counter, verifier=verifier)
    # Added last, so outermost: even the edge's own 429s and 500s carry CORS headers.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
        )
    return app
