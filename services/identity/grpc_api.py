"""Identity's gRPC servicers: proto messages in and out, nothing else.

Access (public, user, staff, service) is declared on each method in the proto and enforced
by the chassis before these run; object-level checks are the handlers'.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from chassis.auth.principal import Principal
from chassis.context import current_principal
from chassis.errors import Unauthenticated
from estuary.identity.v1 import identity_pb2 as pb
from estuary.identity.v1 import identity_pb2_grpc
from services.identity.domain import User, UserStatus
from services.identity.handlers import Identity
from services.identity.repository import AuditEntry, AuditFilter

ROLE_TO_PROTO = {
    "client": pb.ROLE_CLIENT,
    "practitioner": pb.ROLE_PRACTITIONER,
    "staff": pb.ROLE_STAFF,
    "admin": pb.ROLE_ADMIN,
}
PROTO_TO_ROLE = {v: k for k, v in ROLE_TO_PROTO.items()}
STATUS_TO_PROTO = {
    UserStatus.ACTIVE: pb.USER_STATUS_ACTIVE,
    UserStatus.SUSPENDED: pb.USER_STATUS_SUSPENDED,
    UserStatus.DELETED: pb.USER_STATUS_DELETED,
}
PROTO_TO_STATUS = {v: k.value for k, v in STATUS_TO_PROTO.items()}


def _timestamp(value: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _struct(value: dict[str, Any]) -> Struct:
    struct = Struct()
    struct.update(value)
    return struct


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
        preferences=_struct(user.preferences),
        roles=sorted(ROLE_TO_PROTO[r] for r in user.roles if r in ROLE_TO_PROTO),
        status=STATUS_TO_PROTO[user.status],
        create_time=_timestamp(user.created_at),
        update_time=_timestamp(user.updated_at),
    )


def audit_to_proto(entry: AuditEntry) -> pb.AuditEntry:
    return pb.AuditEntry(
        id=entry.id,
        service=entry.service,
        actor_id=entry.actor_id,
        action=entry.action,
        target=entry.target,
        target_user_id=entry.target_user_id,
        before=_struct(entry.before),
        after=_struct(entry.after),
        reason=entry.reason,
        request_id=entry.request_id,
        create_time=_timestamp(entry.created_at),
    )


def _caller() -> Principal:
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("this method needs a bearer token")
    return principal


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    async def RegisterUser(self, request: pb.RegisterUserRequest, context: Any) -> pb.User:
        user = await self._identity.register(
            email=request.email,
            password=request.password,
            full_name=request.full_name,
            request_id=request.request_id,
        )
        return user_to_proto(user)

    async def VerifyEmail(
        self, request: pb.VerifyEmailRequest, context: Any
    ) -> pb.VerifyEmailResponse:
        user = await self._identity.verify_email(request.token)
        return pb.VerifyEmailResponse(user=user_to_proto(user))

    async def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: Any
    ) -> pb.RequestPasswordResetResponse:
        await self._identity.request_password_reset(request.email)
        return pb.RequestPasswordResetResponse()

    async def ConfirmPasswordReset(
        self, request: pb.ConfirmPasswordResetRequest, context: Any
    ) -> pb.ConfirmPasswordResetResponse:
        await self._identity.confirm_password_reset(request.token, request.new_password)
        return pb.ConfirmPasswordResetResponse()

    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: Any
    ) -> pb.ChangePasswordResponse:
        await self._identity.change_password(
            _caller(), request.current_password, request.new_password
        )
        return pb.ChangePasswordResponse()

    async def GetUser(self, request: pb.GetUserRequest, context: Any) -> pb.User:
        return user_to_proto(await self._identity.get_user(_caller(), request.name))

    async def UpdateUser(self, request: pb.UpdateUserRequest, context: Any) -> pb.User:
        values = {
            "full_name": request.user.full_name,
            "phone": request.user.phone,
            "timezone": request.user.timezone,
            "avatar_url": request.user.avatar_url,
            "bio": request.user.bio,
            "preferences": json_format.MessageToDict(request.user.preferences),
        }
        user = await self._identity.update_user(
            _caller(), request.user.name or "users/me", list(request.update_mask.paths), values
        )
        return user_to_proto(user)

    async def DeleteUser(
        self, request: pb.DeleteUserRequest, context: Any
    ) -> pb.DeleteUserResponse:
        await self._identity.delete_user(_caller(), request.name or "users/me")
        return pb.DeleteUserResponse()

    async def BatchGetUsers(
        self, request: pb.BatchGetUsersRequest, context: Any
    ) -> pb.BatchGetUsersResponse:
        users = await self._identity.batch_get(list(request.names))
        return pb.BatchGetUsersResponse(users=[user_to_proto(u) for u in users])

    async def ListUsers(self, request: pb.ListUsersRequest, context: Any) -> pb.ListUsersResponse:
        page = await self._identity.list_users(
            query=request.query,
            role=PROTO_TO_ROLE.get(request.role),
            status=PROTO_TO_STATUS.get(request.status),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListUsersResponse(
            users=[user_to_proto(u) for u in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def SuspendUser(self, request: pb.SuspendUserRequest, context: Any) -> pb.User:
        user = await self._identity.suspend(
            _caller(), request.name, request.reason, request.request_id
        )
        return user_to_proto(user)

    async def ReactivateUser(self, request: pb.ReactivateUserRequest, context: Any) -> pb.User:
        user = await self._identity.reactivate(
            _caller(), request.name, request.reason, request.request_id
        )
        return user_to_proto(user)

    async def SetUserRoles(self, request: pb.SetUserRolesRequest, context: Any) -> pb.User:
        roles = [PROTO_TO_ROLE.get(r, f"unknown({r})") for r in request.roles]
        user = await self._identity.set_roles(_caller(), request.name, roles, request.reason)
        return user_to_proto(user)

    async def ListAuditEntries(
        self, request: pb.ListAuditEntriesRequest, context: Any
    ) -> pb.ListAuditEntriesResponse:
        page = await self._identity.list_audit(
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
    def __init__(self, identity: Identity, jwks: Any) -> None:
        self._identity = identity
        self._jwks = jwks

    async def Login(self, request: pb.LoginRequest, context: Any) -> pb.TokenPair:
        issued = await self._identity.login(request.email, request.password, request.user_agent)
        return _pair(issued)

    async def RefreshToken(self, request: pb.RefreshTokenRequest, context: Any) -> pb.TokenPair:
        return _pair(await self._identity.refresh(request.refresh_token))

    async def Logout(self, request: pb.LogoutRequest, context: Any) -> pb.LogoutResponse:
        await self._identity.logout(_caller())
        return pb.LogoutResponse()

    async def LogoutAll(self, request: pb.LogoutAllRequest, context: Any) -> pb.LogoutAllResponse:
        return pb.LogoutAllResponse(revoked_sessions=await self._identity.logout_all(_caller()))

    async def IntrospectToken(
        self, request: pb.IntrospectTokenRequest, context: Any
    ) -> pb.IntrospectTokenResponse:
        found = await self._identity.introspect(request.token)
        if not found.active or found.principal is None:
            return pb.IntrospectTokenResponse(active=False)
        principal = found.principal
        return pb.IntrospectTokenResponse(
            active=True,
            subject=principal.subject,
            roles=sorted(ROLE_TO_PROTO[r] for r in principal.roles if r in ROLE_TO_PROTO),
            token_type=principal.token_type.value,
            session_id=principal.session_id or "",
            expire_time=_timestamp(principal.expires_at),
        )

    async def IssueServiceToken(
        self, request: pb.IssueServiceTokenRequest, context: Any
    ) -> pb.IssueServiceTokenResponse:
        token, expires_in = await self._identity.issue_service_token(
            request.client_id, request.client_secret
        )
        return pb.IssueServiceTokenResponse(access_token=token, expires_in=expires_in)

    async def GetJwks(self, request: pb.GetJwksRequest, context: Any) -> pb.GetJwksResponse:
        keys = await self._jwks()
        return pb.GetJwksResponse(keys=[pb.JsonWebKey(**k) for k in keys])


def _pair(issued: Any) -> pb.TokenPair:
    return pb.TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        token_type="bearer",
        expires_in=issued.expires_in,
        refresh_expires_in=issued.refresh_expires_in,
    )
