"""What happened to an account, as the domain says it; events.py maps each to its proto."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class UserRegistered:
    """A client account was made; the token verifies its email."""

    user_id: str
    email: str
    full_name: str
    verification_token: str
    verification_expires_at: datetime


@dataclass(frozen=True)
class UserEmailVerified:
    user_id: str
    email: str


@dataclass(frozen=True)
class UserPasswordResetRequested:
    """The owner of an active account asked to reset its password; the token does it."""

    user_id: str
    email: str
    reset_token: str
    expires_at: datetime


@dataclass(frozen=True)
class UserSuspended:
    user_id: str
    suspended_at: datetime


@dataclass(frozen=True)
class UserReactivated:
    user_id: str
    reactivated_at: datetime


@dataclass(frozen=True)
class UserDeleted:
    """The account's personal data was erased."""

    user_id: str


UserEvent = (
    UserRegistered
    | UserEmailVerified
    | UserPasswordResetRequested
    | UserSuspended
    | UserReactivated
    | UserDeleted
)
