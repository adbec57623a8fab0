"""Once per event and recipient under concurrency, on PostgreSQL (and SQLite): the same
event delivered many times at once makes one notification, one mail, one text and one push,
whether the deliveries meet at the consumer's inbox or (through two queues) at messaging's
own unique keys; senders running at once send each once; a user's devices stay bounded."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from chassis.bus.consumer import EventConsumer
from chassis.bus.envelope import OutgoingEvent
from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.ids import new_id
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.messaging.v1 import messaging_pb2 as pb
from services.messaging import events
from services.messaging.domain.contacts import PushPlatform
from services.messaging.domain.notifications import Kind
from services.messaging.tables import channel_deliveries
from services.messaging.uow import MessagingUnitOfWork
from tests.builders import outbox_messages, person
from tests.integration.messaging.test_channels import confirmed, providers, with_phone
from tests.integration.messaging.test_conversations import practitioner
from tests.integration.messaging.world import (
    OneDelivery,
    World,
    snapshot,
    wire_event,
    world,
)
from tests.integration.test_media import PNG, folder_settings, gateway_client
from tests.races import race

DELIVERIES = 8
SENDS = 6


async def delivered_at_once(w: World, event: OutgoingEvent) -> list[OneDelivery]:
    """One event delivered many times at once, half of them through a second queue of the
    same purpose (a replay, a renamed queue): its own inbox rows, so only messaging's unique
    keys stand between it and a second notice."""
    replay = EventConsumer(
        replace(w.consumer.subscription, queue="messaging.notifications-replay"),
        unit_of_work=w.service.runtime.unit_of_work(MessagingUnitOfWork),
        transport=w.service.runtime.transport,
    )
    deliveries = [OneDelivery(event) for _ in range(DELIVERIES)]
    consumers = [w.consumer if n % 2 else replay for n in range(DELIVERIES)]
    outcome = await race([partial(c.handle, d) for c, d in zip(consumers, deliveries, strict=True)])
    assert outcome.losses == []
    return deliveries


async def test_concurrent_deliveries_of_one_event_make_one_notification_and_one_mail(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = await w.register("c@example.com")
        event = wire_event(
            events.BOOKING_CONFIRMED,
            booking_pb.BookingConfirmed(booking=snapshot(client, new_id())),
        )
        deliveries = await delivered_at_once(w, event)
        assert [d.settled for d in deliveries] == [["ack"]] * DELIVERIES
        assert await w.notifications_of(client) == 1
        # The verification mail and the booking's.
        assert await w.mails_to(client) == 2
        await w.send_mail()
        assert sorted(m["Subject"] for m in w.mailer.sent) == [
            "Booked: Deep tissue massage",
            "Verify your email address",
        ]


async def test_one_upload_sent_in_many_messages_at_once_goes_in_one(empty_database_url, tmp_path):
    folder = tmp_path / "media"
    async with world(empty_database_url, media=folder_settings(folder)) as w:
        desk = w.service.conversations
        pat, ana = person(await practitioner(w)), person(new_id())
        name = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        form = await desk.upload_attachment(ana, name, "image/png")
        async with gateway_client(folder, w.clock) as http:
            uploaded = await http.post(
                form.url, data=form.fields, files={"file": ("a.png", PNG, "image/png")}
            )
        assert uploaded.status_code == 204
        outcome = await race(
            [partial(desk.send, ana, name, f"Try {n}", "", [form.key]) for n in range(SENDS)]
        )
        sent = outcome.one_winner(losers=(InvalidArgument,))
        [refused] = {str(e) for e in outcome.losses}
        assert refused.startswith("attachments[0]")
        [carrier] = [m for m in (await desk.messages(pat, name, 0, "")).items if m.attachments]
        assert carrier.id == sent.id
        assert (await desk.messages(pat, name, 0, "")).total == 1


async def test_concurrent_deliveries_and_senders_text_and_push_each_once(empty_database_url):
    async with world(empty_database_url) as w:
        sms, push = providers(w)
        client = await w.register("c@example.com")
        await with_phone(w, client, sms_for=Kind.BOOKING_CONFIRMED)
        await w.desk.register_device(person(client), PushPlatform.IOS, "apns-token")
        event = wire_event(events.BOOKING_CONFIRMED, confirmed(client))
        await delivered_at_once(w, event)
        assert await w.count(channel_deliveries, recipient_user_id=client) == 2
        senders = await race([w.service.channels_out.send_due for _ in range(SENDS)])
        assert senders.losses == []
        assert sum(senders.wins) == 2
        assert [type(m).__name__ for m in sms.sent + push.sent] == ["TextMessage", "PushMessage"]
        delivered = await outbox_messages(
            w.service.runtime.database, events.NOTIFICATION_DELIVERED, f"users/{client}"
        )
        assert sorted(d.channel for d in delivered) == [
            pb.CHANNEL_IN_APP,
            pb.CHANNEL_SMS,
            pb.CHANNEL_PUSH,
        ]


async def test_concurrent_device_registrations_keep_the_bound_and_one_device_per_token(
    empty_database_url,
):
    async with world(empty_database_url, push_devices_per_user=3) as w:
        desk, ana = w.desk, person(new_id())
        same = await race(
            [partial(desk.register_device, ana, PushPlatform.WEB, "one-token") for _ in range(4)]
        )
        assert same.losses == []
        assert len({d.id for d in same.wins}) == 1
        many = await race(
            [
                partial(desk.register_device, ana, PushPlatform.WEB, f"token-{n}")
                for n in range(SENDS)
            ]
        )
        assert len(many.wins) == 2
        assert all(isinstance(e, FailedPrecondition) for e in many.losses)
        assert len(await desk.devices(ana)) == 3
