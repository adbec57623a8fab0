"""A failed renewal reaching the reader: how long after payments' stream_subscription.changed
(granted level 0, past due) is published on the bus the reader's feed shows the paid post
locked again.

**subscription access removed p50 / p99**: one stream with a paid tier and a published post
at its level; READERS readers, each subscribed (their subscription's first change kept,
following at the paid level), written straight into streams' database through its own
repositories. Then, one reader at a time, their failed renewal (sequence 2, granted level 0)
is published on the bus as payments' outbox relay publishes it, and the reader's feed is
read through streams' own handler every POLL_SECONDS until the post comes locked. The time
runs from the publish to that read; the poll adds up to POLL_SECONDS. Target: p99 < 2 s.

Streams here is its `streams.subscriptions` consumer and its handlers on a database of the
run's own, in the bench's separate process; no server is started, so nothing binds a port.
Production: PostgreSQL and RabbitMQ (an exchange and a queue of the run's own, deleted
afterwards). Embedded: SQLite and the embedded broker's file, as `estuary up` runs them.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.bus import chassis_default
from bench.figures import Figure, Latencies
from bench.process import SeparateProcess
from bench.shapes import RABBITMQ_URL, BenchRun, delete_exchanges, delete_queues, postgres_databases
from chassis.auth.principal import Principal, Role, TokenType
from chassis.bus.consumer import EventConsumer
from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import encode_event
from chassis.bus.rabbitmq import RabbitTransport
from chassis.bus.transport import Transport
from chassis.ids import new_id
from chassis.media import MediaSettings
from chassis.migrations import upgrade
from chassis.money import Money
from chassis.wire import timestamp
from estuary.payments.v1 import events_pb2 as payments_events
from services.streams import bootstrap
from services.streams.bootstrap import StreamsService
from services.streams.domain.streams import Follow, Post, PostState, Stream, Tier
from services.streams.domain.subscriptions import (
    SUBSCRIPTION_PREFIX,
    StreamSubscription,
    SubscriptionStatus,
)
from services.streams.events import STREAM_SUBSCRIPTION_CHANGED
from services.streams.settings import StreamsSettings
from services.streams.uow import StreamsUnitOfWork

READERS = 200
POLL_SECONDS = 0.005
# A reader whose feed still reads the post whole after this long counts as not removed.
REMOVAL_TIMEOUT_SECONDS = 30.0
REMOVAL_P99_TARGET_MS = 2000.0
CONSUMING_QUEUE = "streams.subscriptions"


@dataclass(frozen=True)
class AccessPlan:
    """Where streams keeps its data and which bus it listens on."""

    shape: str
    database_url: str
    # The embedded shape's bus file.
    bus_path: str
    exchange: str
    queue: str
    readers: int = READERS

    def transport(self, broker: EmbeddedBroker | None) -> Transport:
        if broker is not None:
            return EmbeddedTransport(broker)
        return RabbitTransport(
            RABBITMQ_URL, self.exchange, delivery_limit=chassis_default("bus_delivery_limit")
        )


@dataclass(frozen=True)
class Subscriber:
    user_id: str
    subscription_id: str


@dataclass(frozen=True)
class Removals:
    """How long each reader's access took to go (s), and how many never went in time."""

    seconds: list[float]
    missing: int


async def seed_subscribers(service: StreamsService, readers: int) -> tuple[str, list[Subscriber]]:
    """A stream with a paid tier and a post at its level, and `readers` paying subscribers;
    the stream's id and the subscribers."""
    clock = service.runtime.clock
    now = clock.now()
    stream_id, owner_id = new_id(), new_id()
    subscribers = [Subscriber(new_id(), new_id()) for _ in range(readers)]
    async with service.runtime.unit_of_work(StreamsUnitOfWork)() as uow:
        tiers = (
            Tier(stream_id, 0, "Free", Money(0, "EUR")),
            Tier(stream_id, 1, "Circle", Money(500, "EUR")),
        )
        await uow.streams.add(Stream(stream_id, owner_id, "Bench stream", "", now, now, tiers))
        body = "A few lines of practice for the day. " * 8
        post = Post(new_id(), stream_id, "For the circle", body, 1, PostState.PUBLISHED, now, now)
        await uow.posts.add(post)
        for s in subscribers:
            paid = StreamSubscription(
                s.subscription_id,
                stream_id,
                s.user_id,
                1,
                1,
                SubscriptionStatus.ACTIVE,
                now + timedelta(days=30),
                False,
                1,
            )
            await uow.subscriptions.apply(paid, now)
            await uow.follows.add(Follow(stream_id, s.user_id, 1, now))
        await uow.commit()
    return stream_id, subscribers


