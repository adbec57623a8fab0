"""What a client or practitioner is told when a booking or a waitlist entry refuses a move:
the message, reason and metadata (or field and code) word for word, at each boundary; and
what each accepted move records."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.lifecycle import WrongState
from chassis.money import Money
from services.booking.domain.bookings import (
    Actor,
    BookedTime,
    Booking,
    BookingStatus,
    check_notes,
    check_reason,
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
    WaitlistOffered,
)
from services.booking.domain.terms import RefundRule, ServiceKind
from services.booking.domain.waitlist import WaitlistEntry, WaitlistStatus
from tests.unit.booking.factories import HOLD, NOW, booking, terms, workshop
from tests.unit.booking.test_state_machine import GRACE, confirmed

LATER = NOW + timedelta(minutes=5)
TICK = timedelta(microseconds=1)


def purchase(status: BookingStatus = BookingStatus.CONFIRMED) -> Booking:
    """A package bought: no time of its own."""
    package = terms(kind=ServiceKind.PACKAGE)
    made, _ = Booking.place(
        booking_id="b_package",
        client_id="c1",
        terms=package,
        times=[],
        seats=1,
        price=Money(12000, "EUR"),
        notes="",
        now=NOW,
        hold=HOLD,
    )
    made.status = status
    return made


def told(error: pytest.ExceptionInfo[FailedPrecondition]) -> tuple[str, str, dict[str, str]]:
    """What the caller reads: message, reason and metadata."""
    return str(error.value), error.value.reason, error.value.metadata


def wrong_state(current: str, expected: str) -> tuple[str, str, dict[str, str]]:
    return (
        f"the booking is {current}, not {expected}",
        "WRONG_STATE",
        {"current_state": current, "expected_state": expected},
    )


def violation(error: pytest.ExceptionInfo[InvalidArgument]) -> tuple[str, str, str, str]:
    """What the caller reads of a one-field refusal: message, field, description, code."""
    [found] = error.value.violations
    assert error.value.reason == "INVALID_ARGUMENT"
    return str(error.value), found.field, found.message, found.code


# Placing ------------------------------------------------------------------------------------


def test_a_paid_booking_records_its_terms_and_waits_for_payment():
    sold = terms(title="Evening yoga")
    start = NOW + timedelta(days=2)
    times = [BookedTime(start, start + timedelta(hours=1))]
    made, events = Booking.place(
        booking_id="b1",
        client_id="c1",
        terms=sold,
        times=times,
        seats=1,
        price=Money(1, "EUR"),
        notes="first time",
        now=NOW,
        hold=HOLD,
        entitlement_id=None,
        value_minor=700,
    )
    assert made == Booking(
        id="b1",
        client_id="c1",
        service_id=sold.service_id,
        kind=ServiceKind.SESSION,
        title="Evening yoga",
        practitioner_id=sold.practitioner_id,
        practitioner_user_id=sold.practitioner_user_id,
        time_zone="Europe/Lisbon",
        location_kind=sold.location_kind,
        status=BookingStatus.PENDING_PAYMENT,
        seats=1,
        price=Money(1, "EUR"),
        times=times,
        created_at=NOW,
        updated_at=NOW,
        notes="first time",
        hold_expires_at=NOW + HOLD,
    )
    assert made.amount_paid_minor is None and made.confirmed_at is None
    assert made.armed_at is None
    assert made.policy == sold.cancellation_policy
    assert events == [BookingCreated(made)]
    assert made.starts_at == start and made.ends_at == start + timedelta(hours=1)
    assert made.holds_time and not made.is_purchase and not made.is_redemption


def test_an_event_keeps_the_times_the_booking_had_when_it_was_raised():
    made, [created] = booking()
    assert isinstance(created, BookingCreated)
    kept = list(made.times)
    made.times.append(BookedTime(NOW, NOW))  # a later change in place, whoever makes it
    assert created.booking.times == kept


def test_a_redemption_is_confirmed_at_once_for_the_share_of_the_package_it_uses():
    made, events = Booking.place(
        booking_id="b2",
        client_id="c1",
        terms=terms(),
        times=[BookedTime(NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1))],
        seats=1,
        price=Money(0, "EUR"),
        notes="",
        now=NOW,
        hold=HOLD,
        entitlement_id="e1",
        value_minor=3400,
    )
    assert made.status is BookingStatus.CONFIRMED
    assert (made.confirmed_at, made.armed_at, made.hold_expires_at) == (NOW, NOW, None)
    assert made.amount_paid_minor == 3400 and made.amount_paid == Money(3400, "EUR")
    assert made.entitlement_id == "e1" and made.is_redemption
    assert events == [BookingCreated(made), BookingConfirmed(made, "")]


def test_a_course_booking_starts_with_its_first_meeting_and_ends_with_its_last():
    first = NOW + timedelta(days=3)
    times = [
        BookedTime(first, first + timedelta(hours=2)),
        BookedTime(first + timedelta(days=7), first + timedelta(days=7, hours=3)),
    ]
    made, _ = Booking.place(
        booking_id="b3",
        client_id="c1",
        terms=replace(workshop(), kind=ServiceKind.COURSE),
        times=times,
        seats=2,
        price=Money(9000, "EUR"),
        notes="",
        now=NOW,
        hold=HOLD,
    )
    assert (made.starts_at, made.ends_at) == (first, first + timedelta(days=7, hours=3))
    assert made.seats == 2 and made.kind is ServiceKind.COURSE


def test_a_purchase_has_no_time_and_its_amount_paid_reads_zero_until_paid():
    bought = purchase(BookingStatus.PENDING_PAYMENT)
    assert bought.is_purchase
    assert bought.starts_at is None and bought.ends_at is None
    assert bought.amount_paid == Money(0, "EUR")


# Notes, reasons and seats -------------------------------------------------------------------


def test_notes_up_to_2000_characters_are_kept_and_longer_ones_refused():
    assert check_notes("n" * 2000) == "n" * 2000
    with pytest.raises(InvalidArgument) as refused:
        check_notes("n" * 2001)
    assert violation(refused) == (
        "notes: must be at most 2000 characters",
        "notes",
        "must be at most 2000 characters",
        "too_long",
    )


def test_a_cancellation_reason_up_to_500_characters_is_kept_trimmed_and_longer_refused():
    assert check_reason("  changed plans  ") == "changed plans"
    assert check_reason("r" * 500) == "r" * 500
    with pytest.raises(InvalidArgument) as refused:
        check_reason("r" * 501)
    assert violation(refused) == (
        "reason: must be at most 500 characters",
        "reason",
        "must be at most 500 characters",
        "too_long",
    )


@pytest.mark.parametrize(
    ("seats", "sold", "limit"),
    [
        (2, terms(), 1),
        (2, terms(max_participants=3), 1),  # one-to-one, whatever the terms say
        (-1, terms(), 1),
        (6, workshop(), 5),
        (1001, replace(workshop(), max_participants=5000), 1000),
    ],
)
def test_seats_beyond_the_service_or_the_platform_limit_are_refused(seats, sold, limit):
    with pytest.raises(InvalidArgument) as refused:
        check_seats(seats, sold)
    assert violation(refused) == (
        f"seats: must be between 1 and {limit}",
        "seats",
        f"must be between 1 and {limit}",
        "out_of_range",
    )


def test_seats_up_to_the_limit_are_taken_and_none_reads_as_one():
    assert check_seats(0, workshop()) == 1
    assert check_seats(1, terms(max_participants=3)) == 1
    assert check_seats(5, workshop()) == 5
    assert check_seats(1000, replace(workshop(), max_participants=5000)) == 1000


# Payment and expiry -------------------------------------------------------------------------


def test_payment_records_who_paid_what_and_ends_the_hold():
    made, _ = booking()
    event = made.confirm(LATER, "pay_9", 3900)
    assert event == BookingConfirmed(made, "pay_9")
    assert made.status is BookingStatus.CONFIRMED
    assert (made.payment_id, made.amount_paid_minor, made.hold_expires_at) == ("pay_9", 3900, None)
    assert made.confirmed_at == made.armed_at == made.updated_at == LATER
    assert made.created_at == NOW


def test_a_confirmed_booking_is_not_paid_twice_nor_expired():
    made = confirmed()
    with pytest.raises(WrongState) as twice:
        made.confirm(LATER, "pay_2", 4000)
    assert told(twice) == wrong_state("confirmed", "pending_payment")
    with pytest.raises(WrongState) as expired:
        made.expire(LATER)
    assert told(expired) == wrong_state("confirmed", "pending_payment")
    assert made.payment_id == "pay_1" and made.updated_at == NOW


def test_an_expired_hold_frees_the_time_and_says_so():
    made, _ = booking()
    event = made.expire(LATER)
    assert event == BookingExpired(made)
    assert made.status is BookingStatus.EXPIRED
    assert made.hold_expires_at is None and made.updated_at == LATER
    with pytest.raises(WrongState) as again:
        made.expire(LATER)
    assert told(again) == wrong_state("expired", "pending_payment")


# Cancelling ---------------------------------------------------------------------------------


def test_a_cancellation_records_who_why_and_the_refund():
    made = confirmed(starts_in=timedelta(days=3))
    event = made.cancel(Actor.CLIENT, LATER, "  feeling unwell  ")
    assert event == BookingCancelled(made, Actor.CLIENT, 100, "feeling unwell")
    assert made.status is BookingStatus.CANCELLED
    assert (made.refund_percent, made.cancelled_by, made.cancel_reason) == (
        100,
        Actor.CLIENT,
        "feeling unwell",
    )
    assert made.cancelled_at == made.updated_at == LATER
    assert not made.holds_time


def test_cancelling_a_held_booking_ends_its_hold_and_no_reason_is_recorded_as_none():
    made, _ = booking()
    event = made.cancel(Actor.CLIENT, LATER)
    assert made.hold_expires_at is None and made.refund_percent == 0
    assert event.reason == made.cancel_reason == ""


def test_a_too_long_reason_refuses_the_cancellation():
    made = confirmed()
    with pytest.raises(InvalidArgument) as refused:
        made.cancel(Actor.CLIENT, LATER, "r" * 501)
    assert violation(refused)[1] == "reason"


@pytest.mark.parametrize(
    "status",
    [
        BookingStatus.EXPIRED,
        BookingStatus.CANCELLED,
        BookingStatus.COMPLETED,
        BookingStatus.NO_SHOW,
    ],
)
def test_only_a_held_or_confirmed_booking_is_cancelled_or_moved(status):
    made = confirmed()
    made.status = status
    with pytest.raises(WrongState) as cancelled:
        made.cancel(Actor.STAFF, NOW)
    assert told(cancelled) == wrong_state(status.value, "confirmed or pending_payment")
    with pytest.raises(WrongState) as moved:
        made.reschedule(made.times, Actor.STAFF, NOW)
    assert told(moved) == wrong_state(status.value, "confirmed or pending_payment")


def test_a_booking_is_cancelled_until_the_instant_it_starts():
    made = confirmed(starts_in=timedelta(hours=1))
    assert made.starts_at is not None
    with pytest.raises(FailedPrecondition) as refused:
        made.cancel(Actor.PRACTITIONER, made.starts_at)
    assert told(refused) == (
        "the booking has started; mark it completed or a no-show instead",
        "ALREADY_STARTED",
        {},
    )
    assert made.status is BookingStatus.CONFIRMED
    assert made.cancel(Actor.PRACTITIONER, made.starts_at - TICK).refund_percent == 100


def test_a_client_cancelling_a_purchase_is_refunded_in_full():
    bought = purchase()
    assert bought.cancellation_refund(Actor.CLIENT, NOW) == 100
    event = bought.cancel(Actor.CLIENT, NOW + timedelta(days=400))
    assert event.refund_percent == 100


def test_the_client_is_refunded_by_the_policy_others_in_full_and_nothing_unpaid():
    made = confirmed(starts_in=timedelta(hours=30))
    assert made.cancellation_refund(Actor.CLIENT, NOW) == 50
    for actor in (Actor.PRACTITIONER, Actor.STAFF, Actor.SYSTEM):
        assert made.cancellation_refund(actor, NOW) == 100
    unpaid, _ = booking(starts_in=timedelta(days=3))
    for actor in Actor:
        assert unpaid.cancellation_refund(actor, NOW) == 0


# Moving -------------------------------------------------------------------------------------


def moved_to(made: Booking, days: int = 7) -> list[BookedTime]:
    assert made.starts_at is not None
    later = made.starts_at + timedelta(days=days)
    return [BookedTime(later, later + timedelta(hours=1))]


def test_a_move_records_the_new_time_the_old_one_and_who_moved_it():
    made = confirmed(starts_in=timedelta(days=3))
    before = tuple(made.times)
    new_times = moved_to(made)
    event = made.reschedule(new_times, Actor.CLIENT, LATER)
    assert event == BookingRescheduled(made, before, Actor.CLIENT)
    assert made.times == new_times and made.updated_at == LATER
    assert made.armed_at == LATER  # reminders count from the move


def test_moving_a_booking_still_held_for_payment_arms_no_reminder():
    made, _ = booking(starts_in=timedelta(days=3))
    made.reschedule(moved_to(made), Actor.CLIENT, LATER)
    assert made.armed_at is None and made.status is BookingStatus.PENDING_PAYMENT


def test_a_client_moves_until_the_deadline_itself_and_not_a_moment_later():
    made = confirmed(starts_in=timedelta(days=3))
    assert made.starts_at is not None
    deadline = made.starts_at - timedelta(hours=24)  # the last refunding rule: 24 h, 50%
    with pytest.raises(FailedPrecondition) as refused:
        made.reschedule(moved_to(made), Actor.CLIENT, deadline + TICK)
    assert told(refused) == (
        "too late to move this booking under its cancellation policy",
        "RESCHEDULE_DEADLINE_PASSED",
        {"deadline": deadline.isoformat()},
    )
    assert made.updated_at == NOW
    made.reschedule(moved_to(made), Actor.CLIENT, deadline)


def test_a_client_cannot_move_a_booking_whose_policy_never_refunds():
    made = confirmed(of=terms(cancellation_policy=(RefundRule(0, 0),)))
    with pytest.raises(FailedPrecondition) as refused:
        made.reschedule(moved_to(made), Actor.CLIENT, NOW)
    assert told(refused) == (
        "too late to move this booking under its cancellation policy",
        "RESCHEDULE_DEADLINE_PASSED",
        {"deadline": ""},
    )


@pytest.mark.parametrize("actor", [Actor.PRACTITIONER, Actor.STAFF])
def test_the_practitioner_and_staff_move_it_past_the_deadline_until_it_starts(actor):
    made = confirmed(
        of=terms(cancellation_policy=(RefundRule(0, 0),)), starts_in=timedelta(hours=1)
    )
    assert made.starts_at is not None
    start = made.starts_at
    with pytest.raises(FailedPrecondition) as refused:
        made.reschedule(moved_to(made), actor, start)
    assert told(refused) == ("the booking has started", "ALREADY_STARTED", {})
    event = made.reschedule(moved_to(made), actor, start - TICK)
    assert event.by is actor


def test_a_client_cannot_move_a_booking_that_has_started():
    made = confirmed(starts_in=timedelta(days=3))
    assert made.starts_at is not None
    with pytest.raises(FailedPrecondition) as refused:
        made.reschedule(moved_to(made), Actor.CLIENT, made.starts_at)
    assert told(refused) == ("the booking has started", "ALREADY_STARTED", {})


@pytest.mark.parametrize("kind", [ServiceKind.WORKSHOP, ServiceKind.COURSE])
def test_a_seat_at_a_dated_session_is_not_moved(kind):
    made = confirmed(of=replace(workshop(), kind=kind))
    with pytest.raises(FailedPrecondition) as refused:
        made.reschedule(moved_to(made), Actor.STAFF, NOW)
    assert told(refused) == (
        "only one-to-one sessions can be moved; cancel and book another date",
        "NOT_RESCHEDULABLE",
        {},
    )


# Completion and no-shows --------------------------------------------------------------------


def test_the_practitioner_completes_it_from_its_start_the_job_after_its_end_and_grace():
    made = confirmed(starts_in=timedelta(hours=1))
    assert made.starts_at is not None and made.ends_at is not None
    with pytest.raises(FailedPrecondition) as early:
        made.complete(Actor.PRACTITIONER, made.starts_at - TICK, GRACE)
    assert told(early) == ("the booking has not started", "NOT_STARTED", {})
    with pytest.raises(FailedPrecondition) as job_early:
        made.complete(Actor.SYSTEM, made.ends_at + GRACE - TICK, GRACE)
    assert told(job_early) == ("the booking has not ended", "NOT_ENDED", {})
    assert made.status is BookingStatus.CONFIRMED
    event = made.complete(Actor.PRACTITIONER, made.starts_at, GRACE)
    assert event == BookingCompleted(made, Money(4000, "EUR"), made.starts_at, Actor.PRACTITIONER)
    assert made.status is BookingStatus.COMPLETED
    assert made.completed_at == made.updated_at == made.starts_at


def test_a_free_booking_completes_having_paid_nothing():
    made, _ = booking(price=0)
    assert made.starts_at is not None
    event = made.complete(Actor.STAFF, made.starts_at, GRACE)
    assert event.amount_paid == Money(0, "EUR")


def test_only_a_confirmed_booking_completes_or_is_marked_a_no_show():
    made, _ = booking()
    with pytest.raises(WrongState) as completed:
        made.complete(Actor.PRACTITIONER, NOW, GRACE)
    assert told(completed) == wrong_state("pending_payment", "confirmed")
    with pytest.raises(WrongState) as no_show:
        made.mark_no_show(NOW, Actor.PRACTITIONER)
    assert told(no_show) == wrong_state("pending_payment", "confirmed")


def test_a_purchase_has_no_session_to_complete_or_miss():
    bought = purchase()
    purchase_refusal: tuple[str, str, dict[str, str]] = (
        "a package or bundle purchase has no session to complete",
        "PURCHASE",
        {},
    )
    with pytest.raises(FailedPrecondition) as completed:
        bought.complete(Actor.STAFF, NOW, GRACE)
    assert told(completed) == purchase_refusal
    with pytest.raises(FailedPrecondition) as no_show:
        bought.mark_no_show(NOW, Actor.STAFF)
    assert told(no_show) == purchase_refusal


def test_a_no_show_is_marked_from_the_start_on():
    made = confirmed(starts_in=timedelta(hours=1))
    assert made.starts_at is not None
    with pytest.raises(FailedPrecondition) as early:
        made.mark_no_show(made.starts_at - TICK, Actor.PRACTITIONER)
    assert told(early) == ("the booking has not started", "NOT_STARTED", {})
    event = made.mark_no_show(made.starts_at, Actor.STAFF)
    assert event == BookingNoShow(made, Actor.STAFF, Money(4000, "EUR"), made.starts_at)
    assert made.status is BookingStatus.NO_SHOW
    assert made.completed_at == made.updated_at == made.starts_at


# Waitlist entries ---------------------------------------------------------------------------


def entry(status: WaitlistStatus = WaitlistStatus.WAITING) -> WaitlistEntry:
    start = NOW + timedelta(days=3)
    return WaitlistEntry("w1", "s1", start, "c1", status, NOW, NOW)


def waitlist_state(current: str, expected: str) -> tuple[str, str, dict[str, str]]:
    return (
        f"the waitlist entry is {current}, not {expected}",
        "WRONG_STATE",
        {"current_state": current, "expected_state": expected},
    )


def test_an_offer_holds_the_seat_for_the_first_in_line_and_says_until_when():
    waiting = entry()
    time = BookedTime(waiting.starts_at, waiting.starts_at + timedelta(hours=2))
    sold = workshop(title="Breathwork weekend", time_zone="America/Mexico_City")
    event = waiting.offer(LATER, timedelta(hours=2), time, sold)
    assert event == WaitlistOffered(
        "w1",
        "s1",
        "c1",
        time,
        LATER + timedelta(hours=2),
        "Breathwork weekend",
        "America/Mexico_City",
    )
    assert waiting.status is WaitlistStatus.OFFERED
    assert waiting.offer_expires_at == LATER + timedelta(hours=2)
    assert waiting.updated_at == LATER
    assert waiting.is_offer_live(LATER + timedelta(hours=2) - TICK)
    assert not waiting.is_offer_live(LATER + timedelta(hours=2))


@pytest.mark.parametrize("status", [WaitlistStatus.OFFERED, WaitlistStatus.LAPSED])
def test_only_a_waiting_entry_is_offered_a_seat(status):
    taken = entry(status)
    with pytest.raises(WrongState) as refused:
        taken.offer(NOW, timedelta(hours=2), BookedTime(NOW, NOW), workshop())
    assert told(refused) == waitlist_state(status.value, "waiting")
    assert taken.status is status


def test_an_offer_is_accepted_while_live_and_lapses_only_once_made():
    waiting = entry()
    with pytest.raises(WrongState) as not_offered:
        waiting.accept(NOW)
    assert told(not_offered) == waitlist_state("waiting", "offered")
    with pytest.raises(WrongState) as not_lapsing:
        waiting.lapse(NOW)
    assert told(not_lapsing) == waitlist_state("waiting", "offered")
    waiting.offer(NOW, timedelta(hours=1), BookedTime(NOW, NOW), workshop())
    late = replace(waiting)
    with pytest.raises(WrongState) as too_late:
        late.accept(NOW + timedelta(hours=1))
    assert told(too_late) == waitlist_state("offered", "offered")
    waiting.accept(LATER)
    assert (waiting.status, waiting.updated_at) == (WaitlistStatus.ACCEPTED, LATER)
    late.lapse(NOW + timedelta(hours=1))
    assert (late.status, late.updated_at) == (WaitlistStatus.LAPSED, NOW + timedelta(hours=1))


def test_an_offer_without_an_expiry_is_not_live():
    odd = entry(WaitlistStatus.OFFERED)
    assert not odd.is_offer_live(NOW)
