"""Outbox -> bus -> inbox: commit-to-commit latency at a steady rate, and the relay's peak.

A small producing service (its own database with the chassis tables, a unit of work, the
outbox relay) emits user.registered events, one transaction each, at a fixed rate; a small
consuming service (its own database, an EventConsumer with an inbox) applies them. The
latency of an event runs from the commit of the producing transaction to the commit of the
consumer's inbox transaction, both read from CLOCK_MONOTONIC, which every process shares.

Production shape: Postgres + RabbitMQ, producer and consumer in separate processes, as two
services would be. Embedded: SQLite + the embedded broker (its own SQLite file), both in one
process, as the embedded suite runs them.

The peak: the outbox is filled with N events, then timed while the relay drains it to the
bus, against a bare publish of the same messages in batches of the relay's size (aio-pika
with publisher confirms; the embedded broker's publish in the embedded shape).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from bench.figures import Figure, Latencies, pace
from bench.process import SeparateProcess
from bench.shapes import RABBITMQ_URL, BenchRun, delete_exchanges, delete_queues, postgres_databases
from chassis.bus.consumer import EventConsumer, Subscription
from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import OutgoingEvent, ReceivedEvent
from chassis.bus.outbox import OutboxRelay
from chassis.bus.rabbitmq import RabbitTransport
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.db import Database
from chassis.ids import new_id
from chassis.settings import ServiceSettings
from chassis.tables import metadata as chassis_metadata
from chassis.tables import outbox
from chassis.uow import UnitOfWork
from estuary.identity.v1 import events_pb2
from services.identity.events import USER_REGISTERED

SOURCE = "/estuary/bench"
APPLY_TIMEOUT_SECONDS = 30.0
FILL_PER_TRANSACTION = 1000


def chassis_default(setting: str) -> Any:
    """What every service runs with unless configured otherwise."""
    return ServiceSettings.model_fields[setting].default


@dataclass(frozen=True)
class BusPlan:
    """Where the producing and consuming services keep their data, and how hard to push."""

    shape: str
    producer_url: str
    consumer_url: str
    # The embedded shape's bus file.
    bus_path: str
    rabbit_url: str
    exchange: str
    queue: str
    events_per_second: int
    seconds: float
    drain_events: int

    def transport(self, broker: EmbeddedBroker | None = None) -> Transport:
        if broker is not None:
            return EmbeddedTransport(broker)
        return RabbitTransport(
            self.rabbit_url, self.exchange, delivery_limit=chassis_default("bus_delivery_limit")
        )


@dataclass(frozen=True)
class Delivered:
    """When each event's producing and consuming transactions committed (monotonic s)."""

    committed: dict[str, float]
    applied: dict[str, float]
    # CPU the producing and consuming services' processes spent, relay included.
    cpu_seconds: float
    # The producing process's share (relay included), when it is a process of its own.
    producer_cpu_seconds: float | None = None

    @property
    def latencies(self) -> list[float]:
        return [self.applied[i] - t for i, t in self.committed.items() if i in self.applied]

    @property
    def missing(self) -> int:
        return sum(1 for i in self.committed if i not in self.applied)

    @property
    def achieved_rate(self) -> float:
        return pace(self.committed.values())


@dataclass(frozen=True)
class Timed:
    """Wall and CPU seconds some work took in one process."""

    seconds: float
    cpu_seconds: float


@contextlib.contextmanager
def stopwatch() -> Iterator[list[Timed]]:
    """Times the block; the Timed is in the list once the block ends."""
    timed: list[Timed] = []
    wall, cpu = time.perf_counter(), time.process_time()
    yield timed
    timed.append(Timed(time.perf_counter() - wall, time.process_time() - cpu))


@dataclass(frozen=True)
class Drained:
    """The same events moved to the bus by the relay, and by a bare publish."""

    events: int
    relay: Timed
    bare: Timed


