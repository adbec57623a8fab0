"""Who is calling: a user with roles, or another service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chassis.errors import PermissionDenied


class Role(StrEnum):
    """A user's role on the platform, as carried in access tokens."""

    CLIENT = "client"
    PRACTITIONER = "practitioner"
    STAFF = "staff"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.STAFF, Role.ADMIN})


class AccountStatus(StrEnum):
    """Whether a user's account may act, as identity announces it to every service."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


def refuse_inactive_account(status: AccountStatus) -> None:
    """A suspended or deleted account may not change anything: PermissionDenied (403)."""
    if status is AccountStatus.SUSPENDED:
        raise PermissionDenied("this account is suspended", reason="ACCOUNT_SUSPENDED")
    if status is AccountStatus.DELETED:
        raise PermissionDenied("this account was deleted", reason="ACCOUNT_DELETED")


class TokenType(StrEnum):
    """The typ claim: what a token may be used for."""

    ACCESS = "access"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """The verified caller of a request."""

    subject: str
    token_type: TokenType
    roles: frozenset[str]
    token_id: str
    expires_at: datetime
    session_id: str | None = None

    @property
    def is_service(self) -> bool:
        return self.token_type is TokenType.SERVICE

    @property
    def is_user(self) -> bool:
        return self.token_type is TokenType.ACCESS

    @property
    def is_staff(self) -> bool:
        return self.is_user and bool(self.roles & STAFF_ROLES)

    @property
    def is_admin(self) -> bool:
        return self.is_user and Role.ADMIN in self.roles

    @property
    def user_id(self) -> str:
        """The user's id; only for user principals."""
        if not self.is_user:
            raise ValueError("a service principal has no user id")
        return self.subject

    @property
    def service_name(self) -> str:
        """The calling service's name; only for service principals."""
        return self.subject.removeprefix("service:")
