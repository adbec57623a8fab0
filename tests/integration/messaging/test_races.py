"""Once per event and recipient under concurrency, on PostgreSQL (and SQLite): the same
event delivered many times at once makes one notification and one mail, whether the
deliveries meet at the consumer's inbox or (through two queues) at messaging's own unique
key on (event, recipient, kind)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from chassis.bus.consumer import EventConsumer
from chassis.ids import new_id
from estuary.booking.v1 import events_pb2 as booking_pb
from services.messaging import events
from services.messaging.uow import MessagingUnitOfWork
from tests.integration.messaging.world import OneDelivery, snapshot, wire_event, world
from tests.races import race

DELIVERIES = 8


async def test_concurrent_deliveries_of_one_event_make_one_notification_and_one_mail(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = await w.register("c@example.com")
        event = wire_event(
            events.BOOKING_CONFIRMED,
            booking_pb.BookingConfirmed(booking=snapshot(client, new_id())),
        )
        # A second queue of the same purpose (a replay, a renamed queue): its own inbox rows,
        # so only messaging's unique key stands between it and a second notice.
        replay = EventConsumer(
            replace(w.consumer.subscription, queue="messaging.notifications-replay"),
            unit_of_work=w.service.runtime.unit_of_work(MessagingUnitOfWork),
            transport=w.service.runtime.transport,
        )
        deliveries = [OneDelivery(event) for _ in range(DELIVERIES)]
        consumers = [w.consumer if n % 2 else replay for n in range(DELIVERIES)]
        outcome = await race(
            [partial(c.handle, d) for c, d in zip(consumers, deliveries, strict=True)]
        )
        assert outcome.losses == []
        assert [d.settled for d in deliveries] == [["ack"]] * DELIVERIES
        assert await w.notifications_of(client) == 1
        # The verification mail and the booking's.
        assert await w.mails_to(client) == 2
        await w.send_mail()
        assert sorted(m["Subject"] for m in w.mailer.sent) == [
            "Booked: Deep tissue massage",
            "Verify your email address",
        ]
