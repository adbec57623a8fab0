"""Session-room attendance in booking: streams' room events kept once however they arrive
(twice, late, out of order, about a booking booking never made), shown to the booking's
client and practitioner, and deciding no-shows and the completion job's verdict, also
when a join races the practitioner's no-show (on PostgreSQL, where the race is real)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from chassis.errors import FailedPrecondition
from chassis.ids import new_id
from chassis.wire import instant
from estuary.booking.v1 import events_pb2 as booking_events
from services.booking.domain.attendance import Attendance, Attendee, Presence
from services.booking.domain.bookings import Booking, BookingStatus
from services.booking.domain.terms import LocationKind
from services.booking.events import BOOKING_COMPLETED, BOOKING_NO_SHOW
from services.booking.service_layer.attendance import note_presence
from services.booking.uow import BookingUnitOfWork
from tests.builders import outbox_messages, person
from tests.integration.booking.world import World, at, world
from tests.races import race

START = at(days=0, hour=10)
GRACE = timedelta(hours=2)


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    async with world(f"sqlite+aiosqlite:///{tmp_path}/booking.db") as made:
        await made.open_hours()
        yield made


async def confirmed_session(
    w: World, location: LocationKind = LocationKind.VIRTUAL, hour: int = 10
) -> Booking:
    """A paid hour's session at `hour` today (the clock is at 09:00)."""
    made = await w.book(w.terms(location_kind=location), at(days=0, hour=hour), who=person())
    await w.paid(made.booking)
    return made.booking


async def marks_of(w: World, booking: Booking):
    async with w.service.runtime.unit_of_work(BookingUnitOfWork)(write=False) as uow:
        return await uow.attendance.of(booking)


async def status_of(w: World, booking: Booking) -> BookingStatus:
    view = await w.desk.get_booking(w.owner, f"bookings/{booking.id}")
    return view.booking.status


def minutes(n: int):
    return START + timedelta(minutes=n)


# The consumer -------------------------------------------------------------------------------


async def test_a_redelivery_and_a_repeated_mark_count_once(empty_database_url):
    async with world(empty_database_url) as w:
        await w.open_hours()
        booking = await confirmed_session(w)
        joined = w.room_event(booking, booking.client_id, True, minutes(1))
        again = w.room_event(booking, booking.client_id, True, minutes(1))
        left = w.room_event(booking, booking.client_id, False, minutes(31))
        for delivery in (joined, joined, again, left, left):
            assert await w.deliver(delivery) == "ack"
        heard = await marks_of(w, booking)
        assert heard.client == Attendee(booking.client_id, minutes(1), minutes(31), 1800, False)
        assert heard.practitioner is None


async def test_a_leave_that_arrives_before_its_join_is_paired_with_it_once_it_comes(w: World):
    booking = await confirmed_session(w)
    host = booking.practitioner_user_id
    for delivery in (
        w.room_event(booking, host, False, minutes(50)),
        w.room_event(booking, host, True, minutes(20)),
        w.room_event(booking, host, False, minutes(15)),
        w.room_event(booking, host, True, minutes(0)),
    ):
        assert await w.deliver(delivery) == "ack"
    heard = await marks_of(w, booking)
    assert heard.practitioner == Attendee(host, minutes(0), minutes(50), 45 * 60, False)


async def test_a_mark_about_an_unknown_booking_or_a_stranger_is_logged_and_dropped(
    w: World, caplog
):
    booking = await confirmed_session(w)
    unknown, stranger = new_id(), person().user_id
    with caplog.at_level(logging.WARNING, logger="services.booking.service_layer.attendance"):
        elsewhere = w.room_event(booking, booking.client_id, True, minutes(1), booking_id=unknown)
        assert await w.deliver(elsewhere) == "ack"
        assert await w.deliver(w.room_event(booking, stranger, True, minutes(1))) == "ack"
    assert [r.getMessage() for r in caplog.records] == [
        f"room presence for unknown booking {unknown} dropped",
        f"room presence of {stranger}, not a party to booking {booking.id}, dropped",
    ]
    assert await marks_of(w, booking) == Attendance()


