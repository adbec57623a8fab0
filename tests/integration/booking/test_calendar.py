"""Calendar feeds on the real unit of work over SQLite: a user's confirmed bookings, as
client or practitioner, as iCalendar (read back with the icalendar library); the secret
rotates and the old one stops working at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from icalendar import Calendar

from chassis.errors import NotFound
from tests.builders import person
from tests.integration.booking.world import World, at, world


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    async with world(f"sqlite+aiosqlite:///{tmp_path}/booking.db") as made:
        await made.open_hours()
        yield made


async def test_a_feed_lists_every_confirmed_booking_and_rotating_it_ends_the_old_address(w: World):
    client = person()
    session = w.terms(price_minor=0)
    confirmed = await w.book(session, at(days=1, hour=10), who=client)
    unpaid = await w.book(w.terms(title="Paid"), at(days=1, hour=14), who=client)
    course = w.course(seats=3, meetings=2)
    enrolled = await w.book(course, None, who=client)
    await w.paid(enrolled.booking)
    feed = await w.desk.rotate_feed(client)
    read = Calendar.from_ical(await w.desk.feed(feed.token))
    events = read.walk("VEVENT")
    uids = {str(e["UID"]) for e in events}
    assert uids == {
        f"{confirmed.booking.id}-0@estuary",
        f"{enrolled.booking.id}-0@estuary",
        f"{enrolled.booking.id}-1@estuary",
    }
    assert all(str(e["STATUS"]) == "CONFIRMED" for e in events)
    assert unpaid.booking.id not in str(read.to_ical())
    first = next(e for e in events if str(e["UID"]).startswith(confirmed.booking.id))
    assert first.decoded("DTSTART") == at(days=1, hour=10)
    assert str(first["SUMMARY"]) == "Morning yoga"
    # The practitioner's own feed shows what they give.
    theirs = await w.desk.rotate_feed(w.owner)
    assert len(Calendar.from_ical(await w.desk.feed(theirs.token)).walk("VEVENT")) == 3
    again = await w.desk.rotate_feed(client)
    assert again.token != feed.token
    with pytest.raises(NotFound):
        await w.desk.feed(feed.token)
    await w.desk.delete_feed(client)
    with pytest.raises(NotFound):
        await w.desk.feed(again.token)
    with pytest.raises(NotFound):
        await w.desk.delete_feed(client)
