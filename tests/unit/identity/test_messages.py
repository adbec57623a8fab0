"""What identity's domain tells a caller when it refuses, word for word (the message, reason
and field a client reads), and what its events carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chassis.auth.principal import Role
from chassis.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from chassis.lifecycle import WrongState
from services.identity.domain.audit import SERVICE_MAX_LENGTH, TARGET_MAX_LENGTH, AuditFilter
from services.identity.domain.credentials import (
    INVALID_ONE_TIME_TOKEN,
    INVALID_REFRESH,
    ONE_TIME_TOKEN_MAX_LENGTH,
    OneTimeToken,
    RefreshTokenReused,
    TokenPurpose,
    check_new_password,
    check_one_time_token_shape,
    check_password,
    invalid_refresh,
)
from services.identity.domain.users import (
    STAFF_REASON_MAX_LENGTH,
    User,
    UserStatus,
    new_account,
    no_such_user,
    readable_user_id,
    staff_target,
    user_id_from_name,
)
from tests.builders import PASSWORD, person

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SOMEONE = "0190a000-0000-7000-8000-000000000001"


def user(*roles: Role, status: UserStatus = UserStatus.ACTIVE) -> User:
    made = User.register(
        id=SOMEONE, email="ana@example.com", full_name="Ana", password_hash="h", now=NOW
    )
    made.roles |= {r.value for r in roles}
    made.status = status
    return made


def said(error: pytest.ExceptionInfo[Exception]) -> tuple[str, str]:
    return str(error.value), getattr(error.value, "reason", "")


def test_refusals_of_an_account_say_why():
    assert str(no_such_user()) == "no such user" and isinstance(no_such_user(), NotFound)
    with pytest.raises(PermissionDenied) as suspended:
        user(status=UserStatus.SUSPENDED).check_may_sign_in()
    assert said(suspended) == ("this account is suspended", "ACCOUNT_SUSPENDED")
    with pytest.raises(WrongState) as wrong:
        user(status=UserStatus.SUSPENDED).suspend(NOW)
    assert (wrong.value.reason, wrong.value.current) == ("WRONG_STATUS", "suspended")
    assert "user" in str(wrong.value)
    with pytest.raises(FailedPrecondition) as last:
        user(Role.STAFF, Role.ADMIN).check_an_admin_remains(1)
    assert said(last) == ("this is the last active admin; make another admin first", "LAST_ADMIN")
    with pytest.raises(PermissionDenied) as staff:
        user(Role.STAFF).check_staff_may_act(person(None, Role.STAFF))
    assert str(staff.value) == "only an admin can act on staff accounts"
    with pytest.raises(PermissionDenied) as roles:
        user().set_roles({"client", "staff"}, person(None, Role.STAFF), NOW)
    assert str(roles.value) == "only an admin can grant or remove staff and admin roles"


def test_names_of_users_are_read_and_refused_naming_the_field():
    me = person()
    assert user_id_from_name("users/me", me.user_id) == me.user_id
    assert user_id_from_name(f"users/{SOMEONE}", None) == SOMEONE
    for bad in ("people/me", "users/", "users"):
        with pytest.raises(InvalidArgument) as refused:
            user_id_from_name(bad, me.user_id)
        assert refused.value.violations == (
            FieldViolation("name", "must be users/me or users/{id}", "invalid"),
        )
    with pytest.raises(InvalidArgument) as field:
        user_id_from_name("x", me.user_id, "user")
    assert field.value.violations[0].field == "user"
    with pytest.raises(Unauthenticated) as anonymous:
        user_id_from_name("users/me", None)
    assert str(anonymous.value) == "users/me needs a signed-in user"
    with pytest.raises(PermissionDenied) as other:
        readable_user_id(me, f"users/{SOMEONE}")
    assert str(other.value) == "you can read only your own account"
    assert readable_user_id(person(None, Role.STAFF), f"users/{SOMEONE}") == SOMEONE


def test_a_staff_actions_reason_has_a_bound():
    staff = person(None, Role.STAFF)
    assert staff_target(staff, f"users/{SOMEONE}", "r" * STAFF_REASON_MAX_LENGTH) == SOMEONE
    with pytest.raises(InvalidArgument) as long:
        staff_target(staff, f"users/{SOMEONE}", "r" * (STAFF_REASON_MAX_LENGTH + 1))
    assert long.value.violations == (
        FieldViolation("reason", "must be at most 500 characters", "too_long"),
    )


def test_a_registration_names_every_bad_field_at_once():
    with pytest.raises(InvalidArgument) as refused:
        new_account("not-an-email", "short", "  ")
    assert [v.field for v in refused.value.violations] == ["email", "full_name", "password"]
    assert new_account("Ana@Example.COM", PASSWORD, " Ana ") == ("Ana@example.com", "Ana")


def test_password_rules_say_which_field_and_why():
    with pytest.raises(InvalidArgument) as short:
        check_password("short")
    [violation] = short.value.violations
    assert (violation.field, violation.code) == ("password", "too_short")
    assert violation.message and str(short.value).endswith(violation.message)
    check_password(PASSWORD)  # a good one passes, with or without an address
    with pytest.raises(InvalidArgument) as same:
        check_new_password(PASSWORD, PASSWORD, email="ana@example.com")
    assert same.value.violations == (
        FieldViolation("new_password", "must differ from the current password", "unchanged"),
    )
    with pytest.raises(InvalidArgument) as named:
        check_new_password("short", PASSWORD, email="ana@example.com")
    assert named.value.violations[0].field == "new_password"


def test_token_refusals_say_one_thing_whatever_the_reason():
    for bad in ("", "t" * (ONE_TIME_TOKEN_MAX_LENGTH + 1)):
        with pytest.raises(InvalidArgument) as refused:
            check_one_time_token_shape(bad)
        assert refused.value.violations == (
            FieldViolation("token", INVALID_ONE_TIME_TOKEN, "invalid_token"),
        )
    check_one_time_token_shape("t" * ONE_TIME_TOKEN_MAX_LENGTH)
    assert said_of(RefreshTokenReused()) == (INVALID_REFRESH, "REFRESH_TOKEN_REUSED")
    assert said_of(invalid_refresh("ACCOUNT_NOT_ACTIVE")) == (INVALID_REFRESH, "ACCOUNT_NOT_ACTIVE")


def said_of(error: Exception) -> tuple[str, str]:
    return str(error), getattr(error, "reason", "")


def test_one_time_secrets_are_long_and_unguessable():
    secrets = {OneTimeToken.issue("u", TokenPurpose.PASSWORD_RESET, NOW, timedelta(hours=1))[0]}
    secrets |= {OneTimeToken.issue("u", TokenPurpose.PASSWORD_RESET, NOW, timedelta(hours=1))[0]}
    assert len(secrets) == 2
    assert all(len(s) == 43 for s in secrets)  # 32 random bytes, base64url


def test_the_events_carry_who_and_what():
    ana = user()
    secret, verification = OneTimeToken.issue(
        ana.id, TokenPurpose.EMAIL_VERIFICATION, NOW, timedelta(hours=48)
    )
    registered = ana.registered(secret, verification)
    assert (registered.user_id, registered.email, registered.full_name) == (
        SOMEONE,
        "ana@example.com",
        "Ana",
    )
    secret, reset = OneTimeToken.issue(ana.id, TokenPurpose.PASSWORD_RESET, NOW, timedelta(hours=1))
    requested = ana.password_reset_requested(secret, reset)
    assert (requested.user_id, requested.email, requested.reset_token) == (
        SOMEONE,
        "ana@example.com",
        secret,
    )
    assert requested.expires_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    ("audit_filter", "violation"),
    [
        (AuditFilter(actor_id="me"), ("actor_id", "must be a user id", "invalid_id")),
        (AuditFilter(target_user_id="x"), ("target_user_id", "must be a user id", "invalid_id")),
        (AuditFilter(target="t" * (TARGET_MAX_LENGTH + 1)), ("target", "is too long", "too_long")),
        (
            AuditFilter(service="s" * (SERVICE_MAX_LENGTH + 1)),
            ("service", "is too long", "too_long"),
        ),
    ],
)
def test_an_audit_filter_names_the_field_it_refuses(audit_filter, violation):
    with pytest.raises(InvalidArgument) as refused:
        audit_filter.check()
    [found] = refused.value.violations
    assert (found.field, found.message, found.code) == violation


def test_an_audit_filter_at_its_bounds_passes():
    AuditFilter(
        service="s" * SERVICE_MAX_LENGTH,
        actor_id=SOMEONE,
        target="t" * TARGET_MAX_LENGTH,
        target_user_id=SOMEONE,
    ).check()
