"""A service's terms as booking holds them (which announcement wins, archiving, the slot
rules they give, which dated sessions a seat covers) and the cancellation policy's
boundaries: what a caller is told word for word, and each edge."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chassis.errors import FailedPrecondition, InvalidArgument
from services.booking.domain.policy import refund_percent, reschedule_deadline
from services.booking.domain.slots import GroupSession, SlotRules
from services.booking.domain.terms import (
    BundleItem,
    DatedSession,
    PackageTerms,
    RefundRule,
    ServiceKind,
)
from tests.unit.booking.factories import NOW, terms, workshop
from tests.unit.booking.test_refusals import TICK, violation

START = NOW + timedelta(days=3)


# Which terms are held -----------------------------------------------------------------------


def test_newer_or_equally_new_terms_replace_those_held_and_older_ones_do_not():
    held = terms()
    assert replace(held, title="Renamed").supersedes(None)
    assert replace(held, title="Renamed").supersedes(held)  # the same instant: the latest word
    assert replace(held, updated_at=NOW + TICK).supersedes(held)
    assert not replace(held, updated_at=NOW - TICK).supersedes(held)


def test_archived_terms_are_off_sale_and_dated_by_the_later_of_the_two_instants():
    held = terms()
    later = held.archived(NOW + timedelta(hours=1))
    assert (later.on_sale, later.updated_at) == (False, NOW + timedelta(hours=1))
    assert later.title == held.title and later.service_id == held.service_id
    earlier = held.archived(NOW - timedelta(hours=1))
    assert (earlier.on_sale, earlier.updated_at) == (False, NOW)


def test_a_service_off_sale_is_refused_by_name():
    terms().check_on_sale()
    with pytest.raises(FailedPrecondition) as refused:
        terms(on_sale=False).check_on_sale()
    assert (str(refused.value), refused.value.reason, refused.value.metadata) == (
        "the service is not on sale",
        "NOT_ON_SALE",
        {},
    )


@pytest.mark.parametrize(
    ("kind", "group", "bought"),
    [
        (ServiceKind.SESSION, False, False),
        (ServiceKind.WORKSHOP, True, False),
        (ServiceKind.COURSE, True, False),
        (ServiceKind.PACKAGE, False, True),
        (ServiceKind.BUNDLE, False, True),
    ],
)
def test_each_kind_is_sold_as_a_session_a_seat_or_a_purchase(kind, group, bought):
    sold = terms(kind=kind)
    assert (sold.is_group, sold.is_purchase) == (group, bought)


def test_a_purchase_is_made_of_its_bundle_items_and_its_package_session():
    bundle = terms(
        kind=ServiceKind.BUNDLE, bundle_items=(BundleItem("yoga", 2), BundleItem("massage", 1))
    )
    assert bundle.parts == ["yoga", "massage"]
    package = terms(kind=ServiceKind.PACKAGE, package=PackageTerms("deep_tissue", 5, 90))
    assert package.parts == ["deep_tissue"]
    assert terms().parts == []


def test_the_slot_rules_are_the_terms_in_minutes_and_days():
    sold = terms(
        duration_minutes=50,
        buffer_before_minutes=5,
        buffer_after_minutes=10,
        min_notice_minutes=120,
        booking_window_days=30,
    )
    assert sold.min_notice == timedelta(hours=2)
    assert sold.booking_window == timedelta(days=30)
    assert sold.slot_rules(step_minutes=15) == SlotRules(
        duration=timedelta(minutes=50),
        step=timedelta(minutes=15),
        buffer_before=timedelta(minutes=5),
        buffer_after=timedelta(minutes=10),
        min_notice=timedelta(hours=2),
        booking_window=timedelta(days=30),
    )


# Which dated sessions a seat covers --------------------------------------------------------


def course():
    first = NOW + timedelta(days=10)
    # Announced out of order: a seat covers them by date.
    return replace(
        workshop(),
        kind=ServiceKind.COURSE,
        sessions=(DatedSession(first + timedelta(days=7), 90), DatedSession(first, 60)),
    )


def test_a_course_seat_covers_every_meeting_from_the_first():
    sold = course()
    first, second = sorted(sold.sessions, key=lambda s: s.start)
    assert sold.meetings_for(None) == [first, second]
    assert sold.meetings_for(first.start) == [first, second]
    assert first.end == first.start + timedelta(minutes=60)


def test_a_course_is_booked_from_its_first_meeting_only():
    sold = course()
    second = max(s.start for s in sold.sessions)
    with pytest.raises(InvalidArgument) as refused:
        sold.meetings_for(second)
    assert violation(refused) == (
        "start_time: a course is booked as a whole: leave it empty or give its first meeting",
        "start_time",
        "a course is booked as a whole: leave it empty or give its first meeting",
        "not_a_session",
    )


def test_a_course_without_meetings_covers_none():
    assert replace(course(), sessions=()).meetings_for(NOW) == []


def test_a_workshop_seat_is_for_the_dated_session_named():
    sold = workshop()
    first, second = sold.sessions
    assert sold.meetings_for(second.start) == [second]
    with pytest.raises(InvalidArgument) as missing:
        sold.meetings_for(None)
    assert violation(missing) == (
        "start_time: is required: which dated session of the workshop",
        "start_time",
        "is required: which dated session of the workshop",
        "required",
    )
    with pytest.raises(InvalidArgument) as unknown:
        sold.meetings_for(first.start + timedelta(minutes=30))
    assert violation(unknown) == (
        "start_time: is not one of the workshop's dated sessions",
        "start_time",
        "is not one of the workshop's dated sessions",
        "not_a_session",
    )


def test_each_dated_session_shows_its_seats_taken():
    sold = workshop()
    first, second = sold.sessions
    assert sold.group_sessions({first.start: 3}) == [
        GroupSession(first.start, first.end, 5, 3),
        GroupSession(second.start, second.end, 5, 0),
    ]


# The cancellation policy --------------------------------------------------------------------


def test_a_rule_of_no_hours_refunds_up_to_the_start_and_nothing_after():
    policy = (RefundRule(0, 30),)
    assert refund_percent(policy, START, START) == 30
    assert refund_percent(policy, START, START + TICK) == 0


def test_the_rules_are_read_from_the_most_notice_whatever_their_order():
    policy = (RefundRule(0, 0), RefundRule(24, 50), RefundRule(48, 100))
    assert refund_percent(policy, START, START - timedelta(hours=48)) == 100
    assert refund_percent(policy, START, START - timedelta(hours=48) + TICK) == 50
    assert refund_percent(policy, START, START - timedelta(hours=24)) == 50
    assert refund_percent(policy, START, START - timedelta(hours=24) + TICK) == 0
    assert refund_percent((), START, START - timedelta(days=30)) == 0


def test_the_deadline_to_move_is_the_last_rule_that_refunds_anything():
    policy = (RefundRule(48, 100), RefundRule(12, 1), RefundRule(6, 0))
    assert reschedule_deadline(policy, START) == START - timedelta(hours=12)
    assert reschedule_deadline((RefundRule(6, 0), RefundRule(72, 20)), START) == START - timedelta(
        hours=72
    )
    assert reschedule_deadline((), START) is None
