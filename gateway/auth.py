"""Who is calling: the gateway verifies bearer tokens itself (for early 401s and rate limits)
and forwards them, and each service verifies them again on its own."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chassis.auth.principal import Principal
from chassis.auth.tokens import TokenVerifier
from chassis.errors import PermissionDenied, Unauthenticated
from chassis.grpc_client import call_metadata

bearer_scheme = HTTPBearer(auto_error=False, description="An access token from /auth/login.")


@dataclass(frozen=True)
class Caller:
    """A verified caller and the token to forward to the backends."""

    principal: Principal
    token: str

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.token)


def bearer_token(request: Request) -> str | None:
    """The token of an 'Authorization: Bearer' header, if there is one."""
    return token_of_header(request.headers.get("authorization"))


def token_of_header(header: str | None) -> str | None:
    """The token of an Authorization header's value; 401 unless it reads 'Bearer <token>'."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("authorization must be 'Bearer <token>'")
    return token.strip()


async def verified_caller(request: Request) -> Caller | None:
    """The caller, verified once per request (the rate limiter may already have done it)."""
    cached = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    token = bearer_token(request)
    if token is None:
        return None
    verifier: TokenVerifier = request.app.state.verifier
    caller = Caller(await verifier.verify(token), token)
    request.state.caller = caller
    return caller


async def require_user(
    request: Request,
    _credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
) -> Caller:
    """A signed-in user, or 401."""
    caller = await verified_caller(request)
    if caller is None:
        raise Unauthenticated("this route needs a bearer access token")
    return caller


async def require_staff(caller: Caller = Depends(require_user)) -> Caller:
    """A signed-in staff member, or 401/403. The identity service checks again."""
    if not caller.principal.is_staff:
        raise PermissionDenied("this route is for staff only")
    return caller