async def test_a_mark_without_a_time_or_a_booking_id_is_refused_not_guessed(w: World):
    booking = await confirmed_session(w)
    for delivery in (
        w.room_event(booking, booking.client_id, True, None),
        w.room_event(booking, booking.client_id, False, None),
        w.room_event(booking, booking.client_id, True, minutes(1), booking_id=""),
    ):
        assert await w.deliver(delivery) == "retry"
    assert await marks_of(w, booking) == Attendance()


# What attendance decides --------------------------------------------------------------------


async def arrive(w: World, booking: Booking, *who: str, at_minute: int = 2) -> None:
    """`who` ("client", "practitioner") joined the booking's room."""
    users = {"client": booking.client_id, "practitioner": booking.practitioner_user_id}
    assert booking.starts_at is not None
    for name in who:
        when = booking.starts_at + timedelta(minutes=at_minute)
        delivery = w.room_event(booking, users[name], True, when)
        assert await w.deliver(delivery) == "ack"


async def test_a_client_who_joined_cannot_be_marked_a_no_show(w: World):
    attended, waited = await confirmed_session(w), await confirmed_session(w, hour=12)
    await arrive(w, attended, "client", "practitioner")
    await arrive(w, waited, "practitioner")
    w.clock.advance(timedelta(hours=3, minutes=20))
    with pytest.raises(FailedPrecondition) as refused:
        await w.desk.mark_no_show(w.owner, f"bookings/{attended.id}")
    assert refused.value.reason == "CLIENT_ATTENDED"
    assert await status_of(w, attended) is BookingStatus.CONFIRMED
    marked = await w.desk.mark_no_show(w.owner, f"bookings/{waited.id}")
    assert marked.booking.status is BookingStatus.NO_SHOW
    [no_show] = await outbox_messages(w.service.runtime.database, BOOKING_NO_SHOW)
    assert (no_show.booking.booking_id, no_show.marked_by) == (
        waited.id,
        booking_events.ACTOR_PRACTITIONER,
    )
    # What was paid is kept, and said, so payments earns it for the practitioner.
    assert waited.price.amount_minor > 0
    assert (no_show.amount_paid.amount_minor, no_show.amount_paid.currency) == (
        waited.price.amount_minor,
        waited.price.currency,
    )
    assert instant(no_show.mark_time) == w.clock.now()


async def test_an_in_person_booking_or_an_operator_without_the_rules_marks_as_before(
    w: World, tmp_path: Path
):
    in_person = await confirmed_session(w, LocationKind.IN_PERSON)
    await arrive(w, in_person, "client")
    w.clock.advance(timedelta(hours=1))
    assert (await w.desk.mark_no_show(w.owner, f"bookings/{in_person.id}")).booking.status is (
        BookingStatus.NO_SHOW
    )
    async with world(f"sqlite+aiosqlite:///{tmp_path}/off.db", room_attendance_rules=False) as off:
        await off.open_hours()
        attended = await confirmed_session(off)
        await arrive(off, attended, "client")
        off.clock.advance(timedelta(hours=1))
        marked = await off.desk.mark_no_show(off.owner, f"bookings/{attended.id}")
        assert marked.booking.status is BookingStatus.NO_SHOW


async def test_the_job_makes_a_no_show_of_a_client_the_practitioner_waited_for_alone(w: World):
    alone, both, nobody, client_only = [
        await confirmed_session(w, hour=hour) for hour in (10, 12, 14, 16)
    ]
    await arrive(w, alone, "practitioner")
    await arrive(w, both, "practitioner", "client")
    await arrive(w, client_only, "client")
    w.clock.advance(timedelta(hours=8) + GRACE)  # the last one's end, and the grace
    assert await w.desk.complete_ended() == 4
    assert await status_of(w, alone) is BookingStatus.NO_SHOW
    for done in (both, nobody, client_only):
        assert await status_of(w, done) is BookingStatus.COMPLETED
    database = w.service.runtime.database
    [no_show] = await outbox_messages(database, BOOKING_NO_SHOW)
    assert (no_show.booking.booking_id, no_show.marked_by) == (
        alone.id,
        booking_events.ACTOR_SYSTEM,
    )
    completed = await outbox_messages(database, BOOKING_COMPLETED)
    assert {c.booking.booking_id for c in completed} == {both.id, nobody.id, client_only.id}


