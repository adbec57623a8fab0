"""Passwords and the tokens that stand for them: what a good password is, when a one-time
token may be spent, when a refresh token may be rotated, and the state of a signing key.

Secrets handed out are stored only as their SHA-256 hash; a token's record never holds it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.errors import InvalidArgument, Unauthenticated

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128
# Longer than any token we hand out, short enough to refuse before hashing.
ONE_TIME_TOKEN_MAX_LENGTH = 200

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
INVALID_REFRESH = "the refresh token is invalid, expired or revoked"
INVALID_ONE_TIME_TOKEN = "is invalid, expired or already used"


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


def check_password(password: str, *, email: str = "", field_name: str = "password") -> None:
    """Refuses short, overlong, common or email-derived passwords."""
    violation = password_problem(password, email=email)
    if violation:
        message, code = violation
        raise InvalidArgument.field(field_name, message, code)


def check_new_password(new_password: str, current_password: str, *, email: str) -> None:
    """A replacement password: a good one, and not the one it replaces."""
    check_password(new_password, email=email, field_name="new_password")
    if new_password == current_password:
        raise InvalidArgument.field(
            "new_password", "must differ from the current password", "unchanged"
        )


def invalid_credentials() -> Unauthenticated:
    """One answer for an unknown email, a wrong password and an erased account."""
    return Unauthenticated(INVALID_CREDENTIALS, reason="INVALID_CREDENTIALS")


def token_hash(token: str) -> str:
    """How secrets we hand out are stored: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def _secret() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


class TokenPurpose(StrEnum):
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"


def invalid_one_time_token() -> InvalidArgument:
    """One answer for every token that cannot be spent, whatever the reason."""
    return InvalidArgument.field("token", INVALID_ONE_TIME_TOKEN, "invalid_token")


def check_one_time_token_shape(token: str) -> None:
    """Refuses, before any lookup, what cannot be a token we handed out."""
    if not token or len(token) > ONE_TIME_TOKEN_MAX_LENGTH:
        raise invalid_one_time_token()


@dataclass(frozen=True)
class OneTimeToken:
    """A single-use token sent by mail (email verification, password reset)."""

    token_hash: str
    user_id: str
    purpose: TokenPurpose
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    @classmethod
    def issue(
        cls, user_id: str, purpose: TokenPurpose, now: datetime, ttl: timedelta
    ) -> tuple[str, OneTimeToken]:
        """A new token: the secret to send, and the record to keep."""
        secret, hashed = _secret()
        return secret, cls(hashed, user_id, purpose, now, now + ttl)

    def check_spendable(self, now: datetime) -> None:
        """Refuses a token already used or past its expiry."""
        if self.used_at is not None or self.expires_at <= now:
            raise invalid_one_time_token()


class RefreshTokenReused(Unauthenticated):
    """A rotated refresh token came back: whoever holds it is not the session's owner, or
    the owner was robbed. Either way the whole session must die."""

    def __init__(self) -> None:
        super().__init__(INVALID_REFRESH, reason="REFRESH_TOKEN_REUSED")


def invalid_refresh(reason: str = "INVALID_REFRESH_TOKEN") -> Unauthenticated:
    return Unauthenticated(INVALID_REFRESH, reason=reason)


@dataclass(frozen=True)
class RefreshToken:
    """One rotating refresh token of a session, with the state of its session."""

    token_hash: str
    session_id: str
    user_id: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    session_revoked_at: datetime | None = None

    @classmethod
    def issue(
        cls, session_id: str, user_id: str, now: datetime, ttl: timedelta
    ) -> tuple[str, RefreshToken]:
        """A new refresh token: the secret to hand out, and the record to keep."""
        secret, hashed = _secret()
        return secret, cls(hashed, session_id, user_id, now, now + ttl)

    def check_rotatable(self, now: datetime) -> None:
        """Refuses a token of a revoked session, one already rotated (RefreshTokenReused,
        checked before expiry so a stolen old token still kills its session) or an expired
        one."""
        if self.session_revoked_at is not None:
            raise invalid_refresh()
        if self.used_at is not None:
            raise RefreshTokenReused()
        if self.expires_at <= now:
            raise invalid_refresh()


class KeyStatus(StrEnum):
    # Published in the JWKS ahead of signing, so every verifier has it before it is used.
    NEXT = "next"
    ACTIVE = "active"
    VERIFYING = "verifying"
    RETIRED = "retired"