async def create_chassis_tables(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(chassis_metadata.create_all)


class ProducingService:
    """A database with an outbox, a unit of work that fills it and the relay that drains it."""

    def __init__(
        self,
        database_url: str,
        transport: Transport,
        *,
        sweep_grace: timedelta = timedelta(seconds=chassis_default("outbox_sweep_grace_seconds")),
    ) -> None:
        self.database = Database(database_url)
        self.transport = transport
        self.clock = Clock()
        self.relay = OutboxRelay(
            self.database,
            transport,
            clock=self.clock,
            batch_size=chassis_default("outbox_batch_size"),
            poll_interval=chassis_default("outbox_poll_interval_seconds"),
            sweep_grace=sweep_grace,
        )
        self._relaying: asyncio.Task[None] | None = None

    async def start(self, *, relay: bool) -> None:
        await create_chassis_tables(self.database)
        await self.transport.start()
        if relay:
            self._relaying = asyncio.create_task(self.relay.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._relaying is not None:
            self._relaying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relaying
        await self.transport.close()
        await self.database.dispose()

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(
            self.database, source=SOURCE, clock=self.clock, on_events_committed=self.relay.notify
        )

    def _emit_registration(self, uow: UnitOfWork) -> str:
        user_id = new_id()
        now = self.clock.now()
        return uow.emit(
            USER_REGISTERED,
            events_pb2.UserRegistered(
                user_id=user_id,
                email=f"client.{user_id[-12:]}@example.com",
                full_name="Bench Client",
                verification_token=secrets.token_urlsafe(32),
                verification_expire_time=_timestamp(now + timedelta(hours=48)),
            ),
            subject=f"users/{user_id}",
        )

    async def register_one(self) -> tuple[str, float]:
        """One producing transaction with one event; returns its id and commit instant."""
        async with self.unit_of_work() as uow:
            event_id = self._emit_registration(uow)
            await uow.commit()
        return event_id, time.monotonic()

    async def register_at_rate(self, per_second: int, seconds: float) -> dict[str, float]:
        """Commits one event every 1/per_second s on a fixed schedule, however long each
        commit takes (late ones overlap instead of pushing the schedule back)."""
        registrations: list[asyncio.Task[tuple[str, float]]] = []
        start = time.monotonic()
        for n in range(int(per_second * seconds)):
            delay = start + n / per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            registrations.append(asyncio.create_task(self.register_one()))
        return dict(await asyncio.gather(*registrations))

    async def fill(self, events: int) -> None:
        """Commits `events` events without relaying them."""
        for first in range(0, events, FILL_PER_TRANSACTION):
            async with UnitOfWork(self.database, source=SOURCE, clock=self.clock) as uow:
                for _ in range(min(FILL_PER_TRANSACTION, events - first)):
                    self._emit_registration(uow)
                await uow.commit()

    async def unpublished(self) -> list[OutgoingEvent]:
        async with self.database.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(
                    outbox.c.event_id,
                    outbox.c.event_type,
                    outbox.c.headers,
                    outbox.c.content_type,
                    outbox.c.body,
                )
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.position)
            )
            return [
                OutgoingEvent(r.event_id, r.event_type, dict(r.headers), r.content_type, r.body)
                for r in rows
            ]

    async def wait_until_relayed(self) -> None:
        """Returns once the relay has published everything committed so far, or after
        APPLY_TIMEOUT_SECONDS (what is left shows as events not applied)."""
        # The relay has no "idle" signal; the outbox itself is the truth.
        unpublished = sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(APPLY_TIMEOUT_SECONDS):
                while True:
                    async with self.database.engine.connect() as connection:
                        if not (await connection.execute(unpublished)).scalar_one():
                            return
                    await asyncio.sleep(0.05)


class ConsumingService:
    """A database with an inbox and one consumer of user.registered."""

    def __init__(self, database_url: str, transport: Transport, queue: str) -> None:
        self.database = Database(database_url)
        self.transport = transport
        self.applied: dict[str, float] = {}
        self._awaited: set[str] = set()
        self._all_applied = asyncio.Event()
        clock = Clock()
        self.consumer = EventConsumer(
            Subscription(queue=queue, events=[USER_REGISTERED], handler=self._welcome),
            unit_of_work=lambda: UnitOfWork(self.database, source=SOURCE, clock=clock),
            transport=transport,
            prefetch=chassis_default("bus_prefetch"),
        )

    async def _welcome(self, uow: UnitOfWork, event: ReceivedEvent[Any]) -> None:
        # The inbox row is the whole effect: what is measured is the bus, not a handler.
        uow.after_commit(lambda: self.record_applied(event.id, time.monotonic()))

    async def start(self) -> None:
        await create_chassis_tables(self.database)
        await self.transport.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.transport.close()
        await self.database.dispose()

    def record_applied(self, event_id: str, at: float) -> None:
        self.applied[event_id] = at
        self._awaited.discard(event_id)
        if not self._awaited:
            self._all_applied.set()

    async def wait_for(self, event_ids: Iterable[str]) -> None:
        """Returns once every event is applied, or after APPLY_TIMEOUT_SECONDS."""
        self._awaited = set(event_ids) - self.applied.keys()
        if not self._awaited:
            return
        self._all_applied.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(APPLY_TIMEOUT_SECONDS):
                await self._all_applied.wait()


