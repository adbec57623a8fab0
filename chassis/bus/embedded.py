"""The embedded mode's broker: RabbitMQ's semantics as we use them, kept in one SQLite file.

Topic routing, one durable queue per consuming purpose, unroutable publishes refused, at most
`prefetch` unsettled deliveries per consumer, redelivery on retry with a delivery count, and
dead-lettering once a message has failed more than the delivery limit (as a quorum queue with
x-delivery-limit does). Queues, bindings, messages and dead letters live in the file: a
publish returns once its copies are committed to every bound queue, and a message leaves its
queue only when its consumer acks it. A delivery writes nothing, so after a crash every
message that was not acked is ready again when the broker next opens the file.

One process owns the file; the work is plain sqlite3 calls on the event loop's thread: each
is tens of microseconds, far less than a hop to a worker thread (see chassis.db's
QuickSqliteRead). Like the services' own SQLite files it runs with synchronous=NORMAL: a
commit survives the process being killed, and is on disk at the next checkpoint; an fsync
per publish would hold the loop up for milliseconds on a busy disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chassis.bus.envelope import OutgoingEvent
from chassis.bus.transport import (
    BroadcastHandler,
    Delivery,
    DeliveryHandler,
    Transport,
    Unroutable,
    topic_matches,
)

log = logging.getLogger(__name__)

# ":memory:" opens a broker that keeps nothing, for processes that never publish.
IN_MEMORY = ":memory:"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bindings (
    queue TEXT NOT NULL,
    pattern TEXT NOT NULL,
    PRIMARY KEY (queue, pattern)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    headers TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    previous_deliveries INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    headers TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    previous_deliveries INTEGER NOT NULL,
    dead_lettered_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS ix_dead_letters_queue ON dead_letters (queue, id);
"""

_DEAD_LETTER = """
INSERT INTO dead_letters (queue, routing_key, headers, content_type, body, previous_deliveries)
SELECT queue, routing_key, headers, content_type, body, ? FROM messages WHERE id = ?
"""


@dataclass
class QueuedMessage:
    """One copy of an event in one queue; `id` orders the queue and names its row."""

    id: int
    routing_key: str
    headers: dict[str, object]
    content_type: str
    body: bytes
    previous_deliveries: int = 0


@dataclass
class _Queue:
    name: str
    bindings: set[str] = field(default_factory=set)
    # The messages not being delivered right now, oldest first; the file holds them too.
    ready: deque[QueuedMessage] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, message: QueuedMessage) -> None:
        self.ready.append(message)
        self.arrived.set()


class EmbeddedBroker:
    """One broker shared by every service of an embedded suite, on its SQLite file."""

    def __init__(self, path: Path | str, delivery_limit: int = 5) -> None:
        self.path = str(path)
        self.delivery_limit = delivery_limit
        if self.path != IN_MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # The loop's thread is the only user, but the suite may be built on another thread.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self.queues: dict[str, _Queue] = {}
        # Live broadcasts' listeners by topic: in memory, as nothing keeps a broadcast.
        self.listeners: dict[str, list[BroadcastHandler]] = {}
        self._next_id = 1
        self._load()

    def _load(self) -> None:
        """Rebuilds the queues from the file: every message in it is ready."""
        for (name,) in self._db.execute("SELECT name FROM queues"):
            self.queues[name] = _Queue(name)
        for queue, pattern in self._db.execute("SELECT queue, pattern FROM bindings"):
            self.queues[queue].bindings.add(pattern)
        rows = self._db.execute(
            "SELECT id, queue, routing_key, headers, content_type, body, previous_deliveries "
            "FROM messages ORDER BY id"
        )
        for id_, queue, routing_key, headers, content_type, body, previous in rows:
            self.queues[queue].ready.append(
                QueuedMessage(id_, routing_key, json.loads(headers), content_type, body, previous)
            )
            self._next_id = id_ + 1

    def close(self) -> None:
        """Closes the file; whatever is still queued is there for the next open."""
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def declare_queue(self, name: str, bindings: Sequence[str]) -> None:
        """Declares (or extends) a durable queue and its bindings."""
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO queues (name) VALUES (?)", (name,))
            db.executemany(
                "INSERT OR IGNORE INTO bindings (queue, pattern) VALUES (?, ?)",
                [(name, pattern) for pattern in bindings],
            )
        self.queues.setdefault(name, _Queue(name)).bindings.update(bindings)

    def publish(self, events: Sequence[OutgoingEvent]) -> list[BaseException | None]:
        """Copies each event into every queue bound to its type, all in one transaction;
        one outcome per event (Unroutable when no queue is bound)."""
        outcomes: list[BaseException | None] = []
        rows: list[tuple[int, str, str, str, str, bytes]] = []
        arrivals: list[tuple[_Queue, QueuedMessage]] = []
        for event in events:
            targets = [
                q
                for q in self.queues.values()
                if any(topic_matches(b, event.type) for b in q.bindings)
            ]
            if not targets:
                outcomes.append(Unroutable(f"no queue is bound for {event.type}"))
                continue
            outcomes.append(None)
            headers = json.dumps(event.headers)
            for queue in targets:
                message = QueuedMessage(
                    self._next_id, event.type, dict(event.headers), event.content_type, event.body
                )
                self._next_id += 1
                rows.append(
                    (message.id, queue.name, event.type, headers, event.content_type, event.body)
                )
                arrivals.append((queue, message))
        if rows:
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO messages (id, queue, routing_key, headers, content_type, body) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
        for queue, message in arrivals:
            queue.put(message)
        return outcomes

    def ack(self, message: QueuedMessage) -> None:
        """The consumer committed its effect: the message leaves its queue."""
        self._db.execute("DELETE FROM messages WHERE id = ?", (message.id,))

    def retry(self, queue: _Queue, message: QueuedMessage) -> None:
        """Back to the end of the queue with one more delivery counted, or dead-lettered
        once past the delivery limit."""
        message.previous_deliveries += 1
        if message.previous_deliveries > self.delivery_limit:
            self.dead_letter(queue, message)
            log.error(
                "event dead-lettered after too many failed deliveries",
                extra={"queue": queue.name, "event_type": message.routing_key},
            )
            return
        self._db.execute(
            "UPDATE messages SET previous_deliveries = ? WHERE id = ?",
            (message.previous_deliveries, message.id),
        )
        queue.put(message)

    def dead_letter(self, queue: _Queue, message: QueuedMessage) -> None:
        """Moves the message to its queue's dead letters, kept in the file."""
        with self._transaction() as db:
            db.execute(_DEAD_LETTER, (message.previous_deliveries, message.id))
            db.execute("DELETE FROM messages WHERE id = ?", (message.id,))

    def dead_letters(self, queue: str) -> list[QueuedMessage]:
        """What a queue has dead-lettered so far, oldest first."""
        rows = self._db.execute(
            "SELECT id, routing_key, headers, content_type, body, previous_deliveries "
            "FROM dead_letters WHERE queue = ? ORDER BY id",
            (queue,),
        )
        return [
            QueuedMessage(id_, key, json.loads(headers), content_type, body, previous)
            for id_, key, headers, content_type, body, previous in rows
        ]

    def purge(self, queue: str) -> None:
        """Drops every ready message of a queue (as RabbitMQ's queue.purge)."""
        self._db.execute("DELETE FROM messages WHERE queue = ?", (queue,))
        self.queues[queue].ready.clear()


