"""What a bus transport must do; RabbitMQ and the in-process broker both do exactly this."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache

from chassis.bus.envelope import OutgoingEvent


class Unroutable(Exception):
    """No queue is bound for this event: an error, never a silent drop."""


class Delivery(ABC):
    """One delivery of a message to a consumer; it must be settled exactly once."""

    headers: dict[str, object]
    content_type: str | None
    body: bytes
    # How many times this message was delivered before and not acknowledged.
    previous_deliveries: int

    @abstractmethod
    async def ack(self) -> None:
        """Done: the effect is committed; the broker forgets the message."""

    @abstractmethod
    async def retry(self) -> None:
        """Not done: deliver again later; past the delivery limit it is dead-lettered."""

    @abstractmethod
    async def dead_letter(self) -> None:
        """Never processable (malformed): straight to the dead-letter queue."""


DeliveryHandler = Callable[[Delivery], Awaitable[None]]
BroadcastHandler = Callable[[bytes], Awaitable[None]]


class Transport(ABC):
    """A topic exchange with durable per-purpose queues, confirms and dead letters; and, for
    live updates, broadcasts that reach every listening process at most once."""

    @abstractmethod
    async def start(self) -> None:
        """Connects and declares the exchanges."""

    @abstractmethod
    async def close(self) -> None:
        """Stops consuming and disconnects; unsettled deliveries return to their queues."""

    @abstractmethod
    async def declare_queue(self, queue: str, bindings: Sequence[str]) -> None:
        """Declares a durable queue (and its dead-letter queue) bound to routing keys."""

    @abstractmethod
    async def publish(self, events: Sequence[OutgoingEvent]) -> list[BaseException | None]:
        """Publishes persistently and waits for the broker's confirms; one outcome per event."""

    @abstractmethod
    async def consume(self, queue: str, handler: DeliveryHandler, prefetch: int) -> None:
        """Starts delivering the queue's messages to handler, at most prefetch at a time."""

    @abstractmethod
    async def broadcast(self, topic: str, payload: bytes) -> None:
        """Hands payload to every process listening to topic now, at most once. No queue keeps
        it for a process that is not listening: for live updates whose record is a
        database, which a listener that missed one reads again (never for events)."""

    @abstractmethod
    async def listen(self, topic: str, handler: BroadcastHandler) -> None:
        """Calls handler with each broadcast of topic from now until the transport closes; a
        handler that raises loses that one payload, nothing else."""


@lru_cache(maxsize=4096)
def topic_matches(binding: str, routing_key: str) -> bool:
    """AMQP topic matching: '*' is exactly one word, '#' zero or more words."""
    return _match(tuple(binding.split(".")), tuple(routing_key.split(".")))


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return head in ("*", words[0]) and _match(rest, words[1:])
