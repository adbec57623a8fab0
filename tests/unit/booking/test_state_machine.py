"""A booking's life, pure: every legal move, every illegal one refused as a conflict naming
the state, and the one event each move causes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.lifecycle import WrongState
from services.booking.domain.bookings import (
    Actor,
    BookedTime,
    Booking,
    BookingStatus,
    check_notes,
    check_seats,
)
from services.booking.domain.events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingCreated,
    BookingExpired,
    BookingNoShow,
    BookingRescheduled,
)
from tests.unit.booking.factories import HOLD, NOW, booking, terms, workshop

GRACE = timedelta(hours=2)


def confirmed(**kwargs: object) -> Booking:
    made, _ = booking(**kwargs)  # type: ignore[arg-type]
    made.confirm(NOW, "pay_1", made.price.amount_minor)
    return made


def test_a_paid_booking_holds_its_time_for_the_hold_and_says_so():
    made, events = booking()
    assert made.status is BookingStatus.PENDING_PAYMENT
    assert made.hold_expires_at == NOW + HOLD
    assert [type(e) for e in events] == [BookingCreated]
    assert made.holds_time


def test_a_free_booking_is_created_and_confirmed_at_once():
    made, events = booking(price=0)
    assert made.status is BookingStatus.CONFIRMED
    assert made.hold_expires_at is None
    assert [type(e) for e in events] == [BookingCreated, BookingConfirmed]
    assert made.amount_paid.amount_minor == 0


def test_payment_confirms_and_records_what_was_paid():
    made, _ = booking()
    event = made.confirm(NOW, "pay_1", 4000)
    assert isinstance(event, BookingConfirmed)
    assert event.payment_id == "pay_1"
    assert made.status is BookingStatus.CONFIRMED
    assert made.amount_paid.amount_minor == 4000
    assert made.armed_at == NOW


def test_the_events_carry_a_snapshot_not_the_live_booking():
    made, events = booking()
    created = events[0]
    assert isinstance(created, BookingCreated)
    made.confirm(NOW, "pay_1", 4000)
    assert created.booking.status is BookingStatus.PENDING_PAYMENT


def test_an_unpaid_hold_expires_and_a_late_payment_may_still_confirm_it():
    made, _ = booking()
    assert isinstance(made.expire(NOW + HOLD), BookingExpired)
    assert made.status is BookingStatus.EXPIRED
    assert not made.holds_time
    assert isinstance(made.confirm(NOW + HOLD, "pay_late", 4000), BookingConfirmed)
    assert made.status is BookingStatus.CONFIRMED


@pytest.mark.parametrize(
    ("status", "move"),
    [
        (BookingStatus.CONFIRMED, lambda b: b.expire(NOW)),
        (BookingStatus.CONFIRMED, lambda b: b.confirm(NOW, "again", 1)),
        (BookingStatus.PENDING_PAYMENT, lambda b: b.complete(Actor.PRACTITIONER, NOW, GRACE)),
        (BookingStatus.PENDING_PAYMENT, lambda b: b.mark_no_show(NOW, Actor.PRACTITIONER)),
        (BookingStatus.CANCELLED, lambda b: b.cancel(Actor.CLIENT, NOW)),
        (BookingStatus.CANCELLED, lambda b: b.confirm(NOW, "p", 1)),
        (BookingStatus.EXPIRED, lambda b: b.cancel(Actor.CLIENT, NOW)),
        (BookingStatus.EXPIRED, lambda b: b.expire(NOW)),
        (BookingStatus.COMPLETED, lambda b: b.cancel(Actor.PRACTITIONER, NOW)),
        (BookingStatus.COMPLETED, lambda b: b.mark_no_show(NOW, Actor.PRACTITIONER)),
        (BookingStatus.NO_SHOW, lambda b: b.complete(Actor.PRACTITIONER, NOW, GRACE)),
        (BookingStatus.NO_SHOW, lambda b: b.reschedule([], Actor.PRACTITIONER, NOW)),
    ],
)
def test_illegal_moves_are_refused_naming_the_current_state(status, move):
    made, _ = booking()
    made.status = status
    with pytest.raises(WrongState) as refused:
        move(made)
    assert refused.value.current == status.value
    assert refused.value.metadata["current_state"] == status.value
    assert made.status is status


def test_the_client_is_refunded_by_the_policy_at_the_moment_they_cancel():
    for starts_in, percent in [
        (timedelta(days=3), 100),
        (timedelta(hours=30), 50),
        (timedelta(hours=2), 0),
    ]:
        made = confirmed(starts_in=starts_in)
        event = made.cancel(Actor.CLIENT, NOW, "changed my mind")
        assert isinstance(event, BookingCancelled)
        assert (event.refund_percent, event.by, event.reason) == (
            percent,
            Actor.CLIENT,
            "changed my mind",
        )
        assert made.status is BookingStatus.CANCELLED


@pytest.mark.parametrize("actor", [Actor.PRACTITIONER, Actor.STAFF, Actor.SYSTEM])
def test_anyone_but_the_client_cancelling_refunds_everything(actor):
    made = confirmed(starts_in=timedelta(hours=2))
    assert made.cancel(actor, NOW).refund_percent == 100


def test_cancelling_an_unpaid_booking_refunds_nothing_because_nothing_was_paid():
    made, _ = booking(starts_in=timedelta(days=3))
    assert made.cancel(Actor.PRACTITIONER, NOW).refund_percent == 0


def test_nothing_is_cancelled_once_it_has_started():
    made = confirmed(starts_in=timedelta(hours=1))
    with pytest.raises(FailedPrecondition) as refused:
        made.cancel(Actor.PRACTITIONER, NOW + timedelta(hours=1))
    assert refused.value.reason == "ALREADY_STARTED"


def test_completion_and_no_show_wait_for_the_start_and_the_job_for_the_end_and_grace():
    made = confirmed(starts_in=timedelta(hours=1))
    with pytest.raises(FailedPrecondition, match="not started"):
        made.complete(Actor.PRACTITIONER, NOW, GRACE)
    with pytest.raises(FailedPrecondition, match="not started"):
        made.mark_no_show(NOW, Actor.PRACTITIONER)
    assert made.ends_at is not None
    with pytest.raises(FailedPrecondition, match="not ended"):
        made.complete(Actor.SYSTEM, made.ends_at + GRACE - timedelta(seconds=1), GRACE)
    event = made.complete(Actor.SYSTEM, made.ends_at + GRACE, GRACE)
    assert isinstance(event, BookingCompleted)
    assert event.amount_paid.amount_minor == 4000
    assert event.by is Actor.SYSTEM


def test_the_practitioner_marks_a_no_show_after_the_start():
    made = confirmed(starts_in=timedelta(hours=1))
    assert isinstance(made.mark_no_show(NOW + timedelta(hours=1), Actor.STAFF), BookingNoShow)
    assert made.status is BookingStatus.NO_SHOW


def test_a_client_moves_a_session_until_the_policy_stops_refunding():
    made = confirmed(starts_in=timedelta(hours=25))
    later = made.times[0].start + timedelta(days=1)
    moved = [BookedTime(later, later + timedelta(hours=1))]
    event = made.reschedule(moved, Actor.CLIENT, NOW)
    assert isinstance(event, BookingRescheduled)
    assert event.previous_times[0].start == NOW + timedelta(hours=25)
    assert made.times == moved
    assert made.armed_at == NOW

    late = confirmed(starts_in=timedelta(hours=23))
    with pytest.raises(FailedPrecondition) as refused:
        late.reschedule(moved, Actor.CLIENT, NOW)
    assert refused.value.reason == "RESCHEDULE_DEADLINE_PASSED"
    assert isinstance(late.reschedule(moved, Actor.PRACTITIONER, NOW), BookingRescheduled)


def test_only_sessions_are_rescheduled():
    made = confirmed(of=workshop())
    with pytest.raises(FailedPrecondition) as refused:
        made.reschedule(made.times, Actor.PRACTITIONER, NOW)
    assert refused.value.reason == "NOT_RESCHEDULABLE"


def test_seats_notes_and_purchases_have_their_bounds():
    assert check_seats(0, terms()) == 1
    with pytest.raises(InvalidArgument) as refused:
        check_seats(2, terms())
    assert refused.value.violations[0].field == "seats"
    assert check_seats(5, workshop()) == 5
    with pytest.raises(InvalidArgument):
        check_seats(6, workshop())
    with pytest.raises(InvalidArgument) as long_notes:
        check_notes("x" * 2001)
    assert long_notes.value.violations[0].field == "notes"
