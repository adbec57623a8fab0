"""Attendance: streams' room events kept as marks, and read (one writer at a time per
booking) where a no-show or a completion depends on it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from services.booking.domain.attendance import UNHEARD, Attendance, Mark, Presence
from services.booking.domain.bookings import Booking
from services.booking.settings import BookingSettings
from services.booking.uow import BookingUnitOfWork

log = logging.getLogger(__name__)


async def note_presence(
    uow: BookingUnitOfWork, *, booking_id: str, user_id: str, presence: Presence, at: datetime
) -> None:
    """room.participant_joined / left: keeps the mark of the booking's client or practitioner
    (anyone else's, or one for a booking booking does not know, is logged and dropped)."""
    booking = await uow.bookings.get(booking_id)
    if booking is None:
        log.warning("room presence for unknown booking %s dropped", booking_id)
        return
    if user_id not in (booking.client_id, booking.practitioner_user_id):
        log.warning("room presence of %s, not a party to booking %s, dropped", user_id, booking_id)
        return
    # Taken before the write, as a no-show or the completion job takes it before reading:
    # a verdict reads every mark committed before it, and a mark it missed comes after it.
    await uow.serialize(_lock(booking_id))
    await uow.attendance.note(booking_id, Mark(user_id, presence, at))


async def attendance_of(
    uow: BookingUnitOfWork, settings: BookingSettings, booking: Booking
) -> Attendance:
    """What the rules may read of a booking's room, held still until the transaction ends."""
    return (await attendance_of_many(uow, settings, [booking]))[booking.id]


async def attendance_of_many(
    uow: BookingUnitOfWork, settings: BookingSettings, found: Sequence[Booking]
) -> dict[str, Attendance]:
    """attendance_of for many bookings: nothing heard for an in-person one, or for any when
    the operator turned the rules off."""
    deciding = [b for b in found if settings.room_attendance_rules and b.attendance_decides]
    # In id order, so two transactions locking overlapping sets cannot deadlock.
    for booking in sorted(deciding, key=lambda b: b.id):
        await uow.serialize(_lock(booking.id))
    heard = await uow.attendance.of_many(deciding)
    return {b.id: heard.get(b.id, UNHEARD) for b in found}


def _lock(booking_id: str) -> str:
    return f"booking-attendance/{booking_id}"