async def test_attendance_is_shown_to_the_booking_s_client_and_practitioner_alone(w: World):
    booking = await confirmed_session(w)
    await arrive(w, booking, "client")
    name = f"bookings/{booking.id}"
    client = person(booking.client_id)
    for who in (client, w.owner):
        seen = (await w.desk.get_booking(who, name)).attendance
        assert seen is not None and seen.client is not None
        assert (seen.client.first_joined_at, seen.client.present, seen.practitioner) == (
            minutes(2),
            True,
            None,
        )
    assert (await w.desk.get_booking(w.staff, name)).attendance is None
    listed = await w.desk.list_bookings(client, "all", None, 10, "")
    assert [b.id for b in listed.items] == [booking.id]  # a list carries no attendance
    in_person = await confirmed_session(w, LocationKind.IN_PERSON, hour=12)
    assert (await w.desk.get_booking(w.owner, f"bookings/{in_person.id}")).attendance is None


# Races --------------------------------------------------------------------------------------


async def test_a_join_being_written_holds_back_a_no_show_which_then_sees_it(empty_database_url):
    """The practitioner marks a no-show while the client's join is being kept: the no-show
    waits for it and is refused, never decided on the marks of before."""
    async with world(empty_database_url) as w:
        await w.open_hours()
        booking = await confirmed_session(w)
        w.clock.advance(timedelta(minutes=70))
        async with w.service.runtime.unit_of_work(BookingUnitOfWork)() as uow:
            await note_presence(
                uow,
                booking_id=booking.id,
                user_id=booking.client_id,
                presence=Presence.JOINED,
                at=minutes(5),
            )
            marking = asyncio.create_task(w.desk.mark_no_show(w.owner, f"bookings/{booking.id}"))
            await asyncio.sleep(0.3)
            assert not marking.done()
            await uow.commit()
        with pytest.raises(FailedPrecondition) as refused:
            await marking
        assert refused.value.reason == "CLIENT_ATTENDED"
        assert await status_of(w, booking) is BookingStatus.CONFIRMED


async def test_joins_racing_no_shows_and_the_job_end_one_way_each(empty_database_url):
    """Per booking, the client's join, the practitioner's no-show and the completion job at
    once: the no-show wins only where it came before the join (its event then is the only
    one), and a refused no-show leaves the booking to be completed."""
    async with world(empty_database_url) as w:
        await w.open_hours()
        bookings = [await confirmed_session(w, hour=hour) for hour in (10, 12, 14, 16)]
        for booking in bookings:
            await arrive(w, booking, "practitioner", at_minute=0)
        w.clock.advance(timedelta(hours=8) + GRACE)
        attempts = []
        for booking in bookings:
            attempts += [
                lambda b=booking: w.deliver(w.room_event(b, b.client_id, True, b.starts_at)),
                lambda b=booking: w.desk.mark_no_show(w.owner, f"bookings/{b.id}"),
            ]
        attempts.append(lambda: w.desk.complete_ended())
        outcome = await race(attempts)
        unexpected = [e for e in outcome.losses if not isinstance(e, FailedPrecondition)]
        assert unexpected == [], unexpected
        assert {e.reason for e in outcome.losses} <= {"CLIENT_ATTENDED", "WRONG_STATE"}
        await w.desk.complete_ended()
        database = w.service.runtime.database
        no_shows = {m.booking.booking_id for m in await outbox_messages(database, BOOKING_NO_SHOW)}
        completed = {
            m.booking.booking_id for m in await outbox_messages(database, BOOKING_COMPLETED)
        }
        assert no_shows.isdisjoint(completed)
        assert no_shows | completed == {b.id for b in bookings}
        for booking in bookings:
            assert (await marks_of(w, booking)).client_came  # every join was kept
            status = await status_of(w, booking)
            assert status is (
                BookingStatus.NO_SHOW if booking.id in no_shows else BookingStatus.COMPLETED
            )
