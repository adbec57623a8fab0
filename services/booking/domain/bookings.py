"""Bookings and their life: placed (held for payment or confirmed at once), confirmed,
moved, cancelled, expired, completed or marked a no-show.

    pending_payment -> confirmed -> completed | cancelled | no_show
    pending_payment -> expired | cancelled
    expired -> confirmed          (a late payment, while the time is still free)

A virtual booking's session-room attendance has its say: a client who was in the room is
not a no-show, and one who never came while the practitioner did is a no-show when the
booking settles itself after its end.

Each change is a method that refuses a move from the wrong state (WrongState, 409) and
returns the one event it causes; the repository writes it guarded by the state it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.lifecycle import WrongState
from chassis.money import Money
from services.booking.domain.attendance import UNHEARD, Attendance
from services.booking.domain.events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingCreated,
    BookingExpired,
    BookingNoShow,
    BookingRescheduled,
)
from services.booking.domain.policy import refund_percent, reschedule_deadline
from services.booking.domain.terms import LocationKind, RefundRule, ServiceKind, ServiceTerms

NOUN = "booking"
NOTES_LENGTH = 2000
REASON_LENGTH = 500
MAX_SEATS = 1000


class BookingStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    NO_SHOW = "no_show"


# The statuses in which a booking takes its time (and seats): held for payment, or confirmed.
HOLDING = frozenset({BookingStatus.PENDING_PAYMENT, BookingStatus.CONFIRMED})


class Actor(StrEnum):
    """Who changed a booking."""

    CLIENT = "client"
    PRACTITIONER = "practitioner"
    STAFF = "staff"
    SYSTEM = "system"


@dataclass(frozen=True)
class BookedTime:
    """One stretch of time a booking takes, UTC, half-open."""

    start: datetime
    end: datetime


def _refuse(current: BookingStatus, *expected: BookingStatus) -> WrongState:
    return WrongState(NOUN, current.value, [s.value for s in expected])


def check_notes(notes: str) -> str:
    if len(notes) > NOTES_LENGTH:
        raise InvalidArgument.field(
            "notes", f"must be at most {NOTES_LENGTH} characters", "too_long"
        )
    return notes


def check_reason(reason: str) -> str:
    if len(reason) > REASON_LENGTH:
        raise InvalidArgument.field(
            "reason", f"must be at most {REASON_LENGTH} characters", "too_long"
        )
    return reason.strip()


def check_seats(seats: int, terms: ServiceTerms) -> int:
    """Seats asked for (0 reads as 1); more than one only on a group kind."""
    seats = seats or 1
    limit = terms.max_participants if terms.is_group else 1
    if not 1 <= seats <= min(limit, MAX_SEATS):
        raise InvalidArgument.field(
            "seats", f"must be between 1 and {min(limit, MAX_SEATS)}", "out_of_range"
        )
    return seats


@dataclass
class Booking:
    """A client's booking of a service: its times (none for a purchase), price and state."""

    id: str
    client_id: str
    service_id: str
    kind: ServiceKind
    title: str
    practitioner_id: str
    practitioner_user_id: str
    time_zone: str
    location_kind: LocationKind
    status: BookingStatus
    seats: int
    price: Money
    times: list[BookedTime]
    created_at: datetime
    updated_at: datetime
    notes: str = ""
    entitlement_id: str | None = None
    hold_expires_at: datetime | None = None
    payment_id: str = ""
    amount_paid_minor: int | None = None
    refund_percent: int | None = None
    cancelled_by: Actor | None = None
    cancel_reason: str = ""
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    completed_at: datetime | None = None
    # When reminders were last armed: confirmation, or the latest reschedule. A reminder due
    # before then is not sent (a booking made ten hours ahead gets no day-before reminder).
    armed_at: datetime | None = None
    policy: tuple[RefundRule, ...] = field(default=(), compare=False)

    @property
    def starts_at(self) -> datetime | None:
        return self.times[0].start if self.times else None

    @property
    def ends_at(self) -> datetime | None:
        return self.times[-1].end if self.times else None

    @property
    def is_purchase(self) -> bool:
        return not self.times

    @property
    def is_redemption(self) -> bool:
        return self.entitlement_id is not None

    @property
    def holds_time(self) -> bool:
        return self.status in HOLDING

    @property
    def amount_paid(self) -> Money:
        return Money(self.amount_paid_minor or 0, self.price.currency)

    @classmethod
    def place(
        cls,
        *,
        booking_id: str,
        client_id: str,
        terms: ServiceTerms,
        times: Sequence[BookedTime],
        seats: int,
        price: Money,
        notes: str,
        now: datetime,
        hold: timedelta,
        entitlement_id: str | None = None,
        value_minor: int = 0,
    ) -> tuple[Booking, list[object]]:
        """A new booking: paid ones wait for payment, holding their time until the hold
        ends; free ones and redemptions are confirmed at once (value_minor: the share of a
        package a redemption uses, what its completion will say was paid)."""
        free = price.amount_minor == 0
        booking = cls(
            id=booking_id,
            client_id=client_id,
            service_id=terms.service_id,
            kind=terms.kind,
            title=terms.title,
            practitioner_id=terms.practitioner_id,
            practitioner_user_id=terms.practitioner_user_id,
            time_zone=terms.time_zone,
            location_kind=terms.location_kind,
            status=BookingStatus.CONFIRMED if free else BookingStatus.PENDING_PAYMENT,
            seats=seats,
            price=price,
            times=list(times),
            created_at=now,
            updated_at=now,
            notes=check_notes(notes),
            entitlement_id=entitlement_id,
            hold_expires_at=None if free else now + hold,
            amount_paid_minor=value_minor if free else None,
            confirmed_at=now if free else None,
            armed_at=now if free else None,
            policy=terms.cancellation_policy,
        )
        events: list[object] = [BookingCreated(booking.snapshot())]
        if free:
            events.append(BookingConfirmed(booking.snapshot(), ""))
        return booking, events

    def snapshot(self) -> Booking:
        """A copy as it is now, for an event."""
        return replace(self, times=list(self.times))

    def confirm(self, now: datetime, payment_id: str, amount_paid_minor: int) -> BookingConfirmed:
        """Paid: the time is the client's. From expired only for a late payment whose time
        the caller found still free."""
        if self.status not in (BookingStatus.PENDING_PAYMENT, BookingStatus.EXPIRED):
            raise _refuse(self.status, BookingStatus.PENDING_PAYMENT)
        self.status = BookingStatus.CONFIRMED
        self.payment_id = payment_id
        self.amount_paid_minor = amount_paid_minor
        self.hold_expires_at = None
        self.confirmed_at = self.armed_at = self.updated_at = now
        return BookingConfirmed(self.snapshot(), payment_id)

    def expire(self, now: datetime) -> BookingExpired:
        """The hold lapsed (or the payment failed): the time is free again."""
        if self.status is not BookingStatus.PENDING_PAYMENT:
            raise _refuse(self.status, BookingStatus.PENDING_PAYMENT)
        self.status = BookingStatus.EXPIRED
        self.hold_expires_at = None
        self.updated_at = now
        return BookingExpired(self.snapshot())

    def cancellation_refund(self, by: Actor, now: datetime) -> int:
        """The share of what was paid a cancellation by `by` at `now` refunds: the policy
        for the client, everything when the practitioner, staff or booking cancel."""
        if self.status is BookingStatus.PENDING_PAYMENT:
            return 0  # nothing was paid; a payment still on its way is refunded in full
        if by is not Actor.CLIENT or self.is_purchase:
            return 100
        assert self.starts_at is not None
        return refund_percent(self.policy, self.starts_at, now)

    def cancel(self, by: Actor, now: datetime, reason: str = "") -> BookingCancelled:
        """Cancelled before it starts; the refund follows cancellation_refund."""
        if self.status not in HOLDING:
            raise _refuse(self.status, *HOLDING)
        if self.starts_at is not None and now >= self.starts_at:
            raise FailedPrecondition(
                "the booking has started; mark it completed or a no-show instead",
                reason="ALREADY_STARTED",
            )
        percent = self.cancellation_refund(by, now)
        self.status = BookingStatus.CANCELLED
        self.refund_percent = percent
        self.cancelled_by = by
        self.cancel_reason = check_reason(reason)
        self.hold_expires_at = None
        self.cancelled_at = self.updated_at = now
        return BookingCancelled(self.snapshot(), by, percent, self.cancel_reason)

    def reschedule(
        self, times: Sequence[BookedTime], by: Actor, now: datetime
    ) -> BookingRescheduled:
        """Moves a session to another time; the client only until the policy's deadline,
        the practitioner and staff until it starts."""
        if self.status not in HOLDING:
            raise _refuse(self.status, *HOLDING)
        if self.kind is not ServiceKind.SESSION:
            raise FailedPrecondition(
                "only one-to-one sessions can be moved; cancel and book another date",
                reason="NOT_RESCHEDULABLE",
            )
        assert self.starts_at is not None
        if now >= self.starts_at:
            raise FailedPrecondition("the booking has started", reason="ALREADY_STARTED")
        if by is Actor.CLIENT:
            deadline = reschedule_deadline(self.policy, self.starts_at)
            if deadline is None or now > deadline:
                raise FailedPrecondition(
                    "too late to move this booking under its cancellation policy",
                    reason="RESCHEDULE_DEADLINE_PASSED",
                    metadata={"deadline": deadline.isoformat() if deadline else ""},
                )
        previous = tuple(self.times)
        self.times = list(times)
        self.updated_at = now
        if self.status is BookingStatus.CONFIRMED:
            self.armed_at = now
        return BookingRescheduled(self.snapshot(), previous, by)

    def complete(self, by: Actor, now: datetime, grace: timedelta) -> BookingCompleted:
        """It took place: the practitioner (or staff) may say so once it has started;
        booking itself once it ended and the grace period passed."""
        if self.status is not BookingStatus.CONFIRMED:
            raise _refuse(self.status, BookingStatus.CONFIRMED)
        self._check_started(now)
        if by is Actor.SYSTEM:
            self._check_ended(now, grace)
        self.status = BookingStatus.COMPLETED
        self.completed_at = self.updated_at = now
        return BookingCompleted(self.snapshot(), self.amount_paid, now, by)

    def mark_no_show(
        self, now: datetime, by: Actor, attendance: Attendance = UNHEARD
    ) -> BookingNoShow:
        """The client did not come: said by the practitioner (or staff) after the start;
        refused for a virtual booking whose client was in its session room."""
        if self.status is not BookingStatus.CONFIRMED:
            raise _refuse(self.status, BookingStatus.CONFIRMED)
        self._check_started(now)
        if self.attendance_decides and attendance.client is not None:
            client = attendance.client
            seen = client.first_joined_at or client.last_left_at
            raise FailedPrecondition(
                "the client joined the session room; it cannot be marked a no-show",
                reason="CLIENT_ATTENDED",
                metadata={"client_seen_at": seen.isoformat() if seen else ""},
            )
        self.status = BookingStatus.NO_SHOW
        self.completed_at = self.updated_at = now
        return BookingNoShow(self.snapshot(), by, self.amount_paid, now)

    def settle(
        self, now: datetime, grace: timedelta, attendance: Attendance = UNHEARD
    ) -> BookingCompleted | BookingNoShow:
        """Booking's own word once it ended and the grace passed: completed, unless it is a
        virtual booking whose practitioner was in the room and whose client never came (a
        no-show). A room nobody entered says nothing (they may have met elsewhere)."""
        waited_alone = attendance.practitioner_came and not attendance.client_came
        if not (self.attendance_decides and waited_alone):
            return self.complete(Actor.SYSTEM, now, grace)
        if self.status is BookingStatus.CONFIRMED:
            self._check_ended(now, grace)
        return self.mark_no_show(now, Actor.SYSTEM, attendance)

    @property
    def attendance_decides(self) -> bool:
        """A virtual booking's room is where it happens; an in-person one (or a purchase) has
        none."""
        return self.location_kind is LocationKind.VIRTUAL and not self.is_purchase

    def _check_ended(self, now: datetime, grace: timedelta) -> None:
        if self.ends_at is not None and now < self.ends_at + grace:
            raise FailedPrecondition("the booking has not ended", reason="NOT_ENDED")

    def _check_started(self, now: datetime) -> None:
        if self.starts_at is None:
            raise FailedPrecondition(
                "a package or bundle purchase has no session to complete", reason="PURCHASE"
            )
        if now < self.starts_at:
            raise FailedPrecondition("the booking has not started", reason="NOT_STARTED")
