"""The RabbitMQ transport (aio-pika): a topic exchange, quorum queues, confirms, dead letters.

Each consuming purpose gets a durable quorum queue with a delivery limit and a dead-letter
exchange; its dead letters land in "<queue>.dead". Publishes are persistent, mandatory (an
unroutable event raises instead of vanishing) and wait for the broker's confirm. Connections
are robust: after a drop they reconnect and consumers resume; unsettled messages return to
their queue and are delivered again, which the consumers' inbox absorbs.

Live broadcasts go through a second topic exchange, "<exchange>.live": each listening process
binds an exclusive, auto-deleted queue of its own (named by the client, so a reconnect
declares the same name again), and nothing is persistent or confirmed to a listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import PublishError
from pamqp.commands import Basic

from chassis.bus.envelope import OutgoingEvent
from chassis.bus.transport import (
    BroadcastHandler,
    Delivery,
    DeliveryHandler,
    Transport,
    Unroutable,
)
from chassis.ids import new_id

log = logging.getLogger(__name__)

DEAD_SUFFIX = ".dead"
RECONNECT_INTERVAL_SECONDS = 1.0


def queue_arguments(queue: str, exchange: str, delivery_limit: int) -> dict[str, Any]:
    """The arguments of a consuming queue, declared by the service that consumes from it.

    RabbitMQ refuses a redeclaration with other arguments, so every declaration of a queue
    (each replica, each restart) must come from here.
    """
    return {
        "x-queue-type": "quorum",
        # RabbitMQ 4 defaults a quorum queue's delivery limit to 20; 3.x has none, so we
        # always set it: a poison message must end in the dead-letter queue, not loop forever.
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": dead_letter_exchange(exchange),
        "x-dead-letter-routing-key": queue,
        # Dead-lettering is itself confirmed, so a message is never dropped on the way.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def live_exchange(exchange: str) -> str:
    """The topic exchange of live broadcasts, beside the events' exchange."""
    return f"{exchange}.live"


def dead_letter_exchange(exchange: str) -> str:
    """The direct exchange that carries a queue's dead letters to "<queue>.dead"."""
    return f"{exchange}.dlx"


class _RabbitDelivery(Delivery):
    def __init__(self, message: AbstractIncomingMessage) -> None:
        self._message = message
        self.headers = dict(message.headers or {})
        self.content_type = message.content_type
        self.body = message.body
        count = self.headers.get("x-delivery-count", 0)
        self.previous_deliveries = int(count) if isinstance(count, int | str) else 0

    async def ack(self) -> None:
        await self._settle(self._message.ack())

    async def retry(self) -> None:
        await self._settle(self._message.nack(requeue=True))

    async def dead_letter(self) -> None:
        await self._settle(self._message.reject(requeue=False))

    @staticmethod
    async def _settle(operation: Any) -> None:
        try:
            await operation
        except Exception as error:
            # The channel closed under us: the broker will deliver the message again.
            log.warning("could not settle a delivery; it will be redelivered: %s", error)


