"""Streams built on a database of the test's own (nothing started): its handlers run on the
real unit of work, against SQLite or PostgreSQL, on a clock the test moves; with a fake
LiveKit over HTTP for its video rooms, and other services' events through its consumers."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import Message

from chassis.auth.principal import Principal, Role
from chassis.bus.consumer import EventConsumer
from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import EventType
from chassis.clock import FrozenClock
from chassis.ids import new_id
from chassis.media import MediaSettings
from chassis.migrations import upgrade
from chassis.money import Money
from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.catalog.v1 import catalog_pb2
from estuary.payments.v1 import events_pb2 as payments_pb
from services.streams import bootstrap
from services.streams.bootstrap import StreamsService
from services.streams.domain.streams import FREE_LEVEL, Follow
from services.streams.settings import StreamsSettings
from services.streams.uow import StreamsUnitOfWork
from tests.builders import person
from tests.fakes.livekit import API_KEY, API_SECRET, FakeLiveKit
from tests.integration.messaging.world import OneDelivery, wire_event

# How long join tokens last in these tests.
TTL = 300

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def practitioner() -> Principal:
    return person(None, Role.CLIENT, Role.PRACTITIONER)


@asynccontextmanager
async def built_streams(
    url: str, clock: FrozenClock, **settings: Any
) -> AsyncIterator[StreamsService]:
    """Streams on its migrated database, on the test's clock, with these settings (LiveKit's,
    say), its posts' media in a folder store of its own unless given `media`; nothing is
    started."""
    await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, url)
    with tempfile.TemporaryDirectory(prefix="estuary-media-") as folder:
        settings.setdefault("media", MediaSettings(folder=folder, signing_secret=new_id()))
        service = bootstrap.build(
            StreamsSettings(database_url=url, grpc_port=0, **settings),
            transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)),
            clock=clock,
        )
        try:
            yield service
        finally:
            await service.runtime.database.dispose()
            await service.rooms.video.close()
            await service.media.store.close()
            for channel in service.channels:
                await channel.close()


async def follow_at(service: StreamsService, stream_id: str, reader: Principal, level: int) -> None:
    """The reader follows the stream, then at a paid level, as payments will set it once paid."""
    async with service.runtime.unit_of_work(StreamsUnitOfWork)() as uow:
        await uow.follows.add(Follow(stream_id, reader.user_id, FREE_LEVEL, START))
        await uow.follows.set_level(stream_id, reader.user_id, level, START)
        await uow.commit()


async def live_on(service: StreamsService, level: int = 1):
    """A stream with a paid tier whose owner is live for `level` and above."""
    owner = practitioner()
    stream = await service.desk.create_stream(owner, "Breath", "")
    await service.desk.create_tier(owner, f"streams/{stream.id}", "Friends", Money(500, "EUR"))
    live = await service.rooms.start_live(owner, f"streams/{stream.id}", level)
    return owner, stream, live


@asynccontextmanager
async def on_livekit(
    url: str, clock: FrozenClock, secret: str = API_SECRET
) -> AsyncIterator[tuple[StreamsService, FakeLiveKit]]:
    """Streams configured for the fake LiveKit (signing with `secret`), its webhooks
    delivered to streams' handler as the gateway would hand them on."""
    fake = FakeLiveKit()
    await fake.start()
    try:
        async with built_streams(
            url,
            clock,
            livekit_url=fake.url,
            livekit_api_key=API_KEY,
            livekit_api_secret=secret,
            room_token_ttl_seconds=TTL,
        ) as service:
            fake.deliver = service.rooms.receive_webhook
            yield service, fake
    finally:
        await fake.stop()


async def consume(
    service: StreamsService, queue: str, event_type: EventType[Any], message: Message
):
    """One event through streams' real consumer of that queue; how it was settled."""
    subscription = next(s for s in service.subscriptions if s.queue == queue)
    consumer = EventConsumer(
        subscription,
        unit_of_work=service.runtime.unit_of_work(StreamsUnitOfWork),
        transport=service.runtime.transport,
    )
    delivery = OneDelivery(wire_event(event_type, message))
    await consumer.handle(delivery)
    return delivery


def snapshot(
    booking_id: str,
    practitioner_user_id: str,
    client_id: str,
    start: datetime,
    *,
    virtual: bool = True,
) -> booking_pb.BookingSnapshot:
    kind = catalog_pb2.LOCATION_KIND_VIRTUAL if virtual else catalog_pb2.LOCATION_KIND_IN_PERSON
    return booking_pb.BookingSnapshot(
        booking_id=booking_id,
        practitioner_id=person().user_id,
        practitioner_user_id=practitioner_user_id,
        client_id=client_id,
        times=[
            booking_pb.BookedTime(
                start_time=timestamp(start), end_time=timestamp(start + timedelta(hours=1))
            )
        ],
        location_kind=kind,
    )


def changed(
    stream: str,
    user_id: str,
    sequence: int,
    granted_level: int,
    *,
    subscription: str = "",
    level: int = 1,
    **fields: object,
) -> payments_pb.StreamSubscriptionChanged:
    """stream_subscription.changed of a subscription to `level`, granting `granted_level`
    (active when it grants it, past due otherwise), with some fields changed."""
    message = payments_pb.StreamSubscriptionChanged(
        subscription=subscription or f"streamSubscriptions/{new_id()}",
        user_id=user_id,
        stream=stream,
        level=level,
        granted_level=granted_level,
        status=payments_pb.STREAM_SUBSCRIPTION_STATUS_ACTIVE
        if granted_level
        else payments_pb.STREAM_SUBSCRIPTION_STATUS_PAST_DUE,
        current_period_end_time=timestamp(START + timedelta(days=30)),
        sequence=sequence,
        change_time=timestamp(START),
    )
    for name, value in fields.items():
        if isinstance(value, Message):
            getattr(message, name).CopyFrom(value)
        else:
            setattr(message, name, value)
    return message
