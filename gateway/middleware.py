"""The edge's per-request work, as plain ASGI for speed: request ids and rate limits."""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis.auth.principal import Role
from chassis.context import is_valid_request_id, new_request_id, request_id_var
from chassis.errors import DomainError
from gateway.auth import Caller
from gateway.problems import problem_response
from gateway.ratelimit import Counter, Verdict
from gateway.settings import GatewaySettings

HOUR = 3600

log = logging.getLogger(__name__)


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


def too_many_requests(verdict: Verdict) -> Any:
    return problem_response(
        429,
        "RATE_LIMITED",
        f"rate limit of {verdict.limit} exceeded; retry in {verdict.reset_after} s",
        headers=verdict.headers(),
    )


class EdgeMiddleware:
    """Assigns the request id and applies the per-hour budget of the caller's kind."""

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
        try:
            if self._settings.rate_limit_enabled and scope["path"].startswith("/api/"):
                verdict = await self._budget(scope, authorization)
                extra_headers.extend(
                    (k.lower().encode(), v.encode()) for k, v in verdict.headers().items()
                )
                if not verdict.allowed:
                    response = too_many_requests(verdict)
                    response.headers["x-request-id"] = request_id
                    await response(scope, receive, send)
                    return

            started = False

            async def send_with_headers(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    headers = list(message.get("headers", []))
                    present = {k.lower() for k, _ in headers}
                    headers.extend(h for h in extra_headers if h[0] not in present)
                    message["headers"] = headers
                await send(message)

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
            request_id_var.reset(token)

    async def _budget(self, scope: Scope, authorization: str | None) -> Verdict:
        settings = self._settings
        caller = None
        if authorization:
            scheme, _, bearer = authorization.partition(" ")
            if scheme.lower() == "bearer" and bearer.strip():
                try:
                    principal = await self._verifier.verify(bearer.strip())
                    caller = Caller(principal, bearer.strip())
                except DomainError:
                    caller = None  # the route answers 401; the budget is the anonymous one
        if caller is None:
            key = "ip:" + client_address(scope, settings.trust_forwarded_for)
            limit = settings.rate_limit_anonymous_per_hour
        else:
            scope.setdefault("state", {})["caller"] = caller
            key = "user:" + caller.principal.subject
            roles = caller.principal.roles
            limit = (
                settings.rate_limit_practitioner_per_hour
                if roles & {Role.PRACTITIONER, Role.STAFF, Role.ADMIN}
                else settings.rate_limit_client_per_hour
            )
        return await self._counter.check(key, limit, HOUR, exact=False)