def reader(user_id: str) -> Principal:
    return Principal(
        subject=user_id,
        token_type=TokenType.ACCESS,
        roles=frozenset({Role.CLIENT.value}),
        token_id=new_id(),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


async def measure_removals(plan: AccessPlan) -> Removals:
    """Streams and its consumer on the plan's database and bus; each subscriber's failed
    renewal published in turn and timed until their feed locks the paid post."""
    await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, plan.database_url)
    broker = (
        EmbeddedBroker(plan.bus_path, chassis_default("bus_delivery_limit"))
        if plan.shape == "embedded"
        else None
    )
    transport = plan.transport(broker)
    with tempfile.TemporaryDirectory(prefix="estuary-bench-media-") as folder:
        service = bootstrap.build(
            StreamsSettings(
                database_url=plan.database_url,
                grpc_port=0,
                media=MediaSettings(folder=folder, signing_secret=new_id()),
            ),
            transport=transport,
        )
        try:
            subscription = next(s for s in service.subscriptions if s.queue == CONSUMING_QUEUE)
            consumer = EventConsumer(
                replace(subscription, queue=plan.queue),
                unit_of_work=service.runtime.unit_of_work(StreamsUnitOfWork),
                transport=transport,
                prefetch=chassis_default("bus_prefetch"),
            )
            await transport.start()
            await consumer.start()
            stream_id, subscribers = await seed_subscribers(service, plan.readers)
            return await _time_removals(service, transport, stream_id, subscribers)
        finally:
            await transport.close()
            await service.runtime.database.dispose()
            await service.rooms.video.close()
            await service.media.store.close()
            for channel in service.channels:
                await channel.close()
            if broker is not None:
                broker.close()


async def _time_removals(
    service: StreamsService, transport: Transport, stream_id: str, subscribers: list[Subscriber]
) -> Removals:
    now = service.runtime.clock.now()
    seconds: list[float] = []
    missing = 0
    for s in subscribers:
        caller = reader(s.user_id)
        [before] = (await service.desk.feed(caller, 1, "")).items
        if before.locked:
            raise RuntimeError(f"subscriber {s.user_id} did not read the paid post to begin with")
        failed = payments_events.StreamSubscriptionChanged(
            subscription=SUBSCRIPTION_PREFIX + s.subscription_id,
            user_id=s.user_id,
            stream=f"streams/{stream_id}",
            level=1,
            granted_level=0,
            status=payments_events.STREAM_SUBSCRIPTION_STATUS_PAST_DUE,
            current_period_end_time=timestamp(now + timedelta(days=30)),
            sequence=2,
            change_time=timestamp(now),
        )
        event = encode_event(
            STREAM_SUBSCRIPTION_CHANGED,
            failed,
            event_id=new_id(),
            source=f"/estuary/{STREAM_SUBSCRIPTION_CHANGED.producer}",
            subject=failed.subscription,
            time=now,
        )
        started = time.perf_counter()
        [refused] = await transport.publish([event])
        if refused is not None:
            raise RuntimeError(f"the bus refused the event: {refused}")
        try:
            async with asyncio.timeout(REMOVAL_TIMEOUT_SECONDS):
                await _until_locked(service, caller)
        except TimeoutError:
            missing += 1
            continue
        seconds.append(time.perf_counter() - started)
    return Removals(seconds, missing)


async def _until_locked(service: StreamsService, caller: Principal) -> None:
    """Reads the reader's feed until its paid post comes locked (the feed is what they see)."""
    while True:
        [post] = (await service.desk.feed(caller, 1, "")).items
        if post.locked:
            return
        await asyncio.sleep(POLL_SECONDS)


async def subscription_access_figures(
    shape: str, run: BenchRun, process: SeparateProcess, workdir: Path
) -> list[Figure]:
    """Publish-to-access-removed of READERS failed renewals on one shape."""
    plan = AccessPlan(
        shape=shape,
        database_url=f"sqlite+aiosqlite:///{workdir / 'streams.db'}",
        bus_path=str(workdir / "bus.db"),
        exchange=run.exchange("subscription_access"),
        queue=run.queue("streams_subscriptions"),
    )
    if shape == "embedded":
        return _figures(shape, await process.run(measure_removals, plan))
    async with postgres_databases(run.database("subscription_access")) as urls:
        try:
            removals = await process.run(measure_removals, replace(plan, database_url=urls[0]))
        finally:
            await delete_queues(plan.queue)
            await delete_exchanges(plan.exchange)
    return _figures(shape, removals)


def _figures(shape: str, removals: Removals) -> list[Figure]:
    latencies = Latencies.of(removals.seconds)
    detail = (
        f"{len(removals.seconds)} failed renewals, one at a time: bus publish -> the reader's "
        f"feed locks the paid post (read every {POLL_SECONDS * 1000:.0f} ms)"
    )
    if removals.missing:
        detail += f"; {removals.missing} not removed within {REMOVAL_TIMEOUT_SECONDS:.0f} s"
    return [
        Figure("subscription access removed p50", shape, latencies.p50_ms, "ms", detail=detail),
        Figure(
            "subscription access removed p99",
            shape,
            latencies.p99_ms,
            "ms",
            target=f"< {REMOVAL_P99_TARGET_MS:.0f} ms",
            met=latencies.p99_ms < REMOVAL_P99_TARGET_MS and not removals.missing,
            detail=detail,
        ),
    ]
