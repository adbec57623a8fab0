"""What happened in booking that other services hear of: plain values, mapped to their
messages by booking's events.py. Each booking event carries the booking as it now is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from chassis.money import Money

if TYPE_CHECKING:
    from services.booking.domain.bookings import Actor, BookedTime, Booking


@dataclass(frozen=True)
class BookingCreated:
    booking: Booking


@dataclass(frozen=True)
class BookingConfirmed:
    booking: Booking
    payment_id: str


@dataclass(frozen=True)
class BookingRescheduled:
    booking: Booking
    previous_times: tuple[BookedTime, ...]
    by: Actor


@dataclass(frozen=True)
class BookingCancelled:
    booking: Booking
    by: Actor
    refund_percent: int
    reason: str


@dataclass(frozen=True)
class BookingExpired:
    booking: Booking


@dataclass(frozen=True)
class BookingCompleted:
    booking: Booking
    amount_paid: Money
    completed_at: datetime
    by: Actor


@dataclass(frozen=True)
class BookingNoShow:
    booking: Booking
    by: Actor
    amount_paid: Money
    marked_at: datetime


class Reminder(StrEnum):
    DAY_BEFORE = "day_before"
    HALF_HOUR_BEFORE = "half_hour_before"


@dataclass(frozen=True)
class ReminderDue:
    """A reminder to one person about one meeting. For a group session's practitioner the
    booking is the session's (no booking id or client) and attendees counts its clients."""

    booking: Booking
    reminder: Reminder
    recipient_user_id: str
    time: BookedTime
    attendees: int
    subject: str


@dataclass(frozen=True)
class RefundRequested:
    """A payment arrived that booking cannot honour: payments refunds it in full."""

    booking_id: str
    payment_id: str
    client_id: str
    amount: Money
    reason: str


@dataclass(frozen=True)
class ScheduleSaved:
    practitioner_id: str
    practitioner_user_id: str
    time_zone: str


@dataclass(frozen=True)
class WaitlistOffered:
    offer_id: str
    service_id: str
    client_id: str
    time: BookedTime
    expires_at: datetime
    service_title: str
    time_zone: str
