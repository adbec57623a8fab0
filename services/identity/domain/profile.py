"""What a profile may hold, and which of a user's fields they may never set themselves."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urlparse

import orjson

from chassis.errors import FieldViolation, InvalidArgument
from chassis.validation import check_timezone

FULL_NAME_MAX_LENGTH = 200
BIO_MAX_LENGTH = 2000
URL_MAX_LENGTH = 2048
PREFERENCES_MAX_BYTES = 8192

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
