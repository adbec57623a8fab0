"""Booking's periodic jobs on the real unit of work: reminders 24 hours and 30 minutes ahead,
exactly once per booking, kind and recipient, also when a run is killed halfway and another
replica runs at the same time; a reschedule re-arms them; a group session's practitioner
gets one per dated session; the jobs run under the chassis's leases."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from chassis.jobs import JobRunner
from services.booking.events import BOOKING_REMINDER_DUE
from services.booking.repository import Reminders
from tests.builders import built_booking, outbox_messages, person
from tests.integration.booking.world import World, at, world
from tests.races import race


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    async with world(f"sqlite+aiosqlite:///{tmp_path}/booking.db", job_batch_size=2) as made:
        await made.open_hours()
        yield made


async def reminders(w: World) -> Counter[tuple[str, int, str]]:
    """Each reminder sent: (booking id or group session subject, kind, recipient) -> times."""
    found = await outbox_messages(w.service.runtime.database, BOOKING_REMINDER_DUE)
    return Counter(
        (
            m.booking.booking_id or f"group@{m.time.start_time.seconds}",
            m.reminder,
            m.recipient_user_id,
        )
        for m in found
    )


async def confirmed_sessions(w: World, count: int) -> list:
    session = w.terms(price_minor=0)
    return [
        (await w.book(session, at(days=1, hour=10 + 2 * n), who=person())).booking
        for n in range(count)
    ]


async def test_each_reminder_goes_out_once_for_the_client_and_the_practitioner(w: World):
    [booking] = await confirmed_sessions(w, 1)
    assert await w.desk.send_reminders() == 0  # a day ahead is tomorrow 10:00; now is 09:00
    w.clock.advance(timedelta(hours=1))
    assert await w.desk.send_reminders() == 2
    assert await w.desk.send_reminders() == 0
    w.clock.advance(timedelta(hours=23, minutes=30))
    assert await w.desk.send_reminders() == 2
    sent = await reminders(w)
    assert set(sent.values()) == {1}
    assert {(r[1], r[2]) for r in sent} == {
        (kind, who) for kind in (1, 2) for who in (booking.client_id, w.user_id)
    }


async def test_a_booking_made_after_a_reminder_was_due_skips_it(w: World):
    session = w.terms(price_minor=0)
    await w.book(session, at(days=0, hour=12))  # 3 hours ahead: no day-before reminder
    w.clock.advance(timedelta(hours=2, minutes=30))
    assert await w.desk.send_reminders() == 2
    assert {key[1] for key in await reminders(w)} == {2}


async def test_reminders_are_sent_exactly_once_when_a_run_is_killed_and_restarted(
    w: World, monkeypatch, tmp_path: Path
):
    await confirmed_sessions(w, 5)  # 10 reminders due a day ahead, in batches of 2
    w.clock.advance(timedelta(hours=10))
    claimed = 0
    stuck = asyncio.Event()
    original = Reminders.claim

    async def claim_then_hang(self, *args, **kwargs):
        nonlocal claimed
        claimed += 1
        if claimed == 5:  # halfway through the third batch: the process is killed here
            stuck.set()
            await asyncio.Event().wait()
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Reminders, "claim", claim_then_hang)
    run = asyncio.create_task(w.desk.send_reminders())
    await asyncio.wait_for(stuck.wait(), 10)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert sum((await reminders(w)).values()) == 4  # two whole batches committed
    monkeypatch.setattr(Reminders, "claim", original)
    # The restarted service (same database, a new process) sends the rest, once.
    async with built_booking(
        w.service.runtime.settings.database_url, clock=w.clock, catalog=w.catalog
    ) as restarted:
        assert await restarted.desk.send_reminders() == 6
        assert await restarted.desk.send_reminders() == 0
    sent = await reminders(w)
    assert len(sent) == 10 and set(sent.values()) == {1}


async def test_two_replicas_sending_at_once_send_each_reminder_once(w: World):
    await confirmed_sessions(w, 4)
    w.clock.advance(timedelta(hours=10))
    async with built_booking(
        w.service.runtime.settings.database_url, clock=w.clock, catalog=w.catalog
    ) as other:
        outcome = await race([w.desk.send_reminders, other.desk.send_reminders] * 2)
    assert outcome.losses == []
    assert sum(outcome.wins) == 8
    sent = await reminders(w)
    assert len(sent) == 8 and set(sent.values()) == {1}


async def test_a_reschedule_re_arms_the_reminders_for_the_new_time(w: World):
    client = person()
    made = await w.book(w.terms(price_minor=0), at(days=1, hour=10), who=client)
    w.clock.advance(timedelta(hours=1))
    assert await w.desk.send_reminders() == 2
    await w.desk.reschedule_booking(client, f"bookings/{made.booking.id}", at(days=1, hour=14))
    assert await w.desk.send_reminders() == 0  # the new time's day-before is due at 14:00
    w.clock.advance(timedelta(hours=4))
    assert await w.desk.send_reminders() == 2
    found = await outbox_messages(w.service.runtime.database, BOOKING_REMINDER_DUE)
    starts = sorted({m.time.start_time.ToDatetime().hour for m in found})
    assert starts == [10, 14]


async def test_a_group_sessions_practitioner_gets_one_reminder_per_dated_session(w: World):
    workshop = w.workshop(seats=5, price_minor=0)
    date = workshop.sessions[0].start
    clients = [person() for _ in range(3)]
    for client in clients:
        await w.book(workshop, date, who=client)
    w.clock.advance(date - timedelta(minutes=30) - w.clock.now())
    assert await w.desk.send_reminders() == 2 * (3 + 1)
    practitioner_reminders = await outbox_messages(w.service.runtime.database, BOOKING_REMINDER_DUE)
    mine = [m for m in practitioner_reminders if m.recipient_user_id == w.user_id]
    assert len(mine) == 2
    assert {m.attendees for m in mine} == {3}
    assert {m.booking.booking_id for m in mine} == {""}
    assert await w.desk.send_reminders() == 0


async def test_the_jobs_run_under_leases_once_per_interval_whatever_the_replicas(w: World):
    made = await w.book(w.terms(), at(days=1, hour=10))
    w.clock.advance(timedelta(minutes=20))
    jobs = w.desk.periodic_jobs()
    assert [j.name for j in jobs] == [
        "booking.expire_holds",
        "booking.lapse_offers",
        "booking.complete_ended",
        "booking.send_reminders",
    ]
    database = w.service.runtime.database
    first = JobRunner(database, jobs, clock=w.clock)
    second = JobRunner(database, jobs, clock=w.clock)
    holds = jobs[0]
    taken = [await first.acquire(holds), await second.acquire(holds)]
    assert taken == [True, False]
    await holds.run()
    view = await w.desk.get_booking(w.owner, f"bookings/{made.booking.id}")
    assert view.booking.status.value == "expired"
