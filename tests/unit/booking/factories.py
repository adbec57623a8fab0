"""Booking's domain objects as the unit tests make them: a service's terms and a booking."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chassis.ids import new_id
from chassis.money import Money
from services.booking.domain.bookings import BookedTime, Booking
from services.booking.domain.terms import (
    DatedSession,
    LocationKind,
    RefundRule,
    ServiceKind,
    ServiceTerms,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOLD = timedelta(minutes=15)
POLICY = (RefundRule(48, 100), RefundRule(24, 50), RefundRule(0, 0))


def terms(**changes: Any) -> ServiceTerms:
    """A one-to-one virtual session of an hour, 40 EUR."""
    made = ServiceTerms(
        service_id=new_id(),
        practitioner_id=new_id(),
        practitioner_user_id=new_id(),
        time_zone="Europe/Lisbon",
        kind=ServiceKind.SESSION,
        title="Morning yoga",
        price_minor=4000,
        currency="EUR",
        duration_minutes=60,
        max_participants=1,
        buffer_before_minutes=0,
        buffer_after_minutes=15,
        min_notice_minutes=60,
        booking_window_days=90,
        location_kind=LocationKind.VIRTUAL,
        updated_at=NOW,
        cancellation_policy=POLICY,
    )
    return replace(made, **changes)


def workshop(**changes: Any) -> ServiceTerms:
    start = NOW + timedelta(days=10)
    return terms(
        kind=ServiceKind.WORKSHOP,
        max_participants=5,
        sessions=(DatedSession(start, 120), DatedSession(start + timedelta(days=7), 120)),
        **changes,
    )


def booking(
    *,
    starts_in: timedelta = timedelta(days=5),
    price: int = 4000,
    of: ServiceTerms | None = None,
    now: datetime = NOW,
) -> tuple[Booking, list[object]]:
    """A booking placed at `now` for a session starting `starts_in` later."""
    sold = of or terms()
    start = now + starts_in
    return Booking.place(
        booking_id=new_id(),
        client_id=new_id(),
        terms=sold,
        times=[BookedTime(start, start + timedelta(minutes=sold.duration_minutes))],
        seats=1,
        price=Money(price, "EUR"),
        notes="",
        now=now,
        hold=HOLD,
    )
