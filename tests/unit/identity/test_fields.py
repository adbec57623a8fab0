"""What a user is told when a profile change or a name is refused: the field, the message and
the code of each violation (what problem+json shows), at each bound."""

from __future__ import annotations

import pytest

from chassis.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.identity.domain.profile import (
    BIO_MAX_LENGTH,
    PREFERENCES_MAX_BYTES,
    URL_MAX_LENGTH,
    profile_changes,
)
from services.identity.domain.users import (
    BATCH_MAX_NAMES,
    batch_ids,
    own_user_id,
    parse_roles,
)
from tests.builders import person

AVATAR = "https://cdn.example.com/a.png"
LONG_URL = "https://cdn.example.com/" + "a" * (URL_MAX_LENGTH - 24)


def refused(paths: list[str], values: dict[str, object]) -> list[tuple[str, str, str]]:
    with pytest.raises(InvalidArgument) as error:
        profile_changes(paths, values)
    violations = error.value.violations
    assert str(error.value) == "; ".join(f"{v.field}: {v.message}" for v in violations)
    return [(v.field, v.message, v.code) for v in violations]


@pytest.mark.parametrize(
    ("field", "value", "violation"),
    [
        ("bio", "b" * (BIO_MAX_LENGTH + 1), ("bio", "must be at most 2000 characters", "too_long")),
        (
            "avatar_url",
            LONG_URL + "a",
            ("avatar_url", "must be at most 2048 characters", "too_long"),
        ),
        (
            "avatar_url",
            "http://cdn.example.com/a.png",
            ("avatar_url", "must be an https:// URL", "invalid_url"),
        ),
        ("avatar_url", "https:///a.png", ("avatar_url", "must be an https:// URL", "invalid_url")),
        (
            "phone",
            "0912 345 678",
            ("phone", "must be in international form, e.g. +351912345678", "invalid_phone"),
        ),
        ("preferences", ["a"], ("preferences", "must be a JSON object", "invalid")),
        (
            "preferences",
            {"k": "v" * PREFERENCES_MAX_BYTES},
            ("preferences", "must be at most 8192 bytes as JSON", "too_long"),
        ),
    ],
)
def test_a_bad_profile_value_is_refused_naming_field_message_and_code(field, value, violation):
    assert refused([field], {field: value}) == [violation]


@pytest.mark.parametrize(
    ("field", "value", "kept"),
    [
        ("bio", "b" * BIO_MAX_LENGTH, "b" * BIO_MAX_LENGTH),
        ("avatar_url", LONG_URL, LONG_URL),
        ("avatar_url", AVATAR, AVATAR),
        ("avatar_url", "", ""),
        ("phone", "+351 (91) 234-5678", "+351912345678"),
        ("phone", "", ""),
        ("preferences", {"theme": "dark"}, {"theme": "dark"}),
    ],
)
def test_a_good_profile_value_is_kept_at_its_bound(field, value, kept):
    assert profile_changes([field], {field: value}) == {field: kept}


def test_protected_unknown_and_bad_fields_are_refused_together():
    violations = refused(
        ["roles", "shoe_size", "bio", "roles"], {"bio": "b" * (BIO_MAX_LENGTH + 1)}
    )
    assert violations == [
        ("roles", "cannot be changed through the profile", "read_only"),
        ("shoe_size", "is not a profile field", "unknown_field"),
        ("bio", "must be at most 2000 characters", "too_long"),
    ]


def test_an_empty_update_mask_is_refused():
    assert refused([], {}) == [("update_mask", "must name at least one field", "required")]


def violation(error: pytest.ExceptionInfo[InvalidArgument]) -> FieldViolation:
    [found] = error.value.violations
    return found


def test_roles_must_be_known_and_at_least_one():
    with pytest.raises(InvalidArgument) as none:
        parse_roles([])
    assert violation(none) == FieldViolation("roles", "must hold at least one role", "required")
    with pytest.raises(InvalidArgument) as unknown:
        parse_roles(["client", "wizard", "god"])
    assert violation(unknown) == FieldViolation("roles", "unknown roles: god, wizard", "invalid")
    assert parse_roles(["client", "staff"]) == {"client", "staff"}


def test_a_batch_names_at_most_a_thousand_users_by_id():
    ids = [f"0190a000-0000-7000-8000-{n:012d}" for n in range(BATCH_MAX_NAMES)]
    assert batch_ids([f"users/{i}" for i in ids]) == ids
    with pytest.raises(InvalidArgument) as too_many:
        batch_ids([*ids, ids[0]])
    assert violation(too_many) == FieldViolation(
        "names", "must hold at most 1000 names", "too_many"
    )
    bad = [f"users/x{n}" for n in range(7)]
    with pytest.raises(InvalidArgument) as not_names:
        batch_ids([ids[0], *bad])
    assert violation(not_names) == FieldViolation(
        "names", f"not user names: {', '.join(bad[:5])}", "invalid"
    )


def test_only_ones_own_account_is_changed_and_a_bad_name_names_its_field():
    me = person()
    assert own_user_id(me, "users/me", "not yours") == me.user_id
    with pytest.raises(PermissionDenied, match="not yours"):
        own_user_id(me, "users/someone-else", "not yours")
    with pytest.raises(InvalidArgument) as bad:
        own_user_id(me, "people/me", "not yours")
    assert violation(bad).field == "name"
    with pytest.raises(InvalidArgument) as named:
        own_user_id(me, "people/me", "not yours", "user")
    assert violation(named).field == "user"