class _EmbeddedDelivery(Delivery):
    def __init__(self, broker: EmbeddedBroker, queue: _Queue, message: QueuedMessage) -> None:
        self._broker = broker
        self._queue = queue
        self._message = message
        self.headers = dict(message.headers)
        if message.previous_deliveries:
            self.headers["x-delivery-count"] = message.previous_deliveries
        self.content_type = message.content_type
        self.body = message.body
        self.previous_deliveries = message.previous_deliveries
        self.settled = False

    def _settle(self) -> bool:
        if self.settled:
            return False
        self.settled = True
        return True

    async def ack(self) -> None:
        if self._settle():
            self._broker.ack(self._message)

    async def retry(self) -> None:
        if self._settle():
            self._broker.retry(self._queue, self._message)

    async def dead_letter(self) -> None:
        if self._settle():
            self._broker.dead_letter(self._queue, self._message)

    def release(self) -> None:
        """Returns the message uncounted, as a closed channel (or a crash) would."""
        if self._settle():
            self._queue.ready.appendleft(self._message)
            self._queue.arrived.set()


class EmbeddedTransport(Transport):
    """A service's connection to the embedded broker."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self.broker = broker
        self._consumers: list[asyncio.Task[None]] = []
        self._listening: list[tuple[str, BroadcastHandler]] = []
        self._handing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for topic, handler in self._listening:
            self.broker.listeners[topic].remove(handler)
        self._listening.clear()
        for task in self._consumers:
            task.cancel()
        for task in self._consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._consumers.clear()

    async def declare_queue(self, queue: str, bindings: Sequence[str]) -> None:
        self.broker.declare_queue(queue, bindings)

    async def publish(self, events: Sequence[OutgoingEvent]) -> list[BaseException | None]:
        return self.broker.publish(events)

    async def consume(self, queue: str, handler: DeliveryHandler, prefetch: int) -> None:
        task = asyncio.create_task(self._deliver(self.broker.queues[queue], handler, prefetch))
        self._consumers.append(task)

    async def broadcast(self, topic: str, payload: bytes) -> None:
        # Each listener on a task of its own, as each RabbitMQ listener has its own queue: a
        # slow or failing one holds up neither the others nor the broadcaster.
        for handler in list(self.broker.listeners.get(topic, ())):
            task = asyncio.create_task(_hand(handler, topic, payload))
            self._handing.add(task)
            task.add_done_callback(self._handing.discard)

    async def listen(self, topic: str, handler: BroadcastHandler) -> None:
        self.broker.listeners.setdefault(topic, []).append(handler)
        self._listening.append((topic, handler))

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
                delivery = _EmbeddedDelivery(self.broker, queue, queue.ready.popleft())
                task = asyncio.create_task(self._handle(handler, delivery, slots))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        except asyncio.CancelledError:
            for task in in_flight:
                task.cancel()
            # Every unsettled delivery is back in its queue before close() returns.
            await asyncio.gather(*in_flight, return_exceptions=True)
            raise

    async def _handle(
        self, handler: DeliveryHandler, delivery: _EmbeddedDelivery, slots: asyncio.Semaphore
    ) -> None:
        try:
            await handler(delivery)
        except asyncio.CancelledError:
            delivery.release()
            raise
        except Exception:
            log.exception("consumer handler raised; the message will be redelivered")
            await delivery.retry()
        finally:
            if not delivery.settled:
                # The handler returned without settling: a bug, so it counts as a failure.
                await delivery.retry()
            slots.release()


async def _hand(handler: BroadcastHandler, topic: str, payload: bytes) -> None:
    try:
        await handler(payload)
    except Exception:
        log.exception("a listener of %s failed; that broadcast is lost to it", topic)
