"""The account: who may read and change it, the moves between its statuses, its roles and
what erasing it leaves behind. Each change returns the domain event it makes, if any."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from chassis.audit import refuse_own_account
from chassis.auth.principal import STAFF_ROLES, Principal, Role
from chassis.emails import normalize_email
from chassis.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from chassis.ids import is_uuid
from chassis.lifecycle import WrongState
from chassis.validation import Violations
from services.identity.domain.credentials import (
    OneTimeToken,
    invalid_credentials,
    invalid_one_time_token,
    password_problem,
)
from services.identity.domain.events import (
    UserDeleted,
    UserEmailVerified,
    UserPasswordResetRequested,
    UserReactivated,
    UserRegistered,
    UserSuspended,
)
from services.identity.domain.profile import check_full_name

# The reason a change from the wrong status is refused with (the guarded write's too).
WRONG_STATUS = "WRONG_STATUS"
STAFF_REASON_MAX_LENGTH = 500
BATCH_MAX_NAMES = 1000


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


# What erasure clears: every field that says who the person was.
PERSONAL_FIELDS = (
    "email",
    "full_name",
    "password_hash",
    "email_verified_at",
    "phone",
    "timezone",
    "avatar_url",
    "bio",
    "preferences",
)
# A hash no password matches: argon2 never produces it.
NO_PASSWORD = "!"


def no_such_user() -> NotFound:
    return NotFound("no such user")


@dataclass
class User:
    """An account and its profile."""

    id: str
    email: str
    full_name: str
    password_hash: str
    status: UserStatus
    roles: set[str]
    created_at: datetime
    updated_at: datetime
    email_verified_at: datetime | None = None
    phone: str = ""
    timezone: str = ""
    avatar_url: str = ""
    bio: str = ""
    preferences: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def register(
        cls, *, id: str, email: str, full_name: str, password_hash: str, now: datetime
    ) -> User:
        """A new client account, active, its email not yet verified."""
        return cls(
            id=id,
            email=email,
            full_name=full_name,
            password_hash=password_hash,
            status=UserStatus.ACTIVE,
            roles={Role.CLIENT.value},
            created_at=now,
            updated_at=now,
        )

    @classmethod
    def admin(
        cls, *, id: str, email: str, full_name: str, password_hash: str, now: datetime
    ) -> User:
        """A new admin (made by an operator, never through the API); their email counts as
        verified."""
        user = cls.register(
            id=id, email=email, full_name=full_name, password_hash=password_hash, now=now
        )
        user.roles = {Role.CLIENT.value, Role.STAFF.value, Role.ADMIN.value}
        user.email_verified_at = now
        return user

    @property
    def is_active(self) -> bool:
        return self.status is UserStatus.ACTIVE

    @property
    def is_erased(self) -> bool:
        return self.status is UserStatus.DELETED

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def counts_as_admin(self) -> bool:
        """Whether this account is one of the active admins, of whom one must remain."""
        return self.is_admin and self.is_active

    def registered(self, secret: str, verification: OneTimeToken) -> UserRegistered:
        """The announcement of this new account, with the token that verifies its email."""
        return UserRegistered(self.id, self.email, self.full_name, secret, verification.expires_at)

    def check_exists(self) -> None:
        """An erased account is no one: NotFound to everyone but staff."""
        if self.is_erased:
            raise no_such_user()

    def verify_email(self, now: datetime) -> UserEmailVerified | None:
        """Marks the email verified; nothing new (None) if it already was."""
        if self.is_erased:
            raise invalid_one_time_token()
        if self.email_verified_at is not None:
            return None
        self.email_verified_at = now
        self.updated_at = now
        return UserEmailVerified(self.id, self.email)

    @property
    def may_reset_password(self) -> bool:
        """Only an active account gets a reset; the caller is told the same either way."""
        return self.is_active

    def password_reset_requested(
        self, secret: str, reset: OneTimeToken
    ) -> UserPasswordResetRequested:
        return UserPasswordResetRequested(self.id, self.email, secret, reset.expires_at)

    def change_password(self, password_hash: str, now: datetime) -> None:
        self.password_hash = password_hash
        self.updated_at = now

    def check_may_sign_in(self) -> None:
        """Asked once the password matched: a suspended account is told so, an erased one
        is as unknown as an address nobody registered."""
        if self.is_erased:
            raise invalid_credentials()
        if self.status is UserStatus.SUSPENDED:
            raise PermissionDenied("this account is suspended", reason="ACCOUNT_SUSPENDED")

    def update_profile(self, changes: dict[str, Any], now: datetime) -> None:
        """Applies validated profile changes (see profile.profile_changes)."""
        self.check_exists()
        for name, value in changes.items():
            setattr(self, name, value)
        self.updated_at = now

    def _move(self, allowed: Collection[UserStatus], new: UserStatus, now: datetime) -> None:
        if self.status not in allowed:
            raise WrongState(
                "user", self.status.value, [s.value for s in allowed], reason=WRONG_STATUS
            )
        self.status = new
        self.updated_at = now

    def suspend(self, now: datetime) -> UserSuspended:
        """An active account stops: no sign-in, no refresh, no writes anywhere."""
        self._move((UserStatus.ACTIVE,), UserStatus.SUSPENDED, now)
        return UserSuspended(self.id, now)

    def reactivate(self, now: datetime) -> UserReactivated:
        """A suspended account may act again."""
        self._move((UserStatus.SUSPENDED,), UserStatus.ACTIVE, now)
        return UserReactivated(self.id, now)

    def erase(self, now: datetime) -> UserDeleted:
        """Deletes the account: every personal field and role goes; the id stays, so what
        others keep about it (bookings, payments) still points somewhere."""
        self._move((UserStatus.ACTIVE, UserStatus.SUSPENDED), UserStatus.DELETED, now)
        self.email = f"deleted-{self.id}@deleted.invalid"
        self.full_name = "Deleted user"
        self.password_hash = NO_PASSWORD
        self.email_verified_at = None
        self.phone = self.timezone = self.avatar_url = self.bio = ""
        self.preferences = {}
        self.roles = set()
        return UserDeleted(self.id)

    def check_an_admin_remains(self, active_admins: int) -> None:
        """Refuses to suspend, demote or erase the last active admin."""
        if self.counts_as_admin and active_admins <= 1:
            raise FailedPrecondition(
                "this is the last active admin; make another admin first", reason="LAST_ADMIN"
            )

    def check_staff_may_act(self, principal: Principal) -> None:
        """Staff act on accounts that exist; on staff accounts, only admins do."""
        self.check_exists()
        if self.is_staff and not principal.is_admin:
            raise PermissionDenied("only an admin can act on staff accounts")

    def set_roles(self, roles: set[str], by: Principal, now: datetime) -> None:
        """Replaces the roles; staff and admin are granted and removed by admins only."""
        if (self.roles ^ roles) & STAFF_ROLES and not by.is_admin:
            raise PermissionDenied("only an admin can grant or remove staff and admin roles")
        self.roles = set(roles)
        self.updated_at = now

    def grant(self, role: Role, now: datetime) -> bool:
        """Adds a role (another service's decision, e.g. an approved practitioner); False if
        the account already had it."""
        if role.value in self.roles:
            return False
        self.roles = self.roles | {role.value}
        self.updated_at = now
        return True

    def audit_view(self) -> dict[str, Any]:
        """What the audit log keeps of the account before and after a staff action."""
        return {"status": self.status.value, "roles": sorted(self.roles)}


def new_account(email: str, password: str, full_name: str) -> tuple[str, str]:
    """The normalised email and trimmed name of a registration, every problem named at once
    (the password is checked against the address as typed)."""
    violations = Violations()
    normalized = violations.check(lambda: normalize_email(email), "")
    name = violations.check(lambda: check_full_name(full_name), "")
    problem = password_problem(password, email=email)
    if problem:
        violations.add("password", *problem)
    violations.raise_if_any()
    return normalized, name


def parse_roles(values: Iterable[str]) -> set[str]:
    """A non-empty set of known roles, or an error naming the field."""
    values = list(values)
    if not values:
        raise InvalidArgument.field("roles", "must hold at least one role", "required")
    known = {r.value for r in Role}
    unknown = [v for v in values if v not in known]
    if unknown:
        raise InvalidArgument.field("roles", f"unknown roles: {', '.join(sorted(unknown))}")
    return set(values)


def user_id_from_name(name: str, caller_id: str | None, field_name: str = "name") -> str:
    """The user id in "users/{id}", with "users/me" standing for the caller."""
    prefix, _, ident = name.partition("/")
    if prefix != "users" or not ident:
        raise InvalidArgument.field(field_name, "must be users/me or users/{id}")
    if ident == "me":
        if caller_id is None:
            raise Unauthenticated("users/me needs a signed-in user")
        return caller_id
    return ident


def readable_user_id(principal: Principal, name: str) -> str:
    """The account a caller asks to read: their own, or anyone's for staff."""
    user_id = user_id_from_name(name, principal.user_id)
    if user_id != principal.user_id and not principal.is_staff:
        raise PermissionDenied("you can read only your own account")
    return user_id


def own_user_id(principal: Principal, name: str, refusal: str, field_name: str = "name") -> str:
    """The account a caller asks to change, which must be their own (else the refusal)."""
    user_id = user_id_from_name(name, principal.user_id, field_name)
    if user_id != principal.user_id:
        raise PermissionDenied(refusal)
    return user_id


def staff_target(principal: Principal, name: str, reason: str) -> str:
    """The account a staff action names, refused if it is the staff member's own."""
    user_id = user_id_from_name(name, principal.user_id)
    refuse_own_account(principal, user_id)
    if len(reason) > STAFF_REASON_MAX_LENGTH:
        raise InvalidArgument.field(
            "reason", f"must be at most {STAFF_REASON_MAX_LENGTH} characters", "too_long"
        )
    if not is_uuid(user_id):
        raise no_such_user()
    return user_id


def batch_ids(names: list[str]) -> list[str]:
    """The ids named in a batch read ("users/{id}" or the bare id), in the order asked."""
    if len(names) > BATCH_MAX_NAMES:
        raise InvalidArgument.field(
            "names", f"must hold at most {BATCH_MAX_NAMES} names", "too_many"
        )
    ids = [n.removeprefix("users/") for n in names]
    bad = [n for n, i in zip(names, ids, strict=True) if not is_uuid(i)]
    if bad:
        raise InvalidArgument.field("names", f"not user names: {', '.join(bad[:5])}")
    return ids
