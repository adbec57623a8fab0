"""Calendar feeds: each user's confirmed bookings as iCalendar, at a secret address they can
rotate (the old one stops working at once) or turn off."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar, Event

from chassis.auth.principal import Principal
from chassis.errors import NotFound
from services.booking.domain.bookings import Booking
from services.booking.service_layer.base import Handlers, caller

# Feeds list a user's latest confirmed bookings; calendar apps poll them, so they stay small.
FEED_LIMIT = 500
TOKEN_BYTES = 32
PRODUCT = "-//Estuary//Bookings//EN"


@dataclass(frozen=True)
class Feed:
    token: str
    created_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ics(bookings: list[Booking], user_id: str, now: datetime) -> str:
    """The bookings as one VCALENDAR, one VEVENT per meeting, in UTC."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "Estuary bookings")
    for booking in bookings:
        giving = booking.practitioner_user_id == user_id
        for position, meeting in enumerate(booking.times):
            event = Event()
            event.add("uid", f"{booking.id}-{position}@estuary")
            event.add("dtstamp", now)
            event.add("dtstart", meeting.start)
            event.add("dtend", meeting.end)
            event.add("summary", booking.title)
            event.add("status", "CONFIRMED")
            event.add(
                "description",
                ("You give this " if giving else "You booked this ")
                + booking.kind.value.replace("_", " ")
                + f" ({booking.location_kind.value.replace('_', ' ')}). Booking {booking.id}.",
            )
            if len(booking.times) > 1:
                event.add("x-estuary-meeting", f"{position + 1} of {len(booking.times)}")
            calendar.add_component(event)
    return calendar.to_ical().decode()


class CalendarHandlers(Handlers):
    async def rotate_feed(self, principal: Principal | None) -> Feed:
        """A new secret for the caller's feed (shown once); the old one stops working."""
        user = caller(principal)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        async with self._uow() as uow:
            now = self.now()
            await uow.feeds.replace(user.user_id, token_hash(token), now)
            await uow.commit()
        return Feed(token, now)

    async def delete_feed(self, principal: Principal | None) -> None:
        user = caller(principal)
        async with self._uow() as uow:
            if not await uow.feeds.delete(user.user_id):
                raise NotFound("you have no calendar feed")
            await uow.commit()

    async def feed(self, token: str) -> str:
        """The iCalendar text of a feed, by its secret (anyone holding it may read it)."""
        if not token or len(token) > 200:
            raise NotFound("no such calendar feed")
        async with self._uow(write=False) as uow:
            owner = await uow.feeds.owner_of(token_hash(token))
            if owner is None:
                raise NotFound("no such calendar feed")
            bookings = await uow.bookings.confirmed_of_user(owner, FEED_LIMIT)
        return ics(bookings, owner, self.now())
