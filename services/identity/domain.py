"""Identity's rules: what a valid account, password and profile are, and who may change what."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

import orjson

from chassis.auth.principal import STAFF_ROLES, Role
from chassis.errors import FieldViolation, InvalidArgument, Unauthenticated
from chassis.validation import check_timezone

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128
FULL_NAME_MAX_LENGTH = 200
BIO_MAX_LENGTH = 2000
URL_MAX_LENGTH = 2048
PREFERENCES_MAX_BYTES = 8192

# Passwords that appear at the top of every breach list; NIST SP 800-63B asks us to refuse
# them rather than impose composition rules.
COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password12",
        "password123",
        "password1234",
        "passw0rd",
        "1234567890",
        "12345678910",
        "0123456789",
        "qwertyuiop",
        "qwerty1234",
        "qwerty12345",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "iloveyou12",
        "letmein123",
        "welcome123",
        "admin12345",
        "abc1234567",
        "football12",
        "baseball12",
        "sunshine12",
        "princess12",
        "dragon1234",
        "monkey1234",
        "trustno1234",
        "superman12",
        "starwars12",
        "whatever12",
        "qazwsxedcr",
        "aaaaaaaaaa",
        "zaq12wsxcde",
        "changeme123",
        "wellness123",
        "estuary123",
        "yoga123456",
    }
)

INVALID_CREDENTIALS = "the email or password is incorrect"


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class TokenPurpose(StrEnum):
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"


class KeyStatus(StrEnum):
    # Published in the JWKS ahead of signing, so every verifier has it before it is used.
    NEXT = "next"
    ACTIVE = "active"
    VERIFYING = "verifying"
    RETIRED = "retired"


PROFILE_FIELDS = ("full_name", "phone", "timezone", "avatar_url", "bio", "preferences")
# Fields a user can see but never set on their own profile.
PROTECTED_FIELDS = (
    "name",
    "id",
    "email",
    "email_verified",
    "roles",
    "status",
    "create_time",
    "update_time",
)


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

    @property
    def is_active(self) -> bool:
        return self.status is UserStatus.ACTIVE

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles


def check_password(password: str, *, email: str = "", field_name: str = "password") -> None:
    """Refuses short, overlong, common or email-derived passwords."""
    violation = password_problem(password, email=email)
    if violation:
        message, code = violation
        raise InvalidArgument.field(field_name, message, code)


def password_problem(password: str, *, email: str = "") -> tuple[str, str] | None:
    """What is wrong with a new password, if anything: (message, code)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"must be at least {PASSWORD_MIN_LENGTH} characters", "too_short"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"must be at most {PASSWORD_MAX_LENGTH} characters", "too_long"
    folded = password.lower()
    if folded in COMMON_PASSWORDS or len(set(folded)) < 4:
        return "is too common or too easy to guess", "too_common"
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in folded:
        return "must not contain your email address", "contains_email"
    return None


def check_full_name(value: str, field_name: str = "full_name") -> str:
    """A trimmed display name without control characters."""
    value = value.strip()
    if not value:
        raise InvalidArgument.field(field_name, "is required", "required")
    if len(value) > FULL_NAME_MAX_LENGTH:
        raise InvalidArgument.field(
            field_name, f"must be at most {FULL_NAME_MAX_LENGTH} characters", "too_long"
        )
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise InvalidArgument.field(field_name, "must not contain control characters")
    return value


_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _check_phone(value: str) -> str:
    compact = re.sub(r"[\s().-]", "", value)
    if compact and not _PHONE.match(compact):
        raise InvalidArgument.field(
            "phone", "must be in international form, e.g. +351912345678", "invalid_phone"
        )
    return compact


def _check_avatar_url(value: str) -> str:
    if not value:
        return value
    if len(value) > URL_MAX_LENGTH:
        raise InvalidArgument.field(
            "avatar_url", f"must be at most {URL_MAX_LENGTH} characters", "too_long"
        )
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.netloc:
        raise InvalidArgument.field("avatar_url", "must be an https:// URL", "invalid_url")
    return value


def _check_bio(value: str) -> str:
    if len(value) > BIO_MAX_LENGTH:
        raise InvalidArgument.field(
            "bio", f"must be at most {BIO_MAX_LENGTH} characters", "too_long"
        )
    return value


def _check_preferences(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument.field("preferences", "must be a JSON object")
    if len(orjson.dumps(value)) > PREFERENCES_MAX_BYTES:
        raise InvalidArgument.field(
            "preferences", f"must be at most {PREFERENCES_MAX_BYTES} bytes as JSON", "too_long"
        )
    return value


_PROFILE_CHECKS = {
    "full_name": check_full_name,
    "phone": _check_phone,
    "timezone": check_timezone,
    "avatar_url": _check_avatar_url,
    "bio": _check_bio,
    "preferences": _check_preferences,
}


def profile_changes(paths: list[str], values: dict[str, Any]) -> dict[str, Any]:
    """Validated new values for the profile fields named in an update mask.

    Names a protected field (email, roles, status, ids) or an unknown one as an error, so a
    request that tries to change them is refused rather than silently half-applied.
    """
    if not paths:
        raise InvalidArgument.field("update_mask", "must name at least one field", "required")
    violations: list[FieldViolation] = []
    changes: dict[str, Any] = {}
    for path in dict.fromkeys(paths):
        if path in PROTECTED_FIELDS:
            violations.append(
                FieldViolation(path, "cannot be changed through the profile", "read_only")
            )
        elif path not in _PROFILE_CHECKS:
            violations.append(FieldViolation(path, "is not a profile field", "unknown_field"))
        else:
            try:
                changes[path] = _PROFILE_CHECKS[path](values[path])
            except InvalidArgument as error:
                violations.extend(error.violations)
    if violations:
        raise InvalidArgument(
            "; ".join(f"{v.field}: {v.message}" for v in violations), violations=violations
        )
    return changes


def parse_roles(values: list[str]) -> set[str]:
    """A non-empty set of known roles, or an error naming the field."""
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
