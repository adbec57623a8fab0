"""The edge's per-request work, as plain ASGI for speed: request ids, who is calling, rate
limits, the body limit, the access log and the request duration metric."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis import metrics
from chassis.auth.principal import Role
from chassis.context import is_valid_request_id, new_request_id, request_id_var
from chassis.errors import DomainError, http_status_for
from gateway.auth import Caller, token_of_header
from gateway.problems import PayloadTooLarge, payload_too_large, problem_response
from gateway.ratelimit import Counter, Verdict
from gateway.settings import GatewaySettings

HOUR = 3600
# Routes whose caller is whoever the body names (an email, a one-time or refresh token), not
# the bearer of an access token: their budget is the client address's whatever token comes
# along, so an account farmed for its token buys no fresh attempts at them.
CREDENTIAL_ROUTES = frozenset(
    {
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/token/refresh",
        "/api/v1/auth/verify-email",
        "/api/v1/auth/password/reset",
        "/api/v1/auth/password/reset/confirm",
    }
)

log = logging.getLogger(__name__)
access_log = logging.getLogger("estuary.access")
_request_duration = metrics.http_server_request_duration
HTTP_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
# Probes and scrapes: their access lines are DEBUG.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Where outside parties deliver their signed events: a budget of their own (per minute).
WEBHOOK_ROUTES = frozenset({"/api/v1/webhooks/stripe", "/api/v1/webhooks/livekit"})


def client_address(scope: Scope, trust_forwarded_for: bool) -> str:
    """The client's address; X-Forwarded-For only when the gateway sits behind our proxy."""
    if trust_forwarded_for:
        for key, value in scope.get("headers", ()):
            if key == b"x-forwarded-for":
                # Our proxy appends the address it saw; anything left of it came from the client.
                return value.decode("latin-1").split(",")[-1].strip()
    client = scope.get("client")
    return client[0] if client else "unknown"


