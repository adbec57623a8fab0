"""Bodies of the identity routes: auth, the user's own profile, and staff administration."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from chassis.wire import ProtoNames, from_struct, instant
from estuary.identity.v1 import identity_pb2 as pb
from gateway.schemas.common import Int32, StrictBody

# Roles and statuses as REST spells them, read from identity's proto: a value added there is
# accepted and shown here without another table to keep.
ROLES = ProtoNames(pb.Role)
STATUSES = ProtoNames(pb.UserStatus)
if TYPE_CHECKING:
    RoleName = str
    StatusName = str
else:
    RoleName = ROLES.literal
    StatusName = STATUSES.literal

Password = Field(min_length=1, max_length=1024, description="At least 10 characters.")


class RegisterBody(StrictBody):
    email: str = Field(min_length=1, max_length=254, examples=["ana@example.com"])
    password: str = Password
    full_name: str = Field(min_length=1, max_length=200, examples=["Ana Sousa"])


class LoginBody(StrictBody):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class RefreshBody(StrictBody):
    refresh_token: str = Field(min_length=1, max_length=512)


class VerifyEmailBody(StrictBody):
    token: str = Field(min_length=1, max_length=512)


class PasswordResetBody(StrictBody):
    email: str = Field(min_length=1, max_length=254)


class PasswordResetConfirmBody(StrictBody):
    token: str = Field(min_length=1, max_length=512)
    new_password: str = Password


class PasswordChangeBody(StrictBody):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Password


# Protobuf's Struct, which carries preferences to identity, gives up past 100 levels (a list
# counts twice); settings a client keeps are nowhere near as deep.
PREFERENCES_MAX_DEPTH = 10


def nesting_depth(value: Any) -> int:
    """How deeply JSON objects and lists nest in a value: 0 for a scalar, 1 for a flat list."""
    deepest = 0
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            pending.extend((v, depth) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


class ProfilePatch(StrictBody):
    """Only the fields present change; null clears a field. Anything else is refused."""

    full_name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=32)
    timezone: str | None = Field(None, max_length=64, examples=["Europe/Lisbon"])
    avatar_url: str | None = Field(None, max_length=2048)
    bio: str | None = Field(None, max_length=2000)
    preferences: dict[str, Any] | None = Field(
        None,
        description=f"Free-form settings: at most {PREFERENCES_MAX_DEPTH} levels of objects "
        "and lists, 8 KiB as JSON.",
    )


class ReasonBody(StrictBody):
    reason: str = Field("", max_length=500)


class RolesBody(StrictBody):
    roles: list[RoleName] = Field(min_length=1, max_length=4)
    reason: str = Field("", max_length=500)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: Int32 = Field(description="Seconds until the access token expires.")

    @classmethod
    def from_proto(cls, pair: pb.TokenPair) -> TokenPair:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
        )


class User(BaseModel):
    id: str
    email: str
    email_verified: bool
    full_name: str
    phone: str
    timezone: str
    avatar_url: str
    bio: str
    preferences: dict[str, Any]
    roles: list[RoleName]
    status: StatusName
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, user: pb.User) -> User:
        return cls(
            id=user.id,
            email=user.email,
            email_verified=user.email_verified,
            full_name=user.full_name,
            phone=user.phone,
            timezone=user.timezone,
            avatar_url=user.avatar_url,
            bio=user.bio,
            preferences=from_struct(user.preferences),
            roles=[name for name in map(ROLES.from_proto, user.roles) if name is not None],
            status=STATUSES.from_proto(user.status) or "active",
            created_at=instant(user.create_time),
            updated_at=instant(user.update_time),
        )


class LogoutAllResult(BaseModel):
    revoked_sessions: Int32


class Accepted(BaseModel):
    detail: str


class AuditEntry(BaseModel):
    """One staff action in any service, with the state before and after."""

    id: str
    service: str = Field(description="The service the action was taken in.")
    actor_id: str
    action: str = Field(description="What was done: 'user.suspend', 'practitioner.approve'...")
    target: str = Field(description="The resource acted on: 'users/{id}', 'practitioners/{id}'...")
    target_user_id: str = Field(description="The person concerned, if any (else empty).")
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str
    request_id: str
    created_at: datetime

    @classmethod
    def from_proto(cls, entry: pb.AuditEntry) -> AuditEntry:
        return cls(
            id=entry.id,
            service=entry.service,
            actor_id=entry.actor_id,
            action=entry.action,
            target=entry.target,
            target_user_id=entry.target_user_id,
            before=from_struct(entry.before),
            after=from_struct(entry.after),
            reason=entry.reason,
            request_id=entry.request_id,
            created_at=instant(entry.create_time),
        )


class JsonWebKeySet(BaseModel):
    keys: list[dict[str, str]]
