"""Identity's rules on plain objects: passwords, tokens, the account's statuses and roles,
who may read or change what. No database, no clock but the instants passed in."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chassis.auth.principal import STAFF_ROLES, Role
from chassis.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from chassis.ids import new_id
from chassis.lifecycle import WrongState
from services.identity.domain.audit import AuditFilter
from services.identity.domain.credentials import (
    COMMON_PASSWORDS,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    OneTimeToken,
    RefreshToken,
    RefreshTokenReused,
    TokenPurpose,
    check_new_password,
    check_one_time_token_shape,
    password_problem,
    token_hash,
)
from services.identity.domain.events import (
    UserDeleted,
    UserEmailVerified,
    UserReactivated,
    UserSuspended,
)
from services.identity.domain.profile import profile_changes
from services.identity.domain.users import (
    PERSONAL_FIELDS,
    User,
    UserStatus,
    batch_ids,
    new_account,
    own_user_id,
    parse_roles,
    readable_user_id,
    staff_target,
    user_id_from_name,
)
from tests.builders import PASSWORD, person

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def someone(*roles: Role, status: UserStatus = UserStatus.ACTIVE) -> User:
    """An account with a full profile, holding these roles (a client when none are given)."""
    user = User.register(
        id=new_id(),
        email="ana.sousa@example.com",
        full_name="Ana Sousa",
        password_hash="$argon2id$hash",
        now=NOW,
    )
    user.roles = {r.value for r in roles} or {Role.CLIENT.value}
    user.status = status
    user.email_verified_at = NOW
    user.phone, user.timezone = "+351912345678", "Europe/Lisbon"
    user.avatar_url, user.bio = "https://example.com/ana.png", "Teaches yoga."
    user.preferences = {"newsletter": True}
    return user


def code_of(error: InvalidArgument) -> tuple[str, str]:
    [violation] = error.violations
    return violation.field, violation.code


# Passwords -----------------------------------------------------------------------------------

# Ten or more characters, at least four of them different, none of them the email: good.
good_passwords = st.text(
    alphabet=string.ascii_letters + string.digits + "-_!", min_size=PASSWORD_MIN_LENGTH, max_size=40
).filter(lambda p: len(set(p.lower())) >= 4 and p.lower() not in COMMON_PASSWORDS)


@given(st.text(max_size=PASSWORD_MIN_LENGTH - 1))
def test_a_password_shorter_than_the_minimum_is_too_short(password):
    assert password_problem(password) == (
        f"must be at least {PASSWORD_MIN_LENGTH} characters",
        "too_short",
    )


@given(st.text(min_size=PASSWORD_MAX_LENGTH + 1, max_size=PASSWORD_MAX_LENGTH + 50))
def test_a_password_longer_than_the_maximum_is_too_long(password):
    assert password_problem(password)[1] == "too_long"


@given(
    st.sampled_from(sorted(p for p in COMMON_PASSWORDS if len(p) >= PASSWORD_MIN_LENGTH)),
    st.randoms(),
)
def test_a_common_password_is_refused_however_it_is_capitalised(common, rng):
    password = "".join(c.upper() if rng.random() < 0.5 else c for c in common)
    assert password_problem(password)[1] == "too_common"


@given(st.text(alphabet="aAb1", min_size=PASSWORD_MIN_LENGTH, max_size=60))
def test_a_password_of_fewer_than_four_different_characters_is_too_common(password):
    assert password_problem(password)[1] == "too_common"


@given(
    local=st.text(alphabet=string.ascii_lowercase, min_size=4, max_size=12),
    before=st.text(alphabet="0123456789", min_size=6, max_size=8),
    after=st.text(alphabet="!#%&", min_size=0, max_size=4),
)
def test_a_password_containing_the_emails_local_part_is_refused(local, before, after):
    password = before + local.upper() + after
    assume(password_problem(password, email="") is None)
    assert password_problem(password, email=f"{local}@example.com") == (
        "must not contain your email address",
        "contains_email",
    )


@given(local=st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=3))
def test_a_local_part_of_three_letters_or_fewer_does_not_count(local):
    assert password_problem(f"{local}-river-stone-42", email=f"{local}@example.com") is None


@given(good_passwords)
def test_any_long_varied_uncommon_password_is_accepted(password):
    assert password_problem(password, email="zq@example.com") is None


@given(good_passwords)
def test_a_new_password_must_differ_from_the_current_one(password):
    with pytest.raises(InvalidArgument) as same:
        check_new_password(password, password, email="zq@example.com")
    assert code_of(same.value) == ("new_password", "unchanged")
    check_new_password(password + "x", password, email="zq@example.com")


def test_a_bad_new_password_is_named_as_the_new_password():
    with pytest.raises(InvalidArgument) as short:
        check_new_password("short", PASSWORD, email="ana@example.com")
    assert code_of(short.value) == ("new_password", "too_short")


def test_a_registration_names_every_problem_at_once():
    with pytest.raises(InvalidArgument) as refused:
        new_account("not-an-email", "password123", "  ")
    assert {v.field for v in refused.value.violations} == {"email", "full_name", "password"}
    assert new_account("Ana@Example.COM", PASSWORD, "  Ana Sousa ") == (
        "Ana@example.com",
        "Ana Sousa",
    )


# Tokens ------------------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=10_000))
def test_a_one_time_token_is_spendable_only_before_it_expires(minutes):
    secret, token = OneTimeToken.issue(
        "u", TokenPurpose.PASSWORD_RESET, NOW, timedelta(minutes=minutes)
    )
    assert token.token_hash == token_hash(secret) != secret
    token.check_spendable(token.expires_at - timedelta(microseconds=1))
    for late in (token.expires_at, token.expires_at + timedelta(seconds=1)):
        with pytest.raises(InvalidArgument) as expired:
            token.check_spendable(late)
        assert code_of(expired.value) == ("token", "invalid_token")


def test_a_used_one_time_token_is_spent():
    _, token = OneTimeToken.issue("u", TokenPurpose.EMAIL_VERIFICATION, NOW, timedelta(hours=1))
    with pytest.raises(InvalidArgument):
        replace(token, used_at=NOW).check_spendable(NOW)


@pytest.mark.parametrize("token", ["", "x" * 201])
def test_what_cannot_be_a_token_is_refused_before_any_lookup(token):
    with pytest.raises(InvalidArgument):
        check_one_time_token_shape(token)


def refresh_token(**changes) -> RefreshToken:
    _, token = RefreshToken.issue("session", "user", NOW, timedelta(days=7))
    return replace(token, **changes)


def test_a_refresh_token_rotates_until_it_expires():
    refresh_token().check_rotatable(NOW + timedelta(days=7, microseconds=-1))
    with pytest.raises(Unauthenticated) as expired:
        refresh_token().check_rotatable(NOW + timedelta(days=7))
    assert expired.value.reason == "INVALID_REFRESH_TOKEN"


def test_a_rotated_refresh_token_is_reuse_even_once_expired():
    with pytest.raises(RefreshTokenReused) as reused:
        refresh_token(used_at=NOW).check_rotatable(NOW + timedelta(days=30))
    assert reused.value.reason == "REFRESH_TOKEN_REUSED"


def test_a_refresh_token_of_a_revoked_session_is_invalid_not_reuse():
    with pytest.raises(Unauthenticated) as revoked:
        refresh_token(used_at=NOW, session_revoked_at=NOW).check_rotatable(NOW)
    assert revoked.value.reason == "INVALID_REFRESH_TOKEN"


# The account's statuses ----------------------------------------------------------------------

MOVES = {
    "suspend": ({UserStatus.ACTIVE}, UserStatus.SUSPENDED, UserSuspended),
    "reactivate": ({UserStatus.SUSPENDED}, UserStatus.ACTIVE, UserReactivated),
    "erase": ({UserStatus.ACTIVE, UserStatus.SUSPENDED}, UserStatus.DELETED, UserDeleted),
}


@given(st.lists(st.sampled_from(sorted(MOVES)), max_size=12))
def test_an_account_moves_only_between_the_statuses_its_rules_allow(moves):
    user = someone()
    for move in moves:
        allowed, after, event_type = MOVES[move]
        before = user.status
        if before in allowed:
            event = getattr(user, move)(NOW)
            assert isinstance(event, event_type) and event.user_id == user.id
            assert user.status is after
        else:
            with pytest.raises(WrongState) as refused:
                getattr(user, move)(NOW)
            assert refused.value.reason == "WRONG_STATUS"
            assert refused.value.metadata["current_state"] == before.value
            assert user.status is before


@given(
    full_name=st.text(min_size=1, max_size=40),
    phone=st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
    bio=st.text(max_size=80),
    preferences=st.dictionaries(st.text(max_size=8), st.integers(), max_size=4),
    suspended_first=st.booleans(),
)
def test_erasure_leaves_nothing_that_says_who_the_person_was(
    full_name, phone, bio, preferences, suspended_first
):
    user = someone(Role.PRACTITIONER)
    user.full_name, user.phone, user.bio, user.preferences = full_name, phone, bio, preferences
    if suspended_first:
        user.suspend(NOW)
    kept = {name: getattr(user, name) for name in PERSONAL_FIELDS}
    assert user.erase(NOW) == UserDeleted(user.id)
    assert user.status is UserStatus.DELETED and user.roles == set()
    assert user.email == f"deleted-{user.id}@deleted.invalid"
    assert user.full_name == "Deleted user"
    assert user.password_hash == "!"
    assert user.email_verified_at is None
    assert (user.phone, user.timezone, user.avatar_url, user.bio) == ("", "", "", "")
    assert user.preferences == {}
    for name, value in kept.items():
        if value:  # no personal field keeps what it held
            assert getattr(user, name) != value, name


def test_an_erased_account_is_no_one():
    user = someone()
    user.erase(NOW)
    with pytest.raises(NotFound):
        user.check_exists()
    with pytest.raises(Unauthenticated) as signing_in:
        user.check_may_sign_in()
    assert signing_in.value.reason == "INVALID_CREDENTIALS"
    with pytest.raises(InvalidArgument):  # its verification token is worthless
        user.verify_email(NOW)


def test_a_suspended_account_is_told_so_at_sign_in_and_gets_no_password_reset():
    user = someone(status=UserStatus.SUSPENDED)
    with pytest.raises(PermissionDenied) as signing_in:
        user.check_may_sign_in()
    assert signing_in.value.reason == "ACCOUNT_SUSPENDED"
    assert not user.may_reset_password
    assert someone().may_reset_password


def test_an_email_is_verified_once():
    user = someone()
    user.email_verified_at = None
    later = NOW + timedelta(hours=1)
    assert user.verify_email(later) == UserEmailVerified(user.id, user.email)
    assert user.email_verified_at == later
    assert user.verify_email(later + timedelta(hours=1)) is None
    assert user.email_verified_at == later


def test_a_new_account_is_an_active_unverified_client_and_an_admin_is_verified_staff():
    client = User.register(id="c", email="c@example.com", full_name="C", password_hash="h", now=NOW)
    assert (client.status, client.roles, client.email_verified_at) == (
        UserStatus.ACTIVE,
        {"client"},
        None,
    )
    admin = User.admin(id="a", email="a@example.com", full_name="A", password_hash="h", now=NOW)
    assert admin.roles == {"client", "staff", "admin"} and admin.email_verified_at == NOW


# Roles -------------------------------------------------------------------------------------

role_sets = st.sets(st.sampled_from([r.value for r in Role]), min_size=1)


@given(old=role_sets, new=role_sets, acting_as_admin=st.booleans())
def test_only_an_admin_grants_or_removes_staff_and_admin_roles(old, new, acting_as_admin):
    user = someone()
    user.roles = set(old)
    actor = person(None, Role.STAFF, Role.ADMIN) if acting_as_admin else person(None, Role.STAFF)
    touches_staff = bool((old ^ new) & STAFF_ROLES)
    if touches_staff and not acting_as_admin:
        with pytest.raises(PermissionDenied):
            user.set_roles(new, actor, NOW)
        assert user.roles == old
    else:
        user.set_roles(new, actor, NOW)
        assert user.roles == new


@pytest.mark.parametrize(
    ("status", "roles", "admins", "refused"),
    [
        (UserStatus.ACTIVE, (Role.ADMIN,), 1, True),
        (UserStatus.ACTIVE, (Role.ADMIN,), 2, False),
        (UserStatus.SUSPENDED, (Role.ADMIN,), 1, False),  # already not counted
        (UserStatus.ACTIVE, (Role.STAFF,), 1, False),
    ],
)
def test_the_last_active_admin_cannot_be_removed(status, roles, admins, refused):
    user = someone(*roles, status=status)
    if refused:
        with pytest.raises(FailedPrecondition) as last:
            user.check_an_admin_remains(admins)
        assert last.value.reason == "LAST_ADMIN"
    else:
        user.check_an_admin_remains(admins)


def test_staff_act_on_staff_accounts_only_as_admins():
    colleague = someone(Role.STAFF)
    with pytest.raises(PermissionDenied):
        colleague.check_staff_may_act(person(None, Role.STAFF))
    colleague.check_staff_may_act(person(None, Role.STAFF, Role.ADMIN))
    someone().check_staff_may_act(person(None, Role.STAFF))
    gone = someone()
    gone.erase(NOW)
    with pytest.raises(NotFound):
        gone.check_staff_may_act(person(None, Role.STAFF, Role.ADMIN))


def test_a_role_granted_by_another_service_is_added_once():
    user = someone()
    assert user.grant(Role.PRACTITIONER, NOW)
    assert not user.grant(Role.PRACTITIONER, NOW)
    assert user.roles == {"client", "practitioner"}


def test_roles_must_be_known_and_at_least_one():
    with pytest.raises(InvalidArgument) as empty:
        parse_roles([])
    assert code_of(empty.value) == ("roles", "required")
    with pytest.raises(InvalidArgument, match="unknown roles: unknown\\(7\\), wizard"):
        parse_roles(["client", "wizard", "unknown(7)"])
    assert parse_roles(["client", "practitioner", "client"]) == {"client", "practitioner"}


def test_the_audit_view_is_status_and_sorted_roles():
    assert someone(Role.STAFF, Role.CLIENT).audit_view() == {
        "status": "active",
        "roles": ["client", "staff"],
    }


# Who may read or change which account ------------------------------------------------------


def test_users_me_stands_for_the_caller_and_other_names_are_refused():
    me = person()
    assert user_id_from_name("users/me", me.user_id) == me.user_id
    assert user_id_from_name("users/abc", me.user_id) == "abc"
    with pytest.raises(Unauthenticated):
        user_id_from_name("users/me", None)
    for bad in ("users/", "people/abc", "me"):
        with pytest.raises(InvalidArgument):
            user_id_from_name(bad, me.user_id)


def test_a_client_reads_only_their_own_account_and_staff_read_anyone():
    client, other = person(), new_id()
    with pytest.raises(PermissionDenied):
        readable_user_id(client, f"users/{other}")
    assert readable_user_id(person(None, Role.STAFF), f"users/{other}") == other


def test_an_account_is_changed_only_by_its_owner():
    me = person()
    assert own_user_id(me, "users/me", "no") == me.user_id
    with pytest.raises(PermissionDenied, match="only yours"):
        own_user_id(me, f"users/{new_id()}", "only yours")


def test_a_staff_action_names_another_existing_account_with_a_short_reason():
    staff = person(None, Role.STAFF)
    with pytest.raises(PermissionDenied) as own:
        staff_target(staff, f"users/{staff.user_id}", "")
    assert own.value.reason == "OWN_ACCOUNT"
    with pytest.raises(InvalidArgument) as long_reason:
        staff_target(staff, f"users/{new_id()}", "x" * 501)
    assert code_of(long_reason.value) == ("reason", "too_long")
    with pytest.raises(NotFound):
        staff_target(staff, "users/not-a-uuid", "")


def test_a_batch_read_takes_at_most_a_thousand_user_names():
    ids = [new_id() for _ in range(3)]
    assert batch_ids([f"users/{ids[0]}", ids[1], f"users/{ids[2]}"]) == ids
    with pytest.raises(InvalidArgument) as too_many:
        batch_ids([ids[0]] * 1001)
    assert code_of(too_many.value) == ("names", "too_many")
    with pytest.raises(InvalidArgument, match="users/nobody"):
        batch_ids(["users/nobody"])


# The profile -------------------------------------------------------------------------------


@given(st.sampled_from(["email", "roles", "status", "id", "email_verified"]))
def test_a_protected_field_is_refused_by_name_never_half_applied(field):
    with pytest.raises(InvalidArgument) as refused:
        profile_changes(["bio", field], {"bio": "Hello"})
    assert code_of(refused.value) == (field, "read_only")


def test_every_profile_problem_is_named_at_once_and_values_are_normalised():
    with pytest.raises(InvalidArgument) as refused:
        profile_changes(
            ["phone", "avatar_url", "nickname"],
            {"phone": "12", "avatar_url": "http://example.com/a.png"},
        )
    assert {(v.field, v.code) for v in refused.value.violations} == {
        ("phone", "invalid_phone"),
        ("avatar_url", "invalid_url"),
        ("nickname", "unknown_field"),
    }
    assert profile_changes(
        ["phone", "full_name"], {"phone": "+351 912 345 678", "full_name": " Ana "}
    ) == {
        "phone": "+351912345678",
        "full_name": "Ana",
    }
    with pytest.raises(InvalidArgument) as nothing:
        profile_changes([], {})
    assert code_of(nothing.value) == ("update_mask", "required")


def test_a_profile_change_applies_to_an_existing_account_only():
    user = someone()
    later = NOW + timedelta(minutes=5)
    user.update_profile({"bio": "New"}, later)
    assert (user.bio, user.updated_at) == ("New", later)
    user.erase(later)
    with pytest.raises(NotFound):
        user.update_profile({"bio": "Back"}, later)


# The audit log -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flt", "field", "code"),
    [
        (AuditFilter(target_user_id="nope"), "target_user_id", "invalid_id"),
        (AuditFilter(actor_id="nope"), "actor_id", "invalid_id"),
        (AuditFilter(target="x" * 201), "target", "too_long"),
        (AuditFilter(service="x" * 31), "service", "too_long"),
    ],
)
def test_an_audit_query_names_its_bad_filter(flt, field, code):
    with pytest.raises(InvalidArgument) as refused:
        flt.check()
    assert code_of(refused.value) == (field, code)