async def produce_at_rate(plan: BusPlan) -> tuple[dict[str, float], float]:
    """The producing service of the production shape, in its own process; returns the
    commit instants and the CPU seconds the process spent producing and relaying."""
    producer = ProducingService(plan.producer_url, plan.transport())
    await producer.start(relay=True)
    try:
        cpu_before = time.process_time()
        committed = await producer.register_at_rate(plan.events_per_second, plan.seconds)
        await producer.wait_until_relayed()
        return committed, time.process_time() - cpu_before
    finally:
        await producer.stop()


async def rabbitmq_latency(plan: BusPlan, producing_process: SeparateProcess) -> Delivered:
    """Consumes here while another process produces, as two services would."""
    consumer = ConsumingService(plan.consumer_url, plan.transport(), plan.queue)
    await consumer.start()
    try:
        cpu_before = time.process_time()
        committed, producer_cpu = await producing_process.run(produce_at_rate, plan)
        await consumer.wait_for(committed)
        consumer_cpu = time.process_time() - cpu_before
        return Delivered(
            committed, dict(consumer.applied), producer_cpu + consumer_cpu, producer_cpu
        )
    finally:
        await consumer.stop()


async def in_process_latency(plan: BusPlan) -> Delivered:
    """Both services on one loop and one embedded broker, as the embedded suite runs."""
    broker = EmbeddedBroker(plan.bus_path, chassis_default("bus_delivery_limit"))
    consumer = ConsumingService(plan.consumer_url, plan.transport(broker), plan.queue)
    producer = ProducingService(plan.producer_url, plan.transport(broker))
    await consumer.start()
    await producer.start(relay=True)
    try:
        cpu_before = time.process_time()
        committed = await producer.register_at_rate(plan.events_per_second, plan.seconds)
        await consumer.wait_for(committed)
        return Delivered(committed, dict(consumer.applied), time.process_time() - cpu_before)
    finally:
        await producer.stop()
        await consumer.stop()
        broker.close()


async def relay_peak(plan: BusPlan) -> Drained:
    """Times the relay draining a full outbox against a bare publish of the same events."""
    broker = EmbeddedBroker(plan.bus_path) if plan.shape == "embedded" else None
    # The peak is the sweep's: nothing is handed over, and every row is due at once.
    producer = ProducingService(plan.producer_url, plan.transport(broker), sweep_grace=timedelta(0))
    await producer.start(relay=False)
    try:
        await producer.transport.declare_queue(plan.queue, [USER_REGISTERED.name])
        await producer.fill(plan.drain_events)
        events = await producer.unpublished()
        batch = chassis_default("outbox_batch_size")
        with stopwatch() as bare:
            if broker is None:
                await _bare_rabbitmq_publish(plan, events, batch)
            else:
                await _bare_in_process_publish(producer.transport, events, batch)
        await _empty_queue(plan, broker)
        with stopwatch() as relay:
            while await producer.relay.relay_once():
                pass
        await _empty_queue(plan, broker)
        if producer.relay.stats.published != len(events):
            raise RuntimeError(
                f"the relay published {producer.relay.stats.published} of {len(events)} events"
            )
        return Drained(len(events), relay[0], bare[0])
    finally:
        await producer.stop()
        if broker is not None:
            broker.close()


async def _bare_rabbitmq_publish(plan: BusPlan, events: list[OutgoingEvent], batch: int) -> None:
    """aio-pika alone: persistent, mandatory, confirmed publishes, `batch` in flight at once."""
    connection = await aio_pika.connect(plan.rabbit_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(plan.exchange)
        for first in range(0, len(events), batch):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body=event.body,
                            headers=dict(event.headers),
                            content_type=event.content_type,
                            message_id=event.id,
                            type=event.type,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        event.type,
                        mandatory=True,
                    )
                    for event in events[first : first + batch]
                )
            )


async def _bare_in_process_publish(
    transport: Transport, events: list[OutgoingEvent], batch: int
) -> None:
    for first in range(0, len(events), batch):
        await transport.publish(events[first : first + batch])