class TooManyRequests(Exception):
    """A rate limit was hit."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__("rate limit exceeded")
        self.verdict = verdict


MINUTE = 60


async def limit_per_minute(request: Request, key: str, limit: int, *, exact: bool = True) -> None:
    """Counts one more request under `key` in the current minute; TooManyRequests (429) past
    `limit`: the stricter budgets of some routes (login, registration, messages). An inexact
    count (Counter.hit) spares the request a round trip to Redis."""
    verdict = await request.app.state.counter.check(key, limit, MINUTE, exact=exact)
    if not verdict.allowed:
        raise TooManyRequests(verdict)


def too_many_requests(verdict: Verdict) -> Any:
    return problem_response(
        429,
        "RATE_LIMITED",
        f"rate limit of {verdict.limit} exceeded; retry in {verdict.reset_after} s",
        headers=verdict.headers(),
    )


class EdgeMiddleware:
    """Assigns the request id, verifies the caller's token and applies the per-hour budget of
    the caller's kind."""

    def __init__(
        self, app: ASGIApp, *, settings: GatewaySettings, counter: Counter, verifier: Any
    ) -> None:
        self.app = app
        self._settings = settings
        self._counter = counter
        self._verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        authorization = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                candidate = value.decode("latin-1")
                request_id = candidate if is_valid_request_id(candidate) else None
            elif key == b"authorization":
                authorization = value.decode("latin-1")
        request_id = request_id or new_request_id()
        token = request_id_var.set(request_id)
        extra_headers: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode())]
        started = False
        status = 500
        began = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in extra_headers if h[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            if scope["path"].startswith("/api/"):
                refusal = await self._admit(scope, authorization, extra_headers)
                if refusal is not None:
                    await refusal(scope, receive, send_with_headers)
                    return
            try:
                await self.app(scope, receive, send_with_headers)
            except Exception:
                # Answered here, not by Starlette's outermost handler, so the 500 and its log
                # line still carry the request id.
                log.exception("unhandled error on %s %s", scope.get("method"), scope["path"])
                if started:
                    raise
                await problem_response(500, "INTERNAL", "internal error")(
                    scope, receive, send_with_headers
                )
        finally:
            _observe(scope, status, began)
            request_id_var.reset(token)

    async def _admit(
        self, scope: Scope, authorization: str | None, extra_headers: list[tuple[bytes, bytes]]
    ) -> Response | None:
        """Verifies the caller and spends their budget; the refusal, if the request has one.

        A token that does not verify is 401 wherever it is sent (never 429: the client must
        learn that its token is bad), and its request is spent from the address's budget.
        """
        caller = None
        bad_token: DomainError | None = None
        # On a webhook route the Authorization header is the sender's signature (LiveKit's),
        # not a user's token: the service it is for verifies it.
        path = scope["path"]
        if authorization and path not in CREDENTIAL_ROUTES and path not in WEBHOOK_ROUTES:
            try:
                bearer = token_of_header(authorization)
                if bearer:
                    caller = Caller(await self._verifier.verify(bearer), bearer)
            except DomainError as error:
                bad_token = error
        if caller is not None:
            scope.setdefault("state", {})["caller"] = caller
        verdict = None
        if self._settings.rate_limit_enabled:
            verdict = await self._budget(scope, caller)
            extra_headers.extend(
                (k.lower().encode(), v.encode()) for k, v in verdict.headers().items()
            )
        if bad_token is not None:
            return problem_response(
                http_status_for(bad_token.grpc_code), bad_token.reason, bad_token.message
            )
        if verdict is not None and not verdict.allowed:
            return too_many_requests(verdict)
        return None

    async def _budget(self, scope: Scope, caller: Caller | None) -> Verdict:
        settings = self._settings
        if scope["path"] in WEBHOOK_ROUTES:
            address = client_address(scope, settings.trust_forwarded_for)
            return await self._counter.check(
                "webhook:" + address, settings.rate_limit_webhooks_per_minute, MINUTE, exact=False
            )
        if caller is None:
            key = "ip:" + client_address(scope, settings.trust_forwarded_for)
            limit = settings.rate_limit_anonymous_per_hour
        else:
            key = "user:" + caller.principal.subject
            roles = caller.principal.roles
            limit = (
                settings.rate_limit_practitioner_per_hour
                if roles & {Role.PRACTITIONER, Role.STAFF, Role.ADMIN}
                else settings.rate_limit_client_per_hour
            )
        return await self._counter.check(key, limit, HOUR, exact=False)


def _observe(scope: Scope, status: int, began: float) -> None:
    """Records the request's duration (http.server.request.duration, by route template,
    method and status) and writes its access log line: INFO, or DEBUG for probes and scrapes
    (which come every few seconds and say nothing about users)."""
    elapsed = time.perf_counter() - began
    method = scope.get("method", "")
    # The route's template (/api/v1/users/{user_id}), known once the router matched one;
    # never the raw path, which would make a series per id.
    route = getattr(scope.get("route"), "path", None)
    _request_duration.record(elapsed, _http_attributes(method, route, status))
    level = logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    elapsed_ms = elapsed * 1000
    access_log.log(
        level,
        "%s %s %d %.1f ms",
        method,
        scope["path"],
        status,
        elapsed_ms,
        extra={
            "http_method": method,
            "route": route,
            "path": scope["path"],
            "status": status,
            "duration_ms": round(elapsed_ms, 2),
        },
    )


@functools.lru_cache(maxsize=4096)
def _http_attributes(method: str, route: str | None, status: int) -> dict[str, Any]:
    """The attributes of one (method, route, status), built once."""
    attributes: dict[str, Any] = {
        "http.request.method": method if method in HTTP_METHODS else "_OTHER",
        "http.response.status_code": status,
    }
    if route is not None:
        attributes["http.route"] = route
    if status >= 500:
        attributes["error.type"] = str(status)
    return attributes


class BodyLimit:
    """Refuses a request body past its limit with 413, without reading the rest of it.

    A declared Content-Length is judged before the request goes on; a chunked (or understated)
    body is counted as it is read. The limit is `max_bytes`, or for a route that needs more,
    the one `larger` gives the longest prefix of its path.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self._max_bytes = max_bytes
        self._larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await payload_too_large(PayloadTooLarge(limit))(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException, which FastAPI's body reading lets through to the
                    # app's handler; caught below when something else was reading.
                    raise PayloadTooLarge(limit)
            return message

        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_noting_start)
        except PayloadTooLarge as error:
            if started:
                raise
            await payload_too_large(error)(scope, receive, send)

    def _limit_for(self, path: str) -> int:
        if not self._larger:
            return self._max_bytes
        prefixes = [p for p in self._larger if path.startswith(p)]
        return self._larger[max(prefixes, key=len)] if prefixes else self._max_bytes


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses it before we see it
    return None
