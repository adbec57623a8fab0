"""Booking's copy of catalog's service terms: kept from service.published/updated/archived
(a late, older announcement changes nothing), a service not heard of yet fetched once, and
an archived service no longer sold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from chassis.bus.envelope import ReceivedEvent
from chassis.errors import FailedPrecondition
from chassis.ids import new_id
from chassis.wire import timestamp
from estuary.catalog.v1 import events_pb2 as catalog_events
from services.booking.consumers import keep_terms
from services.booking.events import SERVICE_ARCHIVED, SERVICE_UPDATED
from services.booking.uow import BookingUnitOfWork
from tests.integration.booking.world import World, at, world


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    async with world(f"sqlite+aiosqlite:///{tmp_path}/booking.db") as made:
        await made.open_hours()
        yield made


async def held(w: World, service_id: str):
    async with w.service.runtime.unit_of_work(BookingUnitOfWork)(write=False) as uow:
        return await uow.terms.get(service_id)


async def test_the_newest_announcement_wins_whatever_order_they_arrive_in(w: World):
    first = w.terms()
    await w.announce(first)
    newer = replace(first, duration_minutes=90, updated_at=first.updated_at + timedelta(hours=1))
    await w.announce(newer, SERVICE_UPDATED)
    stale = replace(first, duration_minutes=30, updated_at=first.updated_at + timedelta(minutes=5))
    await w.announce(stale, SERVICE_UPDATED)
    assert (await held(w, first.service_id)) == newer


async def test_an_archived_service_is_no_longer_sold_but_its_copy_stays(w: World):
    session = w.terms()
    await w.announce(session)
    made = await w.book(session, at(hour=10))
    async with w.service.runtime.unit_of_work(BookingUnitOfWork)() as uow:
        await keep_terms(
            uow,
            ReceivedEvent(
                new_id(),
                SERVICE_ARCHIVED.name,
                "/estuary/catalog",
                "",
                w.clock.now(),
                catalog_events.ServiceArchived(
                    service_id=session.service_id,
                    practitioner_id=session.practitioner_id,
                    archive_time=timestamp(w.clock.now() + timedelta(minutes=1)),
                ),
            ),
        )
        await uow.commit()
    copy = await held(w, session.service_id)
    assert copy is not None and not copy.on_sale
    assert (await w.desk.slots(session.service_id, None, None, "")).slots == []
    with pytest.raises(FailedPrecondition) as refused:
        await w.book(session, at(hour=14))
    assert refused.value.reason == "NOT_ON_SALE"
    assert (await w.desk.get_booking(w.owner, f"bookings/{made.booking.id}")).booking


async def test_a_service_booking_has_not_heard_of_is_fetched_from_catalog_once(w: World):
    session = w.terms()
    assert await held(w, session.service_id) is None
    for _ in range(3):
        await w.desk.slots(session.service_id, None, None, "")
    assert w.catalog.fetches == 1
    assert await held(w, session.service_id) == session
