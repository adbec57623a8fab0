"""The in-process broker of the embedded mode, with RabbitMQ's semantics as we use them.

Topic routing, one queue per consuming purpose, unroutable publishes refused, at most
`prefetch` unsettled deliveries per consumer, redelivery on retry with a delivery count, and
dead-lettering once a message has failed more than the delivery limit (as a quorum queue with
x-delivery-limit does). Messages live in memory: this is the development and test transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from chassis.bus.envelope import OutgoingEvent
from chassis.bus.transport import Delivery, DeliveryHandler, Transport, Unroutable, topic_matches

log = logging.getLogger(__name__)


@dataclass
class _Message:
    routing_key: str
    headers: dict[str, object]
    content_type: str
    body: bytes
    previous_deliveries: int = 0


@dataclass
class _Queue:
    name: str
    bindings: set[str] = field(default_factory=set)
    ready: deque[_Message] = field(default_factory=deque)
    dead: list[_Message] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    unacked: int = 0
    consumed: bool = False


class InMemoryBroker:
    """One broker shared by every service of an embedded suite."""

    def __init__(self, delivery_limit: int = 5) -> None:
        self.delivery_limit = delivery_limit
        self.queues: dict[str, _Queue] = {}

    def declare_queue(self, name: str, bindings: Sequence[str]) -> None:
        """Declares (or extends) a queue and its bindings."""
        queue = self.queues.setdefault(name, _Queue(name))
        queue.bindings.update(bindings)

    def route(self, event: OutgoingEvent) -> None:
        """Copies the event into every queue bound to its type, or refuses it."""
        targets = [
            q for q in self.queues.values() if any(topic_matches(b, event.type) for b in q.bindings)
        ]
        if not targets:
            raise Unroutable(f"no queue is bound for {event.type}")
        for queue in targets:
            queue.ready.append(
                _Message(event.type, dict(event.headers), event.content_type, event.body)
            )
            queue.arrived.set()

    def dead_letters(self, queue: str) -> list[_Message]:
        """What a queue has dead-lettered so far."""
        return self.queues[queue].dead

    async def drain(self, within: float) -> bool:
        """Waits until every queue is empty and settled; False if the time ran out first.

        Messages here live in memory: stopping with some still queued would lose them, so a
        clean stop waits for the consumers to finish first.
        """
        deadline = asyncio.get_running_loop().time() + within
        while any(q.ready or q.unacked for q in self.queues.values() if q.consumed):
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def depth(self, queue: str) -> int:
        """Messages waiting or unsettled in a queue."""
        q = self.queues[queue]
        return len(q.ready) + q.unacked


class _MemoryDelivery(Delivery):
    def __init__(self, broker: InMemoryBroker, queue: _Queue, message: _Message) -> None:
        self._broker = broker
        self._queue = queue
        self._message = message
        self._settled = False
        self.headers = dict(message.headers)
        if message.previous_deliveries:
            self.headers["x-delivery-count"] = message.previous_deliveries
        self.content_type = message.content_type
        self.body = message.body
        self.previous_deliveries = message.previous_deliveries
        self.done = asyncio.Event()

    def _settle(self) -> bool:
        if self._settled:
            return False
        self._settled = True
        self._queue.unacked -= 1
        self.done.set()
        return True

    async def ack(self) -> None:
        self._settle()

    async def retry(self) -> None:
        if not self._settle():
            return
        self._message.previous_deliveries += 1
        if self._message.previous_deliveries > self._broker.delivery_limit:
            self._queue.dead.append(self._message)
            log.error(
                "event dead-lettered after too many failed deliveries",
                extra={"queue": self._queue.name, "event_type": self._message.routing_key},
            )
        else:
            self._queue.ready.append(self._message)
            self._queue.arrived.set()

    async def dead_letter(self) -> None:
        if self._settle():
            self._queue.dead.append(self._message)


class InMemoryTransport(Transport):
    """A service's connection to the in-process broker."""

    def __init__(self, broker: InMemoryBroker) -> None:
        self.broker = broker
        self._consumers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for task in self._consumers:
            task.cancel()
        for task in self._consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._consumers.clear()

    async def declare_queue(self, queue: str, bindings: Sequence[str]) -> None:
        self.broker.declare_queue(queue, bindings)

    async def publish(self, events: Sequence[OutgoingEvent]) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        for event in events:
            try:
                self.broker.route(event)
                outcomes.append(None)
            except Unroutable as error:
                outcomes.append(error)
        return outcomes

    async def consume(self, queue: str, handler: DeliveryHandler, prefetch: int) -> None:
        self.broker.queues[queue].consumed = True
        task = asyncio.create_task(self._deliver(self.broker.queues[queue], handler, prefetch))
        self._consumers.append(task)

    async def _deliver(self, queue: _Queue, handler: DeliveryHandler, prefetch: int) -> None:
        slots = asyncio.Semaphore(prefetch)
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                if not queue.ready:
                    queue.arrived.clear()
                    await queue.arrived.wait()
                    continue
                await slots.acquire()
                if not queue.ready:
                    slots.release()
                    continue
                message = queue.ready.popleft()
                queue.unacked += 1
                delivery = _MemoryDelivery(self.broker, queue, message)
                task = asyncio.create_task(self._handle(handler, delivery, slots))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        except asyncio.CancelledError:
            for task in list(in_flight):
                task.cancel()
            raise

    async def _handle(
        self, handler: DeliveryHandler, delivery: _MemoryDelivery, slots: asyncio.Semaphore
    ) -> None:
        try:
            await handler(delivery)
        except asyncio.CancelledError:
            # A consumer stopped mid-delivery: like a closed channel, the message returns.
            if not delivery.done.is_set():
                await delivery.retry()
            raise
        except Exception:
            log.exception("consumer handler raised; the message will be redelivered")
            await delivery.retry()
        finally:
            if not delivery.done.is_set():
                await delivery.retry()
            slots.release()
