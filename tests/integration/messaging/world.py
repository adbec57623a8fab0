"""Messaging on a database of the test's own, fed events through its real consumer (inbox
and all), with mail going to a mailer the test reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message

from chassis.accounts import USER_DELETED
from chassis.bus.consumer import EventConsumer
from chassis.bus.envelope import EventType, OutgoingEvent, encode_event
from chassis.bus.transport import Delivery
from chassis.clock import FrozenClock
from chassis.ids import new_id
from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.identity.v1 import events_pb2 as identity_pb
from services.messaging import events
from services.messaging.tables import mails, notifications
from services.messaging.uow import MessagingUnitOfWork
from tests.builders import built_messaging

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class MemoryMailer:
    """Keeps what it is given; down while `down` is set (as an unreachable server is)."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.down = False

    async def send(self, message: EmailMessage) -> None:
        if self.down:
            raise ConnectionRefusedError("the mail server is down")
        self.sent.append(message)


@dataclass
class OneDelivery(Delivery):
    """One delivery of an event, as a broker hands it to a consumer."""

    event: OutgoingEvent
    previous_deliveries: int = 0
    settled: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.headers = dict(self.event.headers)
        self.content_type = self.event.content_type
        self.body = self.event.body

    async def ack(self) -> None:
        self.settled.append("ack")

    async def retry(self) -> None:
        self.settled.append("retry")

    async def dead_letter(self) -> None:
        self.settled.append("dead")


def wire_event(
    event_type: EventType[Any], message: Message, subject: str = "test"
) -> OutgoingEvent:
    return encode_event(
        event_type,
        message,
        event_id=new_id(),
        source=f"/estuary/{event_type.producer}",
        subject=subject,
        time=START,
    )


def registered(user_id: str, email: str = "ana@example.com") -> identity_pb.UserRegistered:
    message = identity_pb.UserRegistered(
        user_id=user_id,
        email=email,
        full_name="Ana Sousa",
        verification_token="Vt7Ke2Qw9Lm4Rx8Pz1Hs6Dn3Jb5Fy0Ga",
    )
    message.verification_expire_time.CopyFrom(timestamp(START + timedelta(hours=48)))
    return message


def snapshot(client_id: str, practitioner_user_id: str) -> booking_pb.BookingSnapshot:
    booking = booking_pb.BookingSnapshot(
        booking_id=new_id(),
        service_id=new_id(),
        service_title="Deep tissue massage",
        practitioner_id=new_id(),
        practitioner_user_id=practitioner_user_id,
        client_id=client_id,
        time_zone="Europe/Lisbon",
        seats=1,
    )
    booking.times.add(
        start_time=timestamp(START + timedelta(days=1)),
        end_time=timestamp(START + timedelta(days=1, hours=1)),
    )
    return booking


@dataclass
class World:
    service: Any
    mailer: MemoryMailer
    clock: FrozenClock
    consumer: EventConsumer
    statuses: EventConsumer
    # messaging.partner-webhooks: events queued for partners' endpoints.
    partners: EventConsumer

    async def deliver(self, event: OutgoingEvent) -> OneDelivery:
        delivery = OneDelivery(event)
        await self.consumer.handle(delivery)
        return delivery

    async def publish(self, event_type: EventType[Any], message: Message) -> OutgoingEvent:
        """An event delivered once; returned so a test can deliver it again."""
        event = wire_event(event_type, message)
        assert (await self.deliver(event)).settled == ["ack"]
        return event

    async def register(self, email: str = "ana@example.com") -> str:
        user_id = new_id()
        await self.publish(events.USER_REGISTERED, registered(user_id, email))
        return user_id

    async def erase(self, user_id: str) -> None:
        """identity's user.deleted, through messaging's account-status consumer."""
        event = wire_event(USER_DELETED, identity_pb.UserDeleted(user_id=user_id))
        delivery = OneDelivery(event)
        await self.statuses.handle(delivery)
        assert delivery.settled == ["ack"]

    async def send_mail(self) -> int:
        return await self.service.mail.send_due()

    async def count(self, table: sa.Table, **where: Any) -> int:
        async with self.service.runtime.unit_of_work(MessagingUnitOfWork)(write=False) as uow:
            query = sa.select(sa.func.count()).select_from(table)
            for column, value in where.items():
                query = query.where(table.c[column] == value)
            return (await uow.connection.execute(query)).scalar_one()

    async def mails_to(self, user_id: str) -> int:
        return await self.count(mails, recipient_user_id=user_id)

    async def notifications_of(self, user_id: str) -> int:
        return await self.count(notifications, recipient_user_id=user_id)

    @property
    def desk(self) -> Any:
        return self.service.notifications


@asynccontextmanager
async def world(url: str, *, start: datetime = START, **settings: Any) -> AsyncIterator[World]:
    clock = FrozenClock(start)
    mailer = MemoryMailer()
    async with built_messaging(url, clock=clock, mailer=mailer, **settings) as service:
        consumers = {
            s.queue: EventConsumer(
                s,
                unit_of_work=service.runtime.unit_of_work(MessagingUnitOfWork),
                transport=service.runtime.transport,
            )
            for s in service.subscriptions
        }
        yield World(
            service,
            mailer,
            clock,
            consumers["messaging.notifications"],
            consumers["messaging.account-status"],
            consumers["messaging.partner-webhooks"],
        )
