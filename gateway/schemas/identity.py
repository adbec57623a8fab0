"""Bodies of the identity routes: auth, the user's own profile, and staff administration."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from chassis.wire import ProtoNames, from_struct, instant
from estuary.identity.v1 import identity_pb2 as pb
from gateway.schemas.common import Int32, StrictBody, examples

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

# A user id for the examples in the OpenAPI document.
USER_ID = "0193b0a4-6f1d-7aa0-8e2b-5c9d0f4e7a11"

Password = Field(min_length=1, max_length=1024, description="At least 10 characters.")


class RegisterBody(StrictBody):
    model_config = examples(
        {"email": "ana@example.com", "password": "river-stone-42-lantern", "full_name": "Ana Sousa"}
    )
    email: str = Field(min_length=1, max_length=254, examples=["ana@example.com"])
    password: str = Password
    full_name: str = Field(min_length=1, max_length=200, examples=["Ana Sousa"])


class LoginBody(StrictBody):
    model_config = examples({"email": "ana@example.com", "password": "river-stone-42-lantern"})
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class RefreshBody(StrictBody):
    model_config = examples({"refresh_token": "Xq3pYc2m8FqH0tWzv1Jk5Lr7Ns9Bd4Ue"})
    refresh_token: str = Field(min_length=1, max_length=512)


class VerifyEmailBody(StrictBody):
    model_config = examples({"token": "Vt7Ke2Qw9Lm4Rx8Pz1Hs6Dn3Jb5Fy0Ga"})
    token: str = Field(min_length=1, max_length=512)


class PasswordResetBody(StrictBody):
    model_config = examples({"email": "ana@example.com"})
    email: str = Field(min_length=1, max_length=254)


class PasswordResetConfirmBody(StrictBody):
    model_config = examples(
        {"token": "Rs4Tn8Wq2Lp6Vz0Xk3Hm7Jd1Fb5Gc9Ya", "new_password": "harbour-lamp-17-meadow"}
    )
    token: str = Field(min_length=1, max_length=512)
    new_password: str = Password


class PasswordChangeBody(StrictBody):
    model_config = examples(
        {"current_password": "river-stone-42-lantern", "new_password": "harbour-lamp-17-meadow"}
    )
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


class UserPatch(StrictBody):
    """Only the fields present change; null clears a field. Anything else is refused."""

    model_config = examples(
        {
            "full_name": "Ana Sousa",
            "timezone": "Europe/Lisbon",
            "bio": "Yoga and breathwork.",
            "preferences": {"newsletter": False},
        }
    )

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
    model_config = examples({"reason": "reported for spam by three clients"})
    reason: str = Field("", max_length=500)


class RolesBody(StrictBody):
    model_config = examples(
        {"roles": ["client", "practitioner"], "reason": "onboarding a partner studio"}
    )
    roles: list[RoleName] = Field(min_length=1, max_length=4)
    reason: str = Field("", max_length=500)


class TokenPair(BaseModel):
    model_config = examples(
        {
            "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6IjIwMjUtMDMifQ.eyJzdWIiOiIwMTkzIn0.c2ln",
            "refresh_token": "Xq3pYc2m8FqH0tWzv1Jk5Lr7Ns9Bd4Ue",
            "token_type": "bearer",
            "expires_in": 3600,
        }
    )
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
    model_config = examples(
        {
            "id": USER_ID,
            "email": "ana@example.com",
            "email_verified": True,
            "full_name": "Ana Sousa",
            "phone": "+351912345678",
            "timezone": "Europe/Lisbon",
            "avatar_url": "",
            "bio": "Yoga and breathwork.",
            "preferences": {"newsletter": False},
            "roles": ["client"],
            "status": "active",
            "created_at": "2025-03-01T12:00:00Z",
            "updated_at": "2025-03-02T09:30:00Z",
        }
    )
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
    model_config = examples({"revoked_sessions": 3})
    revoked_sessions: Int32


class Accepted(BaseModel):
    model_config = examples(
        {"detail": "if that address has an account, a reset link is on its way"}
    )
    detail: str


class AuditEntry(BaseModel):
    """One staff action in any service, with the state before and after."""

    model_config = examples(
        {
            "id": "0193b0c1-2a3b-7c4d-8e5f-6a7b8c9d0e1f",
            "service": "identity",
            "actor_id": "0193a000-1111-7222-8333-444455556666",
            "action": "user.suspend",
            "target": f"users/{USER_ID}",
            "target_user_id": USER_ID,
            "before": {"status": "active"},
            "after": {"status": "suspended"},
            "reason": "reported for spam by three clients",
            "request_id": "3f9c2a7d1b6e4c08",
            "created_at": "2025-03-01T12:00:00Z",
        }
    )

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
    model_config = examples(
        {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                    "kid": "2025-03",
                    "alg": "EdDSA",
                    "use": "sig",
                }
            ]
        }
    )
    keys: list[dict[str, str]]
