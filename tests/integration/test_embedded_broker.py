"""The embedded broker keeps its queues in its file: what a stop or a crash leaves behind is
delivered when the broker opens the file again, and dead letters and delivery counts stay.

A crash is a broker left as it was (deliveries unsettled, file not closed) while a new
broker opens the same file, as `estuary up` does after a kill -9.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import OutgoingEvent, decode_event, encode_event
from chassis.bus.transport import Delivery, Unroutable
from chassis.db import Database
from chassis.ids import new_id
from estuary.identity.v1 import events_pb2
from tests.integration.harness import (
    POISON,
    THING_HAPPENED,
    BusHarness,
    create_schema,
    embedded_transport,
)

QUEUE = "tests.things"


def thing_happened(user_id: str) -> OutgoingEvent:
    return encode_event(
        THING_HAPPENED,
        events_pb2.UserDeleted(user_id=user_id),
        event_id=new_id(),
        source="/estuary/tests",
        subject=f"users/{user_id}",
        time=datetime.now(UTC),
    )


async def _database(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/service.db")
    await create_schema(database)
    return database


async def _applied(harness: BusHarness, expected: dict[str, int]) -> bool:
    return await harness.applied() == expected


async def test_an_event_in_flight_when_the_process_dies_is_delivered_after_the_restart(
    tmp_path,
):
    database = await _database(tmp_path)
    transport, broker = embedded_transport(tmp_path / "bus.db")
    before = BusHarness(database, transport, QUEUE, broker=broker)
    await before.start(consume=False)
    handling = asyncio.Event()

    async def stuck(delivery: Delivery) -> None:
        handling.set()
        await asyncio.Event().wait()

    await transport.consume(QUEUE, stuck, 32)
    await before.emit("mid-flight")
    await asyncio.wait_for(handling.wait(), timeout=10)
    # The relay marked it published: from here only the bus holds the event.
    await before.wait_until(lambda: _unpublished(before, 0))

    transport_after, broker_after = embedded_transport(tmp_path / "bus.db")
    after = BusHarness(database, transport_after, QUEUE, broker=broker_after)
    await after.start(relay=False)
    await after.wait_until(lambda: _applied(after, {"mid-flight": 1}))

    await before.stop()
    await after.stop()
    broker_after.close()
    broker.close()
    await database.dispose()


async def test_a_stop_mid_retry_loses_nothing_and_the_next_start_applies_it_once(tmp_path):
    database = await _database(tmp_path)
    transport, broker = embedded_transport(tmp_path / "bus.db")
    before = BusHarness(database, transport, QUEUE, broker=broker)
    before.flaky.failures_left["slow"] = 1_000  # still failing when the stop comes
    await before.start()
    await before.emit("slow")
    await before.emit("quick")
    await before.wait_until(lambda: _failed(before, 2))
    await before.wait_until(lambda: _applied(before, {"quick": 1}))
    await before.stop()
    broker.close()

    transport_after, broker_after = embedded_transport(tmp_path / "bus.db")
    after = BusHarness(database, transport_after, QUEUE, broker=broker_after)
    await after.start(relay=False)
    await after.wait_until(lambda: _applied(after, {"quick": 1, "slow": 1}))
    # "quick" was acked before the stop: it left the file and is not delivered again.
    assert after.consumer.stats.applied == 1 and after.consumer.stats.duplicates == 0
    await after.stop()
    broker_after.close()
    await database.dispose()


async def test_dead_letters_and_delivery_counts_stay_in_the_file(tmp_path):
    database = await _database(tmp_path)
    transport, broker = embedded_transport(tmp_path / "bus.db", delivery_limit=3)
    harness = BusHarness(database, transport, QUEUE, broker=broker)
    harness.flaky.always_fail.add("poison")
    await harness.start()
    poison_id = await harness.emit("poison", POISON)

    async def dead_lettered() -> bool:
        return len(broker.dead_letters(QUEUE)) == 1

    await harness.wait_until(dead_lettered)
    await harness.stop()
    broker.close()

    reopened = EmbeddedBroker(tmp_path / "bus.db", delivery_limit=3)
    [dead] = reopened.dead_letters(QUEUE)
    assert dead.routing_key == POISON.name
    assert isinstance(dead.id, int)
    # Kept whole: it reads back as the event that was published.
    event = decode_event(dead.headers, dead.content_type, dead.body, {POISON.name: POISON})
    assert (event.id, event.subject, event.message.user_id) == (
        poison_id,
        "users/poison",
        "poison",
    )
    # The first delivery and three redeliveries failed: past the limit of 3.
    assert dead.previous_deliveries == 4
    assert not reopened.queues[QUEUE].ready
    reopened.close()
    await database.dispose()


async def test_a_redelivery_after_a_restart_carries_the_count_so_far(tmp_path):
    broker = EmbeddedBroker(tmp_path / "bus.db", delivery_limit=5)
    broker.declare_queue(QUEUE, [THING_HAPPENED.name])
    assert broker.publish([thing_happened("counted")]) == [None]
    transport = EmbeddedTransport(broker)
    second_delivery = asyncio.Event()

    async def fails_once_then_hangs(delivery: Delivery) -> None:
        if delivery.previous_deliveries == 0:
            raise RuntimeError("transient")
        second_delivery.set()
        await asyncio.Event().wait()

    await transport.consume(QUEUE, fails_once_then_hangs, 1)
    await asyncio.wait_for(second_delivery.wait(), timeout=10)

    reopened = EmbeddedBroker(tmp_path / "bus.db", delivery_limit=5)
    seen: list[Delivery] = []

    async def record(delivery: Delivery) -> None:
        seen.append(delivery)
        await delivery.ack()

    transport_after = EmbeddedTransport(reopened)
    await transport_after.consume(QUEUE, record, 1)
    while not seen:
        await asyncio.sleep(0.01)
    assert seen[0].previous_deliveries == 1
    assert seen[0].headers["x-delivery-count"] == 1
    await transport.close()
    await transport_after.close()
    broker.close()
    reopened.close()

    # Acked: the message has left the file.
    last = EmbeddedBroker(tmp_path / "bus.db")
    assert not last.queues[QUEUE].ready
    last.close()


async def test_bindings_outlive_the_process_and_unbound_events_are_refused(tmp_path):
    broker = EmbeddedBroker(tmp_path / "bus.db")
    broker.declare_queue(QUEUE, ["thing.#"])
    broker.close()

    reopened = EmbeddedBroker(tmp_path / "bus.db")
    nobody = OutgoingEvent(new_id(), "nobody.listens", {}, "application/json", b"{}")
    outcomes = reopened.publish([thing_happened("bound"), nobody])
    assert outcomes[0] is None
    assert isinstance(outcomes[1], Unroutable)
    assert [m.routing_key for m in reopened.queues[QUEUE].ready] == [THING_HAPPENED.name]
    reopened.close()


async def _unpublished(harness: BusHarness, expected: int) -> bool:
    return await harness.unpublished() == expected


async def _failed(harness: BusHarness, at_least: int) -> bool:
    return harness.consumer.stats.failures >= at_least
