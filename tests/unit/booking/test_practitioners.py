"""Who manages a practitioner's schedule in booking (they themselves or staff: no other user,
no service, nobody signed out), and what saving it tells catalog."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.auth.principal import Principal, Role, TokenType
from services.booking.domain.availability import Schedule
from services.booking.domain.events import ScheduleSaved
from services.booking.domain.practitioners import Practitioner
from tests.unit.booking.factories import NOW

PRACTITIONER = Practitioner("pr1", "u1", "Europe/Lisbon", NOW)


def caller(subject: str, *roles: Role, token_type: TokenType = TokenType.ACCESS) -> Principal:
    return Principal(
        subject=subject,
        token_type=token_type,
        roles=frozenset(r.value for r in roles),
        token_id="t1",
        expires_at=NOW + timedelta(hours=1),
    )


@pytest.mark.parametrize(
    ("principal", "owner", "manager"),
    [
        (caller("u1", Role.PRACTITIONER), True, True),
        (caller("u2", Role.PRACTITIONER), False, False),
        (caller("u2", Role.CLIENT), False, False),
        (caller("u2", Role.STAFF), False, True),
        (caller("u2", Role.ADMIN), False, True),
        (caller("u1", Role.STAFF, token_type=TokenType.SERVICE), False, False),
        (None, False, False),
    ],
)
def test_only_the_practitioner_or_staff_manage_the_schedule(principal, owner, manager):
    assert PRACTITIONER.is_owner(principal) is owner
    assert PRACTITIONER.may_be_managed_by(principal) is manager


def test_saving_a_schedule_tells_whose_it_is_and_its_zone():
    schedule = Schedule("America/New_York", ())
    assert PRACTITIONER.saved(schedule) == ScheduleSaved("pr1", "u1", "America/New_York")
