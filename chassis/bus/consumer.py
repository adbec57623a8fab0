"""Idempotent consumers: the inbox row and the handler's effect commit together, then ack.

A delivery is acknowledged only after its transaction commits. A duplicate (same consumer,
same event id) finds its inbox row and changes nothing. A failing handler rolls back, waits
(exponential backoff) and asks for redelivery; past the delivery limit the broker
dead-letters the message. A message that is not a readable event goes straight to the
dead-letter queue. Nothing is ever acknowledged as if it had worked.

Deliveries that arrive while a transaction is being applied wait, and are then applied
together: one transaction, one inbox insert for all of them, the handlers in the order of
arrival, one commit, then each acknowledged. Under load this turns a transaction per event
into a transaction per batch (at most the prefetch); when events come one at a time each is
applied at once, as before. Should any handler of a batch fail, the batch rolls back and
each of its events is applied again in a transaction of its own, so one bad event delays
the others a little and fails alone. A handler may therefore run more than once for an
event whose effect is kept only once: what it does outside the transaction must be safe to
repeat (calls to outside parties carry idempotency keys; notices wait for `after_commit`).
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
from chassis.driver_sql import Driver, DriverStatement
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
    """The inbox rows that claim a batch of events; built once per dialect, not per batch."""
    # RETURNING, not rowcount: drivers disagree on rowcount for INSERT.
    return insert_ignoring_conflicts(dialect, inbox, ["consumer", "event_id"]).returning(
        inbox.c.event_id
    )


# One event's claim, the usual case, on the driver: SQLAlchemy's own work for this one
# INSERT cost more CPU than its round trip.
_CLAIM_ONE = DriverStatement(
    "INSERT INTO inbox (consumer, event_id, event_type, received_at)"
    " VALUES (:consumer, :event_id, :event_type, :received_at)"
    " ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id"
)


async def claim_inbox(uow: UnitOfWork, consumer: str, event_id: str, event_type: str) -> bool:
    """Claims an event for a consumer in the unit of work (the inbox row commits with the
    effect); False when it was claimed before: a redelivery, to change nothing."""
    driver = Driver(uow.connection)
    inserted = await driver.execute(
        _CLAIM_ONE,
        {
            "consumer": consumer,
            "event_id": event_id,
            "event_type": event_type,
            "received_at": driver.bind(inbox.c.received_at.type, uow.clock.now()),
        },
    )
    return bool(inserted)


async def claim_inbox_batch(
    uow: UnitOfWork, consumer: str, events: Sequence[ReceivedEvent[Any]]
) -> set[str]:
    """Claims many events in one statement; the ids of those not claimed before."""
    now = uow.clock.now()
    inserted = await uow.connection.execute(
        _inbox_insert(uow.dialect),
        [
            {"consumer": consumer, "event_id": e.id, "event_type": e.type, "received_at": now}
            for e in events
        ],
    )
    return set(inserted.scalars())


@dataclass(eq=False)
class _Waiting:
    """A decoded delivery waiting for the next batch, and where its outcome goes."""

    event: ReceivedEvent[Message]
    delivery: Delivery
    attributes: dict[str, Any]
    # True once it failed and must be retried.
    outcome: asyncio.Future[bool]


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
        self._waiting: list[_Waiting] = []
        self._batch: list[_Waiting] = []
        self._applying: asyncio.Task[None] | None = None
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
        """Applies one delivery exactly once (alone, or in the batch it waits for), or
        leaves it for redelivery."""
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
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(event, delivery, attributes, outcome))
        if self._applying is None:
            self._applying = asyncio.create_task(self._apply_waiting())
        try:
            failed = await outcome
        except asyncio.CancelledError:
            await self._stop_applying_if_abandoned()
            raise
        metrics.consumer_duration.record(time.perf_counter() - started, attributes)
        if failed:
            delay = min(self._backoff * 2**delivery.previous_deliveries, self._backoff_max)
            await asyncio.sleep(delay)
            await delivery.retry()
            return
        await delivery.ack()

    async def _stop_applying_if_abandoned(self) -> None:
        """When every delivery in hand was taken back (the transport is closing), stops the
        batch being applied, whose transaction rolls back, and waits until it has."""
        applying = self._applying
        if applying is None:
            return
        if all(w.outcome.cancelled() for w in (*self._batch, *self._waiting)):
            applying.cancel()
            await asyncio.wait([applying])

    async def _apply_waiting(self) -> None:
        """Applies what waits, a batch at a time, until nothing does."""
        try:
            while self._waiting:
                self._batch, self._waiting = self._waiting, []
                batch = self._batch
                if len(batch) == 1:
                    only = batch[0]
                    _settle(only, await self._apply(only.event, only.delivery, only.attributes))
                    continue
                if await self._apply_together(batch):
                    continue
                log.info(
                    "a batch of %d events failed; applying each alone",
                    len(batch),
                    extra={"queue": self.queue},
                )
                for waiting in batch:
                    _settle(
                        waiting,
                        await self._apply(waiting.event, waiting.delivery, waiting.attributes),
                    )
        finally:
            # Stopped with work in hand: it is retried, never acknowledged.
            for waiting in (*self._batch, *self._waiting):
                _settle(waiting, True)
            self._applying = None
            self._batch = []
            self._waiting = []

    async def _apply_together(self, batch: list[_Waiting]) -> bool:
        """Applies a batch in one unit of work; False (nothing kept) if any handler failed."""
        try:
            async with self._unit_of_work() as uow:
                claimed = await claim_inbox_batch(uow, self.queue, [w.event for w in batch])
                applied: list[_Waiting] = []
                for waiting in batch:
                    if waiting.event.id in claimed:
                        # The same event delivered twice in one batch is applied once.
                        claimed.discard(waiting.event.id)
                        with self._span(waiting.event):
                            await self.subscription.handler(uow, waiting.event)
                        applied.append(waiting)
                await uow.commit()
        except asyncio.CancelledError:
            raise
        except Exception:
            return False
        for waiting in batch:
            if waiting in applied:
                self._count_applied(waiting.event, waiting.attributes)
            else:
                self.stats.duplicates += 1
                metrics.consumer_duplicates.add(1, waiting.attributes)
            _settle(waiting, False)
        return True

    def _span(self, event: ReceivedEvent[Message]) -> Any:
        """A consumer span whose parent is the span that published the event (its
        traceparent), so one trace runs from the request that caused the event to here."""
        traceparent = event.extensions.get("traceparent")
        parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
        return _tracer.start_as_current_span(
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
        )

    def _count_applied(self, event: ReceivedEvent[Message], attributes: dict[str, Any]) -> None:
        self.stats.applied += 1
        metrics.consumer_applied.add(1, attributes)
        if self._keep_applied_ids:
            self.stats.applied_ids.append(event.id)

    async def _apply(
        self, event: ReceivedEvent[Message], delivery: Delivery, attributes: dict[str, Any]
    ) -> bool:
        """Runs the handler with the inbox row in one unit of work; whether it failed."""
        try:
            with self._span(event) as span:
                try:
                    async with self._unit_of_work() as uow:
                        if not await claim_inbox(uow, self.queue, event.id, event.type):
                            self.stats.duplicates += 1
                            metrics.consumer_duplicates.add(1, attributes)
                        else:
                            await self.subscription.handler(uow, event)
                            await uow.commit()
                            self._count_applied(event, attributes)
                except Exception:
                    span.set_status(StatusCode.ERROR)
                    raise
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


def _settle(waiting: _Waiting, failed: bool) -> None:
    if not waiting.outcome.done():
        waiting.outcome.set_result(failed)
