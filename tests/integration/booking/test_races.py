"""No double booking under any concurrency, on both databases: of many requests for
overlapping times of one practitioner, across their services, exactly one per overlapping
set wins and every other is told the time is taken (409); group seats never oversell; a
reschedule racing a booking for the same time, and a payment racing the hold's expiry,
each end one way. On PostgreSQL the exclusion constraint decides; on SQLite the writers
run one at a time and the overlap check decides."""

from __future__ import annotations

import random
from datetime import timedelta

from chassis.lifecycle import WrongState
from services.booking.domain.bookings import BookingStatus
from services.booking.repository import SeatsTaken, SlotTaken
from services.booking.uow import BookingUnitOfWork
from tests.builders import outbox_events, person
from tests.integration.booking.world import at, world
from tests.races import race

REQUESTS = 50
GROUPS = 5


async def overlapping_pairs(w) -> int:
    async with w.service.runtime.unit_of_work(BookingUnitOfWork)(write=False) as uow:
        return await uow.occupancy.overlapping_active()


async def test_fifty_requests_for_overlapping_times_across_two_services_win_once_per_set(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        await w.open_hours()
        hour, half = w.terms(), w.terms(title="Short massage", duration_minutes=30)
        # Five sets, two hours apart; within a set every request overlaps every other
        # (an hour's session or half an hour's, at the set's start or 30 minutes in, each
        # keeping 15 minutes after), across sets none does.
        asked = []
        for n in range(REQUESTS):
            start = at(days=1, hour=8 + 2 * (n % GROUPS)) + timedelta(minutes=30 * (n // 2 % 2))
            asked.append((n % GROUPS, hour if n % 3 else half, start))
        random.Random(7).shuffle(asked)
        outcome = await race([lambda t=terms, s=s: w.book(t, s) for _, terms, s in asked])
        unexpected = [e for e in outcome.losses if not isinstance(e, SlotTaken)]
        assert unexpected == [], unexpected
        assert all(e.reason == "SLOT_TAKEN" for e in outcome.losses)
        won_sets = sorted(
            group
            for (group, _, _), result in zip(asked, outcome.outcomes, strict=True)
            if not isinstance(result, BaseException)
        )
        assert won_sets == list(range(GROUPS))
        assert len(outcome.losses) == REQUESTS - GROUPS
        assert await overlapping_pairs(w) == 0


async def test_twenty_requests_for_five_seats_sell_exactly_five(empty_database_url):
    async with world(empty_database_url) as w:
        workshop = w.workshop(seats=5)
        date = workshop.sessions[0].start
        outcome = await race([lambda: w.book(workshop, date)] * 20)
        assert [type(e) for e in outcome.losses] == [SeatsTaken] * 15
        assert len(outcome.wins) == 5
        seats = await w.desk.slots(workshop.service_id, date, date + timedelta(minutes=1), "")
        assert seats.slots == []  # full: no longer offered


async def test_a_reschedule_and_a_new_booking_racing_for_one_time_let_one_win(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        await w.open_hours()
        session = w.terms()
        clients = [person(), person()]
        made = [
            await w.book(session, at(days=2, hour=hour), who=client)
            for hour, client in zip((10, 12), clients, strict=True)
        ]
        target = at(days=2, hour=15)
        outcome = await race(
            [
                lambda c=client, m=booked: w.desk.reschedule_booking(
                    c, f"bookings/{m.booking.id}", target
                )
                for client, booked in zip(clients, made, strict=True)
            ]
            + [lambda: w.book(session, target)] * 3
        )
        assert len(outcome.wins) == 1
        assert all(isinstance(e, SlotTaken) for e in outcome.losses), outcome.losses
        assert await overlapping_pairs(w) == 0


async def test_a_payment_racing_the_hold_expiry_ends_one_way(empty_database_url):
    async with world(empty_database_url) as w:
        await w.open_hours()
        made = await w.book(w.terms(), at(days=1, hour=10))
        w.clock.advance(timedelta(minutes=15))
        outcome = await race([lambda: w.paid(made.booking, "pay_1"), w.desk.expire_holds])
        assert outcome.losses == [] or all(isinstance(e, WrongState) for e in outcome.losses)
        booking = (await w.desk.get_booking(w.owner, f"bookings/{made.booking.id}")).booking
        # Whichever came first, a payment for a time still free ends confirmed.
        assert booking.status is BookingStatus.CONFIRMED
        assert await overlapping_pairs(w) == 0


async def test_concurrent_cancels_and_marks_of_one_booking_make_one_change_and_one_event(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        await w.open_hours()
        client = person()
        cancelled = await w.book(w.terms(price_minor=0), at(days=2, hour=10), who=client)
        name = f"bookings/{cancelled.booking.id}"
        outcome = await race(
            [lambda: w.desk.cancel_booking(client, name)] * 5
            + [lambda: w.desk.cancel_booking(w.owner, name)] * 5
        )
        assert outcome.one_winner(losers=(WrongState,)).booking.status is BookingStatus.CANCELLED
        database = w.service.runtime.database
        assert await outbox_events(database, "booking.cancelled", name) == 1

        started = await w.book(w.terms(price_minor=0), at(days=0, hour=11))
        name = f"bookings/{started.booking.id}"
        w.clock.advance(timedelta(hours=2, minutes=5))
        outcome = await race(
            [lambda: w.desk.complete_booking(w.owner, name)] * 5
            + [lambda: w.desk.mark_no_show(w.owner, name)] * 5
        )
        winner = outcome.one_winner(losers=(WrongState,))
        completed = await outbox_events(database, "booking.completed", name)
        no_shows = await outbox_events(database, "booking.no_show", name)
        assert completed + no_shows == 1
        assert (winner.booking.status is BookingStatus.COMPLETED) == (completed == 1)