class RabbitTransport(Transport):
    """A service's connection to RabbitMQ: one channel to publish events (with confirms), one
    to broadcast live updates (without), one per consumer."""

    def __init__(self, url: str, exchange: str, *, delivery_limit: int) -> None:
        self._url = url
        self._exchange_name = exchange
        self._delivery_limit = delivery_limit
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._live: AbstractExchange | None = None
        self._consumer_channels: list[AbstractRobustChannel] = []

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self._url,
            reconnect_interval=RECONNECT_INTERVAL_SECONDS,
            client_properties={"connection_name": f"estuary:{self._exchange_name}"},
        )
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._publish_channel = channel  # type: ignore[assignment]
        self._exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await channel.declare_exchange(
            dead_letter_exchange(self._exchange_name), aio_pika.ExchangeType.DIRECT, durable=True
        )
        # Broadcasts are at most once (what they carry is in the database, resumable), so
        # they wait for no confirm: on the events' channel each cost the broker a confirm and
        # the publisher an ack frame to read and a future to settle.
        broadcasting = await self._connection.channel(publisher_confirms=False)
        self._live = await broadcasting.declare_exchange(
            live_exchange(self._exchange_name), aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def close(self) -> None:
        for channel in self._consumer_channels:
            if not channel.is_closed:
                await channel.close()
        self._consumer_channels.clear()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def declare_queue(self, queue: str, bindings: Sequence[str]) -> None:
        channel = self._require_channel()
        declared = await channel.declare_queue(
            queue,
            durable=True,
            arguments=queue_arguments(queue, self._exchange_name, self._delivery_limit),
        )
        for routing_key in bindings:
            await declared.bind(self._exchange_name, routing_key)
        dead = await channel.declare_queue(
            queue + DEAD_SUFFIX, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dead_letter_exchange(self._exchange_name), queue)

    async def publish(self, events: Sequence[OutgoingEvent]) -> list[BaseException | None]:
        exchange = self._exchange
        if exchange is None:
            raise RuntimeError("transport not started")
        # Pipelined: every publish is in flight at once and each awaits its own confirm.
        results = await asyncio.gather(
            *(exchange.publish(_to_message(e), e.type, mandatory=True) for e in events),
            return_exceptions=True,
        )
        outcomes: list[BaseException | None] = []
        for result in results:
            if isinstance(result, PublishError) and "NO_ROUTE" in str(result):
                outcomes.append(Unroutable(str(result)))
            elif isinstance(result, BaseException):
                outcomes.append(result)
            elif isinstance(result, Basic.Nack):
                outcomes.append(RuntimeError("the broker refused the message (nack)"))
            else:
                outcomes.append(None)
        return outcomes

    async def consume(self, queue: str, handler: DeliveryHandler, prefetch: int) -> None:
        connection = self._connection
        if connection is None:
            raise RuntimeError("transport not started")
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        self._consumer_channels.append(channel)  # type: ignore[arg-type]
        # Declared (not merely looked up) on this channel, so that after a reconnect the
        # robust channel re-declares it and resumes the consumer.
        declared = await channel.declare_queue(
            queue,
            durable=True,
            arguments=queue_arguments(queue, self._exchange_name, self._delivery_limit),
        )

        async def on_message(message: AbstractIncomingMessage) -> None:
            delivery = _RabbitDelivery(message)
            try:
                await handler(delivery)
            except Exception:
                log.exception("consumer handler raised; the message will be redelivered")
                await delivery.retry()

        await declared.consume(on_message, no_ack=False)

    async def broadcast(self, topic: str, payload: bytes) -> None:
        live = self._live
        if live is None:
            raise RuntimeError("transport not started")
        # Not mandatory: no process listening is not an error for a live update.
        await live.publish(
            aio_pika.Message(payload, delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT),
            routing_key=topic,
            mandatory=False,
        )

    async def listen(self, topic: str, handler: BroadcastHandler) -> None:
        connection = self._connection
        if connection is None:
            raise RuntimeError("transport not started")
        channel = await connection.channel()
        self._consumer_channels.append(channel)  # type: ignore[arg-type]
        queue = await channel.declare_queue(
            f"{live_exchange(self._exchange_name)}.{topic}.{new_id()}",
            exclusive=True,
            auto_delete=True,
        )
        await queue.bind(live_exchange(self._exchange_name), topic)

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                await handler(message.body)
            except Exception:
                log.exception("a listener of %s failed; that broadcast is lost to it", topic)

        await queue.consume(on_message, no_ack=True)

    def _require_channel(self) -> AbstractRobustChannel:
        if self._publish_channel is None:
            raise RuntimeError("transport not started")
        return self._publish_channel


def _to_message(event: OutgoingEvent) -> aio_pika.Message:
    return aio_pika.Message(
        body=event.body,
        headers=dict(event.headers),
        content_type=event.content_type,
        message_id=event.id,
        type=event.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
