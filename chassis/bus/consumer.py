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
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode

from chassis import metrics
from chassis.bus.envelope import EventType, MalformedEvent, ReceivedEvent, decode_event
from chassis.bus.transport import Delivery, Transport
from chassis.db import insert_ignoring_conflicts
from chassis.tables import inbox
from chassis.uow import UnitOfWork

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

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


async def claim_inbox(uow: UnitOfWork, consumer: str, event_id: str, event_type: str) -> bool:
    """Claims an event for a consumer in the unit of work (the inbox row commits with the
    effect); False when it was claimed before: a redelivery, to change nothing."""
    inserted = await uow.connection.execute(
        _inbox_insert(uow.dialect),
        {
            "consumer": consumer,
            "event_id": event_id,
            "event_type": event_type,
            "received_at": uow.clock.now(),
        },
    )
    return inserted.first() is not None


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
        delivery_limit: int | None = None,
    ) -> None:
        self.subscription = subscription
        self._unit_of_work = unit_of_work
        self._transport = transport
        self._prefetch = prefetch
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._keep_applied_ids = keep_applied_ids
        # The queue's limit: a failure on the delivery that reaches it is dead-lettered.
        self._delivery_limit = delivery_limit
        self._registry: dict[str, EventType[Message]] = {e.name: e for e in subscription.events}
        self.stats = ConsumerStats()
        queue = subscription.queue
        self._attributes = metrics.attributes_cache(
            lambda event_type: {"queue": queue, "event_type": event_type}
        )

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
        """Applies one delivery exactly once, or leaves it for redelivery.

        The work runs in a consumer span whose parent is the span that published the event
        (its traceparent), so one trace runs from the request that caused the event to here.
        """
        started = time.perf_counter()
        try:
            event = decode_event(
                delivery.headers, delivery.content_type, delivery.body, self._registry
            )
        except MalformedEvent as error:
            self.stats.malformed += 1
            claimed = delivery.headers.get("ce-type", "")
            claimed = claimed.decode() if isinstance(claimed, bytes) else str(claimed)
            # Only a subscribed type names a series: the header of a bad message is anything.
            event_type = claimed if claimed in self._registry else ""
            metrics.consumer_dead_lettered.add(
                1, {"queue": self.queue, "event_type": event_type, "reason": "malformed"}
            )
            log.error("malformed event dead-lettered: %s", error, extra={"queue": self.queue})
            await delivery.dead_letter()
            return
        attributes = self._attributes(event.type)
        traceparent = event.extensions.get("traceparent")
        parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
        with _tracer.start_as_current_span(
            f"process {event.type}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "messaging.destination.name": event.type,
                "messaging.consumer.group.name": self.queue,
                "messaging.message.id": event.id,
            },
            record_exception=False,
        ) as span:
            failed = await self._apply(event, delivery, attributes)
            if failed:
                span.set_status(StatusCode.ERROR)
        metrics.consumer_duration.record(time.perf_counter() - started, attributes)
        if failed:
            delay = min(self._backoff * 2**delivery.previous_deliveries, self._backoff_max)
            await asyncio.sleep(delay)
            await delivery.retry()
            return
        await delivery.ack()

    async def _apply(
        self, event: ReceivedEvent[Message], delivery: Delivery, attributes: dict[str, Any]
    ) -> bool:
        """Runs the handler with the inbox row in one unit of work; whether it failed."""
        try:
            async with self._unit_of_work() as uow:
                if not await claim_inbox(uow, self.queue, event.id, event.type):
                    self.stats.duplicates += 1
                    metrics.consumer_duplicates.add(1, attributes)
                else:
                    await self.subscription.handler(uow, event)
                    await uow.commit()
                    self.stats.applied += 1
                    metrics.consumer_applied.add(1, attributes)
                    if self._keep_applied_ids:
                        self.stats.applied_ids.append(event.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.failures += 1
            metrics.consumer_failures.add(1, attributes)
            last = (
                self._delivery_limit is not None
                and delivery.previous_deliveries >= self._delivery_limit
            )
            if last:
                metrics.consumer_dead_lettered.add(
                    1, {"queue": self.queue, "event_type": event.type, "reason": "failed"}
                )
            log.exception(
                "event handler failed; it will be dead-lettered"
                if last
                else "event handler failed; it will be redelivered",
                extra={
                    "queue": self.queue,
                    "event_id": event.id,
                    "event_type": event.type,
                    "previous_deliveries": delivery.previous_deliveries,
                },
            )
            return True
        return False
