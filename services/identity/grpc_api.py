"""Identity's gRPC servicers: proto messages in and out, nothing else.

Access (public, user, staff, service) is declared on each method in the proto and enforced
by the chassis before these run; object-level checks are the handlers'.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chassis.auth.principal import Principal, Role
from chassis.context import current_principal
from chassis.errors import Unauthenticated
from chassis.wire import ProtoEnum, from_struct, struct, timestamp
from estuary.identity.v1 import identity_pb2 as pb
from estuary.identity.v1 import identity_pb2_grpc
from services.identity.domain.audit import AuditEntry, AuditFilter
from services.identity.domain.users import User, UserStatus
from services.identity.service_layer.accounts import AccountHandlers
from services.identity.service_layer.administration import AdministrationHandlers
from services.identity.service_layer.sessions import IssuedTokens, SessionHandlers

ROLES = ProtoEnum(pb.Role, Role)
STATUSES = ProtoEnum(pb.UserStatus, UserStatus)


def _roles(names: Iterable[str]) -> list[int]:
    """Roles as proto values, in order; names no longer known are left out."""
    known = {r.value for r in Role}
    return sorted(ROLES.to_proto(Role(name)) for name in names if name in known)


def user_to_proto(user: User) -> pb.User:
    return pb.User(
        name=f"users/{user.id}",
        id=user.id,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        full_name=user.full_name,
        phone=user.phone,
        timezone=user.timezone,
        avatar_url=user.avatar_url,
        bio=user.bio,
        preferences=struct(user.preferences),
        roles=_roles(user.roles),
        status=STATUSES.to_proto(user.status),
        create_time=timestamp(user.created_at),
        update_time=timestamp(user.updated_at),
    )


def audit_to_proto(entry: AuditEntry) -> pb.AuditEntry:
    return pb.AuditEntry(
        id=entry.id,
        service=entry.service,
        actor_id=entry.actor_id,
        action=entry.action,
        target=entry.target,
        target_user_id=entry.target_user_id,
        before=struct(entry.before),
        after=struct(entry.after),
        reason=entry.reason,
        request_id=entry.request_id,
        create_time=timestamp(entry.created_at),
    )


def _caller() -> Principal:
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("this method needs a bearer token")
    return principal


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, accounts: AccountHandlers, administration: AdministrationHandlers) -> None:
        self._accounts = accounts
        self._administration = administration

    async def RegisterUser(self, request: pb.RegisterUserRequest, context: Any) -> pb.User:
        user = await self._accounts.register(
            email=request.email,
            password=request.password,
            full_name=request.full_name,
            request_id=request.request_id,
        )
        return user_to_proto(user)

    async def VerifyEmail(
        self, request: pb.VerifyEmailRequest, context: Any
    ) -> pb.VerifyEmailResponse:
        user = await self._accounts.verify_email(request.token)
        return pb.VerifyEmailResponse(user=user_to_proto(user))

    async def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: Any
    ) -> pb.RequestPasswordResetResponse:
        await self._accounts.request_password_reset(request.email)
        return pb.RequestPasswordResetResponse()

    async def ConfirmPasswordReset(
        self, request: pb.ConfirmPasswordResetRequest, context: Any
    ) -> pb.ConfirmPasswordResetResponse:
        await self._accounts.confirm_password_reset(request.token, request.new_password)
        return pb.ConfirmPasswordResetResponse()

    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: Any
    ) -> pb.ChangePasswordResponse:
        await self._accounts.change_password(
            _caller(), request.current_password, request.new_password
        )
        return pb.ChangePasswordResponse()

    async def GetUser(self, request: pb.GetUserRequest, context: Any) -> pb.User:
        return user_to_proto(await self._accounts.get_user(_caller(), request.name))

    async def UpdateUser(self, request: pb.UpdateUserRequest, context: Any) -> pb.User:
        values = {
            "full_name": request.user.full_name,
            "phone": request.user.phone,
            "timezone": request.user.timezone,
            "avatar_url": request.user.avatar_url,
            "bio": request.user.bio,
            "preferences": from_struct(request.user.preferences),
        }
        user = await self._accounts.update_user(
            _caller(), request.user.name or "users/me", list(request.update_mask.paths), values
        )
        return user_to_proto(user)

    async def DeleteUser(
        self, request: pb.DeleteUserRequest, context: Any
    ) -> pb.DeleteUserResponse:
        await self._accounts.delete_user(_caller(), request.name or "users/me")
        return pb.DeleteUserResponse()

    async def BatchGetUsers(
        self, request: pb.BatchGetUsersRequest, context: Any
    ) -> pb.BatchGetUsersResponse:
        users = await self._accounts.batch_get(list(request.names))
        return pb.BatchGetUsersResponse(users=[user_to_proto(u) for u in users])

    async def ListUsers(self, request: pb.ListUsersRequest, context: Any) -> pb.ListUsersResponse:
        page = await self._administration.list_users(
            query=request.query,
            role=ROLES.from_proto(request.role),
            status=STATUSES.from_proto(request.status),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListUsersResponse(
            users=[user_to_proto(u) for u in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def SuspendUser(self, request: pb.SuspendUserRequest, context: Any) -> pb.User:
        user = await self._administration.suspend(
            _caller(), request.name, request.reason, request.request_id
        )
        return user_to_proto(user)

    async def ReactivateUser(self, request: pb.ReactivateUserRequest, context: Any) -> pb.User:
        user = await self._administration.reactivate(
            _caller(), request.name, request.reason, request.request_id
        )
        return user_to_proto(user)

    async def SetUserRoles(self, request: pb.SetUserRolesRequest, context: Any) -> pb.User:
        roles = [str(ROLES.from_proto(r) or f"unknown({r})") for r in request.roles]
        user = await self._administration.set_roles(_caller(), request.name, roles, request.reason)
        return user_to_proto(user)

    async def ListAuditEntries(
        self, request: pb.ListAuditEntriesRequest, context: Any
    ) -> pb.ListAuditEntriesResponse:
        page = await self._administration.list_audit(
            AuditFilter(
                service=request.service,
                actor_id=request.actor_id,
                target=request.target,
                target_user_id=request.target_user_id,
            ),
            request.page_size,
            request.page_token,
        )
        return pb.ListAuditEntriesResponse(
            entries=[audit_to_proto(e) for e in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )


class AuthServicer(identity_pb2_grpc.AuthServiceServicer):
    def __init__(self, sessions: SessionHandlers, jwks: Any) -> None:
        self._sessions = sessions
        self._jwks = jwks

    async def Login(self, request: pb.LoginRequest, context: Any) -> pb.TokenPair:
        issued = await self._sessions.login(request.email, request.password, request.user_agent)
        return _pair(issued)

    async def RefreshToken(self, request: pb.RefreshTokenRequest, context: Any) -> pb.TokenPair:
        return _pair(await self._sessions.refresh(request.refresh_token))

    async def Logout(self, request: pb.LogoutRequest, context: Any) -> pb.LogoutResponse:
        await self._sessions.logout(_caller())
        return pb.LogoutResponse()

    async def LogoutAll(self, request: pb.LogoutAllRequest, context: Any) -> pb.LogoutAllResponse:
        return pb.LogoutAllResponse(revoked_sessions=await self._sessions.logout_all(_caller()))

    async def IntrospectToken(
        self, request: pb.IntrospectTokenRequest, context: Any
    ) -> pb.IntrospectTokenResponse:
        found = await self._sessions.introspect(request.token)
        if not found.active or found.principal is None:
            return pb.IntrospectTokenResponse(active=False)
        principal = found.principal
        return pb.IntrospectTokenResponse(
            active=True,
            subject=principal.subject,
            roles=_roles(principal.roles),
            token_type=principal.token_type.value,
            session_id=principal.session_id or "",
            expire_time=timestamp(principal.expires_at),
        )

    async def IssueServiceToken(
        self, request: pb.IssueServiceTokenRequest, context: Any
    ) -> pb.IssueServiceTokenResponse:
        token, expires_in = await self._sessions.issue_service_token(
            request.client_id, request.client_secret
        )
        return pb.IssueServiceTokenResponse(access_token=token, expires_in=expires_in)

    async def GetJwks(self, request: pb.GetJwksRequest, context: Any) -> pb.GetJwksResponse:
        keys = await self._jwks()
        return pb.GetJwksResponse(keys=[pb.JsonWebKey(**k) for k in keys])


def _pair(issued: IssuedTokens) -> pb.TokenPair:
    return pb.TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        token_type="bearer",
        expires_in=issued.expires_in,
        refresh_expires_in=issued.refresh_expires_in,
    )
