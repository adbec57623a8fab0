"""Who is calling, and what an account that stopped being active is told."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chassis.auth.principal import AccountStatus, Principal, TokenType, refuse_inactive_account
from chassis.errors import PermissionDenied


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (AccountStatus.SUSPENDED, "ACCOUNT_SUSPENDED", "this account is suspended"),
        (AccountStatus.DELETED, "ACCOUNT_DELETED", "this account was deleted"),
    ],
)
def test_an_inactive_account_is_refused_saying_why(status, reason, message):
    with pytest.raises(PermissionDenied) as refused:
        refuse_inactive_account(status)
    assert (refused.value.reason, str(refused.value)) == (reason, message)


def test_an_active_account_may_act():
    refuse_inactive_account(AccountStatus.ACTIVE)


def principal(token_type: TokenType, *roles: str, subject: str = "u1") -> Principal:
    return Principal(subject, token_type, frozenset(roles), "jti", datetime.now(UTC))


@pytest.mark.parametrize(
    ("roles", "staff", "admin"),
    [
        ((), False, False),
        (("client",), False, False),
        (("staff",), True, False),
        (("admin",), True, True),
        (("client", "practitioner"), False, False),
    ],
)
def test_staff_and_admins_are_users_with_those_roles(roles, staff, admin):
    user = principal(TokenType.ACCESS, *roles)
    assert (user.is_staff, user.is_admin, user.is_user, user.is_service) == (
        staff,
        admin,
        True,
        False,
    )
    assert user.user_id == "u1"


def test_a_service_is_never_staff_and_has_no_user_id():
    service = principal(TokenType.SERVICE, "admin", subject="service:catalog")
    assert (service.is_service, service.is_user, service.is_staff, service.is_admin) == (
        True,
        False,
        False,
        False,
    )
    assert service.service_name == "catalog"
    with pytest.raises(ValueError, match="a service principal has no user id"):
        _ = service.user_id
