"""A tiny service for bus tests: a database with the chassis tables, an effects table, a relay
and a consumer whose handler records each event it applies."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aio_pika
import sqlalchemy as sa

from chassis.bus.consumer import EventConsumer, Subscription
from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import EventType, ReceivedEvent
from chassis.bus.outbox import OutboxRelay
from chassis.bus.rabbitmq import DEAD_SUFFIX, RabbitTransport
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.db import Database
from chassis.tables import metadata as chassis_metadata
from chassis.tables import outbox
from chassis.uow import UnitOfWork
from estuary.identity.v1 import events_pb2

THING_HAPPENED = EventType("thing.happened", events_pb2.UserDeleted, "tests")
POISON = EventType("thing.poisoned", events_pb2.UserDeleted, "tests")

test_metadata = sa.MetaData()
effects = sa.Table(
    "effects",
    test_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False, server_default=""),
)


async def create_schema(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(chassis_metadata.create_all)
        await connection.run_sync(test_metadata.create_all)


@dataclass
class Flaky:
    """Makes the handler fail for chosen payloads a number of times."""

    failures_left: dict[str, int] = field(default_factory=dict)
    always_fail: set[str] = field(default_factory=set)


@dataclass
class BusHarness:
    database: Database
    transport: Transport
    queue: str
    clock: Clock = field(default_factory=Clock)
    flaky: Flaky = field(default_factory=Flaky)
    broker: EmbeddedBroker | None = None
    rabbit_url: str = ""

    def __post_init__(self) -> None:
        self.relay = OutboxRelay(
            self.database,
            self.transport,
            clock=self.clock,
            batch_size=200,
            poll_interval=0.2,
            sweep_grace=timedelta(milliseconds=500),
        )
        self.consumer = EventConsumer(
            Subscription(self.queue, [THING_HAPPENED, POISON], self.apply),
            unit_of_work=self.unit_of_work,
            transport=self.transport,
            prefetch=32,
            backoff=0.01,
            backoff_max=0.05,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(
            self.database,
            source="/estuary/tests",
            clock=self.clock,
            on_events_committed=self.relay.notify,
        )

    async def apply(self, uow: UnitOfWork, event: ReceivedEvent) -> None:
        user_id = event.message.user_id
        if user_id in self.flaky.always_fail:
            raise RuntimeError(f"poison {user_id}")
        left = self.flaky.failures_left.get(user_id, 0)
        if left:
            self.flaky.failures_left[user_id] = left - 1
            raise RuntimeError(f"transient failure for {user_id}")
        await uow.connection.execute(
            effects.insert().values(event_id=event.id, user_id=user_id, subject=event.subject)
        )

    async def start(self, *, relay: bool = True, consume: bool = True) -> None:
        await self.transport.start()
        if consume:
            await self.consumer.start()
        else:
            await self.consumer.declare()
        if relay:
            self._tasks.append(asyncio.create_task(self.relay.run()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.transport.close()

    async def emit(self, user_id: str, event_type: EventType = THING_HAPPENED) -> str:
        async with self.unit_of_work() as uow:
            event_id = uow.emit(
                event_type, events_pb2.UserDeleted(user_id=user_id), subject=f"users/{user_id}"
            )
            await uow.commit()
        return event_id

    async def applied(self) -> dict[str, int]:
        """How many times each payload was applied."""
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(effects.c.user_id, sa.func.count()).group_by(effects.c.user_id)
            )
            return {r[0]: r[1] for r in rows}

    async def effects_of(self, user_id: str) -> list[tuple[str, str]]:
        """The event id and subject of each effect applied for a payload."""
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(effects.c.event_id, effects.c.subject).where(effects.c.user_id == user_id)
            )
            return [(r.event_id, r.subject) for r in rows]

    async def unpublished(self) -> int:
        async with self.database.engine.connect() as connection:
            return (
                await connection.execute(
                    sa.select(sa.func.count())
                    .select_from(outbox)
                    .where(outbox.c.published_at.is_(None))
                )
            ).scalar_one()

    async def dead_letters(self) -> int:
        if self.broker is not None:
            return len(self.broker.dead_letters(self.queue))
        connection = await aio_pika.connect(self.rabbit_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue + DEAD_SUFFIX, passive=True)
            return queue.declaration_result.message_count or 0

    async def wait_until(
        self, condition: Callable[[], Awaitable[bool]], timeout: float = 20.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not await condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.05)


def embedded_transport(
    bus_file: Path, delivery_limit: int = 3
) -> tuple[EmbeddedTransport, EmbeddedBroker]:
    broker = EmbeddedBroker(bus_file, delivery_limit=delivery_limit)
    return EmbeddedTransport(broker), broker


def rabbit_transport(url: str, exchange: str, delivery_limit: int = 3) -> RabbitTransport:
    return RabbitTransport(url, exchange, delivery_limit=delivery_limit)
