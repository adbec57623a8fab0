"""Idempotent consumers: the inbox row and the handler's effect commit together, then ack.

A delivery is acknowledged only after its transaction commits. A duplicate (same consumer,
same event id) finds its inbox row and changes nothing. A failing handler rolls back, waits
(exponential backoff) and asks for redelivery; past the delivery limit the broker
dead-letters the message. A message that is not a readable event goes straight to the
dead-letter queue. Nothing is ever acknowledged as if it had worked.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message

from chassis.bus.envelope import EventType, MalformedEvent, ReceivedEvent, decode_event
from chassis.bus.transport import Delivery, Transport
from chassis.db import insert_ignoring_conflicts
from chassis.tables import inbox
from chassis.uow import UnitOfWork

log = logging.getLogger(__name__)

EventHandler = Callable[[Any, ReceivedEvent[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """A consuming purpose: a durable queue named "<service>.<purpose>" and its handler."""

    queue: str
    events: Sequence[EventType[Any]]
    handler: EventHandler
    description: str = ""


@dataclass
class ConsumerStats:
    """What a consumer has done since it started."""

    applied: int = 0
    duplicates: int = 0
    failures: int = 0
    malformed: int = 0
    applied_ids: list[str] = field(default_factory=list)


@functools.cache
def _inbox_insert(dialect: str) -> sa.Insert:
    """The inbox row that claims an event; built once per dialect, not per delivery."""
    # RETURNING, not rowcount: drivers disagree on rowcount for INSERT.
    return insert_ignoring_conflicts(dialect, inbox, ["consumer", "event_id"]).returning(
        inbox.c.event_id
    )


class EventConsumer:
    """Runs one subscription against the bus."""

    def __init__(
        self,
        subscription: Subscription,
        *,
        unit_of_work: Callable[[], UnitOfWork],
        transport: Transport,
        prefetch: int = 32,
        backoff: float = 0.2,
        backoff_max: float = 5.0,
        keep_applied_ids: bool = False,
    ) -> None:
        self.subscription = subscription
        self._unit_of_work = unit_of_work
        self._transport = transport
        self._prefetch = prefetch
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._keep_applied_ids = keep_applied_ids
        self._registry: dict[str, EventType[Message]] = {e.name: e for e in subscription.events}
        self.stats = ConsumerStats()

    @property
    def queue(self) -> str:
        return self.subscription.queue

    async def declare(self) -> None:
        """Declares the queue and binds it to the subscribed event types."""
        await self._transport.declare_queue(self.queue, list(self._registry))

    async def start(self) -> None:
        """Declares the queue and starts consuming."""
        await self.declare()
        await self._transport.consume(self.queue, self.handle, self._prefetch)

    async def handle(self, delivery: Delivery) -> None:
        """Applies one delivery exactly once, or leaves it for redelivery."""
        try:
            event = decode_event(
                delivery.headers, delivery.content_type, delivery.body, self._registry
            )
        except MalformedEvent as error:
            self.stats.malformed += 1
            log.error("malformed event dead-lettered: %s", error, extra={"queue": self.queue})
            await delivery.dead_letter()
            return
        try:
            async with self._unit_of_work() as uow:
                inserted = await uow.connection.execute(
                    _inbox_insert(uow.dialect),
                    {
                        "consumer": self.queue,
                        "event_id": event.id,
                        "event_type": event.type,
                        "received_at": uow.clock.now(),
                    },
                )
                if inserted.first() is None:
                    self.stats.duplicates += 1
                else:
                    await self.subscription.handler(uow, event)
                    await uow.commit()
                    self.stats.applied += 1
                    if self._keep_applied_ids:
                        self.stats.applied_ids.append(event.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.failures += 1
            log.exception(
                "event handler failed; it will be redelivered",
                extra={
                    "queue": self.queue,
                    "event_id": event.id,
                    "event_type": event.type,
                    "previous_deliveries": delivery.previous_deliveries,
                },
            )
            delay = min(self._backoff * 2**delivery.previous_deliveries, self._backoff_max)
            await asyncio.sleep(delay)
            await delivery.retry()
            return
        await delivery.ack()
