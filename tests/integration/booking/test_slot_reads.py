"""Busy time read for slots as numbers, on both databases: the very ranges the datetime read
gives, to the microsecond; and a month of slots of a busy practitioner through the handler
equal to the engine's answer on the datetime read."""

from __future__ import annotations

import random
from datetime import timedelta

from chassis.ids import new_id
from services.booking.domain.availability import Interval, to_micros
from services.booking.domain.slots import session_slots
from services.booking.settings import BookingSettings
from services.booking.uow import BookingUnitOfWork
from tests.builders import person
from tests.integration.booking.world import MONDAY, at, world

ODD_MICROSECONDS = [0, 1, 499_999, 500_000, 999_999]


async def test_busy_spans_are_the_busy_ranges_to_the_microsecond(empty_database_url):
    async with world(empty_database_url) as w:
        unit_of_work = w.service.runtime.unit_of_work(BookingUnitOfWork)
        mine, other = w.practitioner_id, new_id()
        chosen = random.Random(3)
        async with unit_of_work() as uow:
            for n in range(30):
                start = MONDAY + timedelta(
                    hours=3 * n, microseconds=chosen.choice(ODD_MICROSECONDS)
                )
                end = start + timedelta(minutes=45, microseconds=chosen.choice(ODD_MICROSECONDS))
                await uow.occupancy.take_for_booking(new_id(), mine, Interval(start, end))
                await uow.occupancy.take_for_booking(new_id(), other, Interval(start, end))
            # A freed range is not busy.
            freed = new_id()
            await uow.occupancy.take_for_booking(
                freed, mine, Interval(MONDAY - timedelta(hours=2), MONDAY - timedelta(hours=1))
            )
            await uow.occupancy.release_booking(freed)
            await uow.commit()
        span = Interval(MONDAY - timedelta(days=1), MONDAY + timedelta(hours=60))
        async with unit_of_work(write=False) as uow:
            as_datetimes = await uow.occupancy.busy(mine, span)
            as_numbers = await uow.occupancy.busy_spans(mine, span)
        assert len(as_datetimes) == 20
        assert as_numbers == [(to_micros(b.start), to_micros(b.end)) for b in as_datetimes]


async def test_a_busy_months_slots_are_the_engines_answer_on_the_datetime_read(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        await w.open_hours()
        terms = w.terms(price_minor=0, buffer_before_minutes=10)
        w.workshop()  # on sale but not announced: booking does not know it
        workshop = w.workshop()
        await w.announce(workshop)
        client = person()
        starts = [at(days=d, hour=h) for d in range(1, 15) for h in (8, 11, 14)]
        for start in random.Random(5).sample(starts, 30):
            await w.book(terms, start, client)
        begin, end = at(days=1, hour=0), at(days=15, hour=0)
        found = await w.desk.slots(terms.service_id, begin, end, "Asia/Kolkata")

        settings = w.service.runtime.settings
        assert isinstance(settings, BookingSettings)
        rules = terms.slot_rules(settings.slot_step_minutes)
        async with w.service.runtime.unit_of_work(BookingUnitOfWork)(write=False) as uow:
            hours = await uow.schedules.get(w.practitioner_id)
            busy = await uow.occupancy.busy(
                w.practitioner_id, Interval(begin - timedelta(days=1), end + timedelta(days=1))
            )
        assert hours is not None
        meetings = [
            Interval(m.start - rules.buffer_before, m.end + rules.buffer_after)
            for m in workshop.sessions
        ]
        expected = session_slots(hours[0], rules, busy + meetings, w.clock.now(), begin, end)
        assert [s.start for s in found.slots] == expected
        assert len(expected) > 100
        assert not any(Interval(s.start, s.end).overlaps(m) for s in found.slots for m in meetings)