async def _empty_queue(plan: BusPlan, broker: EmbeddedBroker | None) -> None:
    if broker is not None:
        broker.purge(plan.queue)
        return
    connection = await aio_pika.connect(plan.rabbit_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(plan.queue, passive=True)
        await queue.purge()


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


LATENCY_TARGET_P99_MS = 25.0
PEAK_TARGET_RATIO = 0.45


@dataclass(frozen=True)
class BusOptions:
    events_per_second: int
    seconds: float
    drain_events: int


async def bus_figures(
    shape: str, run: BenchRun, process: SeparateProcess, options: BusOptions, workdir: Path
) -> list[Figure]:
    """Latency and peak of outbox -> bus -> inbox on one shape, on databases of its own."""
    production = shape == "production"
    plan = BusPlan(
        shape=shape,
        producer_url="",
        consumer_url="",
        bus_path=str(workdir / "bus.db"),
        rabbit_url=RABBITMQ_URL,
        exchange=run.exchange("bus"),
        queue=run.queue("welcome_mail"),
        events_per_second=options.events_per_second,
        seconds=options.seconds,
        drain_events=options.drain_events,
    )
    if not production:
        plan = replace(
            plan,
            producer_url=f"sqlite+aiosqlite:///{workdir / 'producer.db'}",
            consumer_url=f"sqlite+aiosqlite:///{workdir / 'consumer.db'}",
        )
        delivered = await process.run(in_process_latency, plan)
        drained = await process.run(relay_peak, plan)
        return _figures(shape, plan, delivered, drained)
    async with postgres_databases(run.database("producer"), run.database("consumer")) as urls:
        plan = replace(plan, producer_url=urls[0], consumer_url=urls[1])
        try:
            delivered = await rabbitmq_latency(plan, process)
            drained = await process.run(relay_peak, plan)
        finally:
            await delete_queues(plan.queue)
            await delete_exchanges(plan.exchange)
    return _figures(shape, plan, delivered, drained)


def _cpu_detail(delivered: Delivered, events: int) -> str:
    """Whose CPU the figure is, split between producer and consumer where they are apart."""
    detail = "CPU of the services' Python processes (not Postgres or RabbitMQ)"
    if delivered.producer_cpu_seconds is None:
        return detail + "; producer, relay and consumer in one process"
    producing = delivered.producer_cpu_seconds * 1000 / events
    consuming = (delivered.cpu_seconds - delivered.producer_cpu_seconds) * 1000 / events
    return f"{detail}: producer and relay {producing:.2f} ms, consumer {consuming:.2f} ms"


def _figures(shape: str, plan: BusPlan, delivered: Delivered, drained: Drained) -> list[Figure]:
    # The targets are the production shape's; the embedded one is shown beside it.
    production = shape == "production"
    latencies = Latencies.of(delivered.latencies)
    events = len(delivered.committed)
    latency_detail = f"{events} events committed"
    if delivered.missing:
        latency_detail += f"; {delivered.missing} not applied within {APPLY_TIMEOUT_SECONDS:.0f} s"
    relay_rate = drained.events / drained.relay.seconds
    bare_rate = drained.events / drained.bare.seconds
    ratio = relay_rate / bare_rate
    return [
        Figure(
            f"bus events committed/s (asked {plan.events_per_second}/s)",
            shape,
            delivered.achieved_rate,
            "/s",
            detail="one producing transaction per event, on a fixed schedule",
        ),
        Figure("bus commit-to-commit p50", shape, latencies.p50_ms, "ms", detail=latency_detail),
        Figure(
            "bus commit-to-commit p99",
            shape,
            latencies.p99_ms,
            "ms",
            target=f"< {LATENCY_TARGET_P99_MS:.0f} ms (production)",
            met=(latencies.p99_ms < LATENCY_TARGET_P99_MS and not delivered.missing)
            if production
            else None,
            detail=latency_detail,
        ),
        Figure(
            "bus CPU/event (produce, relay, consume)",
            shape,
            delivered.cpu_seconds * 1000 / events,
            "ms",
            detail=_cpu_detail(delivered, events),
        ),
        Figure(f"relay peak ({drained.events} events)", shape, relay_rate, "ev/s"),
        Figure("bare publish peak (same batches)", shape, bare_rate, "ev/s"),
        Figure(
            "relay vs bare publish",
            shape,
            ratio,
            "x",
            target=f">= {PEAK_TARGET_RATIO}x (production)",
            met=ratio >= PEAK_TARGET_RATIO if production else None,
        ),
        Figure(
            "relay CPU/event",
            shape,
            drained.relay.cpu_seconds * 1000 / drained.events,
            "ms",
            detail="outbox reads and marks plus the publish, in the relay's process",
        ),
        Figure(
            "bare publish CPU/event",
            shape,
            drained.bare.cpu_seconds * 1000 / drained.events,
            "ms",
        ),
    ]
