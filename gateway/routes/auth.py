"""/api/v1/auth: registration, login, token refresh, logout, email and password flows."""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.responses import Response

from chassis.emails import email_key, normalize_email
from chassis.errors import InvalidArgument
from estuary.identity.v1 import identity_pb2 as pb
from gateway.auth import Caller, require_user
from gateway.backends import Backends
from gateway.middleware import client_address, limit_per_minute
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, IdempotencyKey, anonymous, backends, json_response
from gateway.schemas.identity import (
    Accepted,
    LoginBody,
    LogoutAllResult,
    PasswordChangeBody,
    PasswordResetBody,
    PasswordResetConfirmBody,
    RefreshBody,
    RegisterBody,
    TokenPair,
    User,
    VerifyEmailBody,
)

router = GatewayRouter(prefix="/api/v1/auth", tags=["auth"])


def _address(request: Request) -> str:
    return client_address(request.scope, request.app.state.settings.trust_forwarded_for)


def _account(email: str) -> str | None:
    """The account an address names, exactly as identity keys it; None if it names none."""
    try:
        return email_key(normalize_email(email))
    except InvalidArgument:
        return None


@router.post(
    "/register",
    operation_id="auth.register",
    status_code=201,
    response_model=User,
    responses=responses(400, 409),
)
async def register(
    body: RegisterBody,
    request: Request,
    idempotency_key: IdempotencyKey = None,
    api: Backends = Depends(backends),
) -> Response:
    """Creates a client account; a verification token goes out by email."""
    settings = request.app.state.settings
    if settings.rate_limit_enabled:
        limit = settings.rate_limit_register_per_minute
        await limit_per_minute(request, f"register:{_address(request)}", limit)
        account = _account(body.email)
        if account is not None:  # else identity refuses the address, whoever asks
            await limit_per_minute(request, f"register:email:{account}", limit)
    user = await api.identity.RegisterUser(
        pb.RegisterUserRequest(
            email=body.email,
            password=body.password,
            full_name=body.full_name,
            request_id=idempotency_key or "",
        ),
        metadata=anonymous(),
    )
    return json_response(User.from_proto(user), 201)


@router.post(
    "/login", operation_id="auth.login", response_model=TokenPair, responses=responses(401, 403)
)
async def login(body: LoginBody, request: Request, api: Backends = Depends(backends)) -> Response:
    """Exchanges email and password for an access token (60 min) and a refresh token."""
    settings = request.app.state.settings
    if settings.rate_limit_enabled:
        # Every spelling identity reads as one account shares its bucket; spellings that name
        # no account (identity answers 401 to them all) share one bucket per address.
        account = _account(body.email) or "not-an-account"
        await limit_per_minute(
            request, f"login:{_address(request)}:{account}", settings.rate_limit_login_per_minute
        )
    pair = await api.auth.Login(
        pb.LoginRequest(
            email=body.email,
            password=body.password,
            user_agent=request.headers.get("user-agent", "")[:500],
        ),
        metadata=anonymous(),
    )
    return json_response(TokenPair.from_proto(pair))


@router.post(
    "/token/refresh",
    operation_id="auth.refresh",
    response_model=TokenPair,
    responses=responses(401),
)
async def refresh(body: RefreshBody, api: Backends = Depends(backends)) -> Response:
    """Rotates a refresh token. Reusing a rotated one ends the whole session."""
    pair = await api.auth.RefreshToken(
        pb.RefreshTokenRequest(refresh_token=body.refresh_token), metadata=anonymous()
    )
    return json_response(TokenPair.from_proto(pair))


@router.post("/logout", operation_id="auth.logout", status_code=204, responses=responses(409))
async def logout(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Ends this session: its refresh token stops working."""
    await api.auth.Logout(pb.LogoutRequest(), metadata=caller.metadata())
    return Response(status_code=204)


@router.post("/logout-all", operation_id="auth.logout_all", response_model=LogoutAllResult)
async def logout_all(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Ends every session of the signed-in user."""
    result = await api.auth.LogoutAll(pb.LogoutAllRequest(), metadata=caller.metadata())
    return json_response(LogoutAllResult(revoked_sessions=result.revoked_sessions))


@router.post(
    "/verify-email", operation_id="auth.verify_email", response_model=User, responses=responses(400)
)
async def verify_email(body: VerifyEmailBody, api: Backends = Depends(backends)) -> Response:
    """Marks the email verified with the token sent at registration."""
    result = await api.identity.VerifyEmail(
        pb.VerifyEmailRequest(token=body.token), metadata=anonymous()
    )
    return json_response(User.from_proto(result.user))


@router.post(
    "/password/reset",
    operation_id="auth.request_password_reset",
    status_code=202,
    response_model=Accepted,
)
async def request_password_reset(
    body: PasswordResetBody, request: Request, api: Backends = Depends(backends)
) -> Response:
    """Sends a reset token if the account exists; the answer is the same either way."""
    settings = request.app.state.settings
    if settings.rate_limit_enabled:
        limit = settings.rate_limit_login_per_minute
        await limit_per_minute(request, f"reset:{_address(request)}", limit)
        account = _account(body.email)
        if account is not None:  # else identity sends nothing, whoever asks
            await limit_per_minute(request, f"reset:email:{account}", limit)
    await api.identity.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=body.email), metadata=anonymous()
    )
    return json_response(
        Accepted(detail="if that address has an account, a reset link is on its way"), 202
    )


@router.post(
    "/password/reset/confirm",
    operation_id="auth.confirm_password_reset",
    status_code=204,
    responses=responses(400),
)
async def confirm_password_reset(
    body: PasswordResetConfirmBody, api: Backends = Depends(backends)
) -> Response:
    """Sets a new password with a reset token; every session ends."""
    await api.identity.ConfirmPasswordReset(
        pb.ConfirmPasswordResetRequest(token=body.token, new_password=body.new_password),
        metadata=anonymous(),
    )
    return Response(status_code=204)


@router.post(
    "/password/change",
    operation_id="auth.change_password",
    status_code=204,
    responses=responses(400),
)
async def change_password(
    body: PasswordChangeBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Changes the password given the current one; other sessions end."""
    await api.identity.ChangePassword(
        pb.ChangePasswordRequest(
            current_password=body.current_password, new_password=body.new_password
        ),
        metadata=caller.metadata(),
    )
    return Response(status_code=204)
