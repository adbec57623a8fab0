"""The inbox of Stripe's events is trimmed, on both databases: an applied event's id is kept
for the retention (a redelivery within it changes nothing) and forgotten after it, in
batches, while newer ones stay."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from chassis.ids import new_id
from services.payments.tables import external_events
from tests.integration.payments.world import World, world


async def claimed(w: World, count: int) -> None:
    async with w.uow() as uow:
        for _ in range(count):
            assert await uow.external_events.claim(
                "stripe", f"evt_{new_id()}", "payment_intent.succeeded", "pi_x", w.clock.now()
            )
        await uow.commit()


async def kept(w: World) -> int:
    async with w.uow(write=False) as uow:
        return (
            await uow.connection.execute(sa.select(sa.func.count()).select_from(external_events))
        ).scalar_one()


async def test_applied_events_are_forgotten_after_their_retention_in_batches(
    empty_database_url,
):
    async with world(empty_database_url, external_event_retention_days=30, job_batch_size=2) as w:
        await claimed(w, 5)
        w.clock.advance(timedelta(days=29))
        await claimed(w, 1)
        assert await w.treasury.trim_external_events() == 0  # within the retention
        w.clock.advance(timedelta(days=1, seconds=1))
        assert await w.treasury.trim_external_events() == 5  # three batches of at most two
        assert await kept(w) == 1
        async with w.uow() as uow:
            # The newer one is still refused when it comes again.
            event_id = (
                await uow.connection.execute(sa.select(external_events.c.event_id))
            ).scalar_one()
            assert not await uow.external_events.claim(
                "stripe", event_id, "payment_intent.succeeded", "pi_x", w.clock.now()
            )
