"""A consumer applies the events that wait together in one transaction, on both shapes.

What must hold whatever the batching: each event applied once, a failing event failing
alone (the others of its batch applied once, not twice), a duplicate inside one batch
applied once, and a consumer stopped mid-batch acknowledging nothing it did not commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from chassis.bus.envelope import ReceivedEvent, encode_event
from chassis.db import Database
from chassis.uow import UnitOfWork
from estuary.identity.v1 import events_pb2
from tests.infrastructure import postgres_database
from tests.integration.harness import (
    POISON,
    THING_HAPPENED,
    BusHarness,
    create_schema,
    embedded_transport,
    rabbit_transport,
)

SHAPES = ["sqlite+embedded", "postgres+rabbitmq"]


@pytest.fixture(params=SHAPES)
async def harness(request, tmp_path, rabbit) -> AsyncIterator[BusHarness]:
    if request.param == "sqlite+embedded":
        database = Database(f"sqlite+aiosqlite:///{tmp_path}/service.db")
        transport, broker = embedded_transport(tmp_path / "bus.db")
        await create_schema(database)
        built = BusHarness(database, transport, "tests.things", broker=broker)
        yield built
        await built.stop()
        broker.close()
        await database.dispose()
        return
    url = rabbit.url
    with postgres_database() as database_url:
        database = Database(database_url)
        await create_schema(database)
        built = BusHarness(
            database, rabbit_transport(url, rabbit.exchange), rabbit.queue("things"), rabbit_url=url
        )
        yield built
        await built.stop()
        await database.dispose()


class CountingTransactions:
    """The harness's units of work, counted as the consumer opens them."""

    def __init__(self, harness: BusHarness) -> None:
        self.opened = 0
        self._make = harness.consumer._unit_of_work
        harness.consumer._unit_of_work = self

    def __call__(self) -> UnitOfWork:
        self.opened += 1
        return self._make()


async def emit_waiting(harness: BusHarness, user_ids: list[str]) -> None:
    """Commits the events with the relay stopped, then publishes them all at once: they
    reach the consumer together, as a backlog does."""
    for user_id in user_ids:
        await harness.emit(user_id, POISON if user_id.startswith("poison") else THING_HAPPENED)
    await harness.relay.relay_once()


async def test_events_that_arrive_together_share_transactions_and_each_applies_once(harness):
    await harness.start(relay=False)
    transactions = CountingTransactions(harness)
    users = [f"user-{n}" for n in range(60)]
    await emit_waiting(harness, users)
    await harness.wait_until(lambda: _applied(harness, 60))
    assert await harness.applied() == dict.fromkeys(users, 1)
    assert harness.consumer.stats.applied == 60
    # A transaction per event would be 60; the backlog is applied in batches of up to 32.
    assert 2 <= transactions.opened <= 30


async def test_a_failing_event_fails_alone_and_the_rest_of_its_batch_applies_once(harness):
    harness.flaky.always_fail.add("poison")
    await harness.start(relay=False)
    users = [f"user-{n}" for n in range(30)]
    await emit_waiting(harness, [*users[:15], "poison", *users[15:]])
    await harness.wait_until(lambda: _applied(harness, 30))

    async def dead_lettered() -> bool:
        return await harness.dead_letters() == 1

    await harness.wait_until(dead_lettered)
    # The batch that held the poison rolled back whole; its other events were applied again,
    # each alone, and kept once.
    assert await harness.applied() == dict.fromkeys(users, 1)
    assert harness.consumer.stats.applied == 30
    # delivery limit 3: the first delivery and three redeliveries, then the dead-letter queue
    assert harness.consumer.stats.failures == 4


async def test_an_event_delivered_twice_in_one_batch_is_applied_once(harness):
    await harness.start(relay=False)
    event = encode_event(
        THING_HAPPENED,
        events_pb2.UserDeleted(user_id="twice"),
        event_id="0190d6a4-0000-7000-8000-000000000001",
        source="/estuary/tests",
        subject="users/twice",
        time=harness.clock.now(),
    )
    others = [f"user-{n}" for n in range(10)]
    for user_id in others:
        await harness.emit(user_id)
    await harness.relay.relay_once()
    assert await harness.transport.publish([event, event]) == [None, None]
    await harness.wait_until(lambda: _applied(harness, 11))
    await harness.wait_until(lambda: _settled(harness, 12))
    assert await harness.applied() == {**dict.fromkeys(others, 1), "twice": 1}
    assert harness.consumer.stats.duplicates == 1


async def test_a_consumer_stopped_mid_batch_keeps_nothing_and_a_restart_applies_each_once(
    tmp_path: Path,
):
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/service.db")
    await create_schema(database)
    transport, broker = embedded_transport(tmp_path / "bus.db")
    first = BusHarness(database, transport, "tests.things", broker=broker)
    stuck = asyncio.Event()
    release = asyncio.Event()
    apply = first.apply

    async def stall_on_the_last(uow: UnitOfWork, event: ReceivedEvent) -> None:
        await apply(uow, event)
        if event.message.user_id == "user-19":
            stuck.set()
            await release.wait()

    first.consumer.subscription = replace(first.consumer.subscription, handler=stall_on_the_last)
    await first.start(relay=False)
    users = [f"user-{n}" for n in range(20)]
    await emit_waiting(first, users)
    async with asyncio.timeout(10):
        await stuck.wait()
    # The process stops while a transaction holds applied events: none may be acknowledged.
    await first.stop()
    kept_before = await first.applied()
    assert sum(kept_before.values()) == first.consumer.stats.applied < 20
    second = BusHarness(database, transport, "tests.things", broker=broker)
    try:
        await second.start(relay=False)
        await second.wait_until(lambda: _applied(second, 20))
        assert await second.applied() == dict.fromkeys(users, 1)
    finally:
        await second.stop()
        broker.close()
        with contextlib.suppress(Exception):
            await database.dispose()


async def _applied(harness: BusHarness, count: int) -> bool:
    return sum((await harness.applied()).values()) >= count


async def _settled(harness: BusHarness, deliveries: int) -> bool:
    stats = harness.consumer.stats
    return stats.applied + stats.duplicates >= deliveries
