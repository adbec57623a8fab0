"""Catalog's onboarding step "availability" follows booking's schedule.saved: the consumer's
handler on the real unit of work over SQLite, no process or bus started."""

from __future__ import annotations

from pathlib import Path

import pytest

from chassis.bus.envelope import ReceivedEvent
from chassis.ids import new_id
from estuary.booking.v1 import events_pb2 as booking_events
from services.catalog.consumers import record_availability
from services.catalog.events import SCHEDULE_SAVED
from services.catalog.uow import CatalogUnitOfWork
from tests.builders import STAFF, applicant, built_catalog


async def _saved(service, practitioner_id: str, user_id: str) -> None:
    async with service.runtime.unit_of_work(CatalogUnitOfWork)() as uow:
        await record_availability(
            uow,
            ReceivedEvent(
                new_id(),
                SCHEDULE_SAVED.name,
                "/estuary/booking",
                f"practitioners/{practitioner_id}",
                service.runtime.clock.now(),
                booking_events.ScheduleSaved(
                    practitioner_id=practitioner_id,
                    practitioner_user_id=user_id,
                    time_zone="Europe/Lisbon",
                ),
            ),
        )
        await uow.commit()


async def test_saving_hours_in_booking_completes_the_availability_step(tmp_path: Path):
    async with built_catalog(f"sqlite+aiosqlite:///{tmp_path}/catalog.db") as service:
        user, practitioner = await applicant(service.catalog)
        name = f"practitioners/{practitioner.id}"
        before = (await service.catalog.get_practitioner(user, "practitioners/me")).practitioner
        assert not before.onboarding.availability_set
        await _saved(service, practitioner.id, user.subject)
        await _saved(service, practitioner.id, user.subject)  # a later save: nothing changes
        after = (await service.catalog.get_practitioner(STAFF, name)).practitioner
        assert after.onboarding.availability_set
        assert after.onboarding.percent_complete == before.onboarding.percent_complete + 25


async def test_hours_saved_for_a_practitioner_catalog_does_not_know_are_refused(tmp_path: Path):
    async with built_catalog(f"sqlite+aiosqlite:///{tmp_path}/catalog.db") as service:
        user, practitioner = await applicant(service.catalog)
        with pytest.raises(ValueError, match="no practitioner"):
            await _saved(service, new_id(), user.subject)
        with pytest.raises(ValueError, match="no practitioner"):
            await _saved(service, practitioner.id, new_id())
