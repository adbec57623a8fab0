"""The embedded broker keeps its queues in its file: what a stop or a crash leaves behind is
delivered when the broker opens the file again, and dead letters and delivery counts stay.

A crash is a broker left as it was (deliveries unsettled, file not closed) while a new
broker opens the same file, as `estuary up` does after a kill -9.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chassis.bus.consumer import EventConsumer, Subscription
from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import OutgoingEvent, ReceivedEvent, decode_event, encode_event
from chassis.bus.outbox import OutboxRelay
from chassis.bus.transport import Delivery, DeliveryHandler, Unroutable
from chassis.clock import FrozenClock
from chassis.db import Database
from chassis.ids import new_id
from chassis.uow import UnitOfWork
from estuary.identity.v1 import events_pb2
from tests.integration.harness import (
    POISON,
    THING_HAPPENED,
    BusHarness,
    create_schema,
    embedded_transport,
)
from tests.scrape import metrics_on, scrape, value

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
    transport_after = EmbeddedTransport(reopened)
    seen = await _acked(transport_after, 1)
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


async def _acked(transport: EmbeddedTransport, count: int) -> list[Delivery]:
    """The first `count` deliveries of the queue to a consumer that acks each, in order."""
    seen: list[Delivery] = []

    async def record(delivery: Delivery) -> None:
        seen.append(delivery)
        await delivery.ack()

    await transport.consume(QUEUE, record, 1)
    while len(seen) < count:
        await asyncio.sleep(0.01)
    return seen


async def _unpublished(harness: BusHarness, expected: int) -> bool:
    return await harness.unpublished() == expected


async def _failed(harness: BusHarness, at_least: int) -> bool:
    return harness.consumer.stats.failures >= at_least


async def test_a_purged_queue_delivers_nothing_it_held_even_after_a_restart(tmp_path):
    broker = EmbeddedBroker(tmp_path / "bus.db")
    broker.declare_queue(QUEUE, [THING_HAPPENED.name])
    broker.publish([thing_happened("old"), thing_happened("older")])
    broker.purge(QUEUE)
    assert not broker.queues[QUEUE].ready
    broker.close()

    reopened = EmbeddedBroker(tmp_path / "bus.db")
    assert not reopened.queues[QUEUE].ready
    # The queue itself stays: what is published next is kept.
    assert reopened.publish([thing_happened("new")]) == [None]
    assert len(reopened.queues[QUEUE].ready) == 1
    reopened.close()


async def test_a_message_that_is_no_event_is_dead_lettered_at_once_and_the_rest_flow(tmp_path):
    metrics_on()
    queue = f"tests.malformed-{new_id()}"
    database = await _database(tmp_path)
    transport, broker = embedded_transport(tmp_path / "bus.db")
    harness = BusHarness(database, transport, queue, broker=broker)
    await harness.start()
    claiming = {"ce-type": THING_HAPPENED.name}
    garbage = [
        OutgoingEvent(new_id(), THING_HAPPENED.name, claiming, "text/plain", b"not an event"),
        OutgoingEvent(new_id(), THING_HAPPENED.name, {}, "application/json", b"{}"),
    ]
    assert broker.publish(garbage) == [None, None]
    await harness.emit("fine")
    await harness.wait_until(lambda: _applied(harness, {"fine": 1}))

    async def dead_lettered() -> bool:
        return len(broker.dead_letters(queue)) == 2

    await harness.wait_until(dead_lettered)
    # Never retried, and kept as they came for whoever looks into the dead letters.
    assert [
        (d.routing_key, d.headers, d.content_type, d.body, d.previous_deliveries)
        for d in broker.dead_letters(queue)
    ] == [(THING_HAPPENED.name, g.headers, g.content_type, g.body, 0) for g in garbage]
    assert harness.consumer.stats.malformed == 2
    assert harness.consumer.stats.failures == 0
    # Counted by the type a message claims when it is one the queue takes, else by none.
    text = scrape()
    dead = "estuary_consumer_dead_lettered_total"
    for claimed in (THING_HAPPENED.name, ""):
        assert value(text, dead, queue=queue, event_type=claimed, reason="malformed") == 1
    await harness.stop()
    broker.close()
    await database.dispose()


async def test_a_handler_receives_the_event_as_it_was_emitted(tmp_path):
    database = await _database(tmp_path)
    transport, broker = embedded_transport(tmp_path / "bus.db")
    clock = FrozenClock()
    received: list[ReceivedEvent] = []

    async def keep(uow, event: ReceivedEvent) -> None:
        received.append(event)

    consumer = EventConsumer(
        Subscription(QUEUE, [THING_HAPPENED], keep),
        unit_of_work=lambda: UnitOfWork(database, source="/estuary/tests", clock=clock),
        transport=transport,
    )
    await consumer.start()
    async with UnitOfWork(database, source="/estuary/tests", clock=clock) as uow:
        event_id = uow.emit(
            THING_HAPPENED, events_pb2.UserDeleted(user_id="kept"), subject="users/kept"
        )
        await uow.commit()
    relay = OutboxRelay(database, transport, clock=clock, sweep_grace=timedelta(0))
    assert await relay.relay_once() == 1
    while not received:
        await asyncio.sleep(0.01)
    [event] = received
    assert (event.id, event.type, event.source, event.subject, event.time) == (
        event_id,
        THING_HAPPENED.name,
        "/estuary/tests",
        "users/kept",
        clock.now(),
    )
    assert event.message == events_pb2.UserDeleted(user_id="kept")
    assert event.extensions == {
        "datacontenttype": "application/json",
        "dataschema": THING_HAPPENED.schema,
    }
    # A consumer that runs for months keeps no list of what it applied unless asked to.
    assert (consumer.stats.applied, consumer.stats.applied_ids) == (1, [])
    await transport.close()
    broker.close()
    await database.dispose()


async def test_a_delivery_cut_short_by_a_stop_goes_back_first_in_line_uncounted(tmp_path):
    broker = EmbeddedBroker(tmp_path / "bus.db")
    broker.declare_queue(QUEUE, [THING_HAPPENED.name])
    first, second = thing_happened("first"), thing_happened("second")
    broker.publish([first, second])
    transport = EmbeddedTransport(broker)
    handling = asyncio.Event()

    async def stuck(delivery: Delivery) -> None:
        handling.set()
        await asyncio.Event().wait()

    await transport.consume(QUEUE, stuck, 1)
    await asyncio.wait_for(handling.wait(), timeout=10)
    await transport.close()

    transport_after = EmbeddedTransport(broker)
    seen = await _acked(transport_after, 2)
    assert [d.headers["ce-id"] for d in seen] == [first.id, second.id]
    assert [d.previous_deliveries for d in seen] == [0, 0]
    assert "x-delivery-count" not in seen[0].headers
    await transport_after.close()
    broker.close()


async def test_a_consumer_asks_the_broker_for_32_deliveries_at_a_time_unless_told_otherwise(
    tmp_path,
):
    asked: list[int] = []

    class Recording(EmbeddedTransport):
        async def consume(self, queue: str, handler: DeliveryHandler, prefetch: int) -> None:
            asked.append(prefetch)
            await super().consume(queue, handler, prefetch)

    broker = EmbeddedBroker(tmp_path / "bus.db")
    transport = Recording(broker)
    subscription = Subscription(QUEUE, [THING_HAPPENED], _never_called)
    await EventConsumer(subscription, unit_of_work=_no_unit_of_work, transport=transport).start()
    await EventConsumer(
        subscription, unit_of_work=_no_unit_of_work, transport=transport, prefetch=4
    ).start()
    assert asked == [32, 4]
    await transport.close()
    broker.close()


async def _never_called(uow, event) -> None:
    raise AssertionError("nothing is published")


def _no_unit_of_work() -> UnitOfWork:
    raise AssertionError("nothing is delivered")


async def test_a_failed_delivery_is_retried_after_a_fifth_of_a_second_unless_told_otherwise(
    tmp_path,
):
    database = await _database(tmp_path)
    transport, broker = embedded_transport(tmp_path / "bus.db")
    attempts: list[float] = []

    async def fails_once(uow, event) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise RuntimeError("transient")

    consumer = EventConsumer(
        Subscription(QUEUE, [THING_HAPPENED], fails_once),
        unit_of_work=lambda: UnitOfWork(database, source="/estuary/tests", clock=FrozenClock()),
        transport=transport,
    )
    await consumer.start()
    broker.publish([thing_happened("retried")])
    while consumer.stats.applied < 1:
        await asyncio.sleep(0.01)
    waited = attempts[1] - attempts[0]
    assert 0.2 <= waited < 1.0
    await transport.close()
    broker.close()
    await database.dispose()


async def test_a_broker_opened_in_a_folder_not_made_yet_makes_it_and_reads_its_queues_back(
    tmp_path,
):
    path = tmp_path / "data" / "bus" / "bus.db"
    broker = EmbeddedBroker(path)
    broker.declare_queue(QUEUE, [THING_HAPPENED.name])
    sent = thing_happened("kept")
    broker.publish([sent])
    broker.close()

    reopened = EmbeddedBroker(path)
    [message] = reopened.queues[QUEUE].ready
    assert (message.routing_key, message.headers, message.content_type, message.body) == (
        THING_HAPPENED.name,
        sent.headers,
        sent.content_type,
        sent.body,
    )
    assert message.previous_deliveries == 0
    reopened.close()
