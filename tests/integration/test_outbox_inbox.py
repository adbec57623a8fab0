"""Outbox -> bus -> inbox on both shapes: SQLite + embedded bus, Postgres + RabbitMQ.

The counts these tests assert are the ones the design promises: every committed event is
applied exactly once, a rolled-back change emits nothing, a duplicate changes nothing, and a
poison message ends in the dead-letter queue while the rest keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from chassis.bus import consumer as consumer_module
from chassis.bus import outbox as outbox_module
from chassis.bus.envelope import EventType
from chassis.bus.outbox import OutboxRelay, purge_published
from chassis.clock import Clock, FrozenClock
from chassis.db import Database
from chassis.ids import new_id
from chassis.tables import outbox
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
from tests.scrape import metrics_on, scrape, value

SHAPES = ["sqlite+embedded", "postgres+rabbitmq"]


@contextlib.asynccontextmanager
async def embedded_harness(tmp_path: Path, clock: Clock | None = None) -> AsyncIterator[BusHarness]:
    """A service on SQLite with its embedded broker, torn down after use."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/service.db")
    transport, broker = embedded_transport(tmp_path / "bus.db")
    await create_schema(database)
    built = BusHarness(database, transport, "tests.things", clock=clock or Clock(), broker=broker)
    try:
        yield built
    finally:
        await built.stop()
        broker.close()
        await database.dispose()


@pytest.fixture(params=SHAPES)
async def harness(request, tmp_path, rabbit) -> AsyncIterator[BusHarness]:
    shape = request.param
    if shape == "sqlite+embedded":
        async with embedded_harness(tmp_path) as built:
            yield built
        return
    url = rabbit.url  # only this shape needs the broker: the SQLite one runs without it
    with postgres_database() as database_url:
        database = Database(database_url)
        await create_schema(database)
        built = BusHarness(
            database,
            rabbit_transport(url, rabbit.exchange),
            rabbit.queue("things"),
            rabbit_url=url,
        )
        yield built
        await built.stop()
        await database.dispose()


async def _all_marked(harness: BusHarness) -> bool:
    return await harness.unpublished() == 0


async def test_every_committed_event_is_applied_exactly_once(harness):
    await harness.start()
    for n in range(50):
        await harness.emit(f"user-{n}")
    await harness.wait_until(lambda: _applied_count(harness, 50))
    applied = await harness.applied()
    assert len(applied) == 50
    assert set(applied.values()) == {1}
    # Marked published too: the relay marks a batch of publishes up to its mark delay (50 ms)
    # after the first, which the consumer may have outrun.
    await harness.wait_until(lambda: _all_marked(harness), timeout=5)


async def test_a_rolled_back_change_emits_nothing(harness):
    await harness.start()
    async with harness.unit_of_work() as uow:
        from estuary.identity.v1 import events_pb2
        from tests.integration.harness import THING_HAPPENED

        uow.emit(THING_HAPPENED, events_pb2.UserDeleted(user_id="ghost"), subject="users/ghost")
        await uow.rollback()
    await harness.emit("real")
    await harness.wait_until(lambda: _applied_count(harness, 1))
    await asyncio.sleep(0.3)
    assert await harness.applied() == {"real": 1}


async def test_a_relay_killed_after_publishing_republishes_and_the_inbox_absorbs_it(harness):
    await harness.start(relay=False)
    for n in range(10):
        await harness.emit(f"user-{n}")
    original = harness.relay._record

    async def die_before_marking(*args, **kwargs):
        raise SystemExit("relay killed between publish and mark")

    harness.relay._record = die_before_marking
    with pytest.raises(SystemExit):
        await harness.relay.relay_once()
    assert await harness.unpublished() == 10
    harness.relay._record = original
    # What the dead relay had in hand is gone with it; the sweep finds the rows it left.
    await asyncio.sleep(0.6)  # past the sweep's grace period
    assert await harness.relay.relay_once() == 10
    await harness.wait_until(lambda: _duplicates_absorbed(harness, 10))
    applied = await harness.applied()
    assert len(applied) == 10 and set(applied.values()) == {1}
    assert harness.consumer.stats.applied == 10
    assert harness.consumer.stats.duplicates == 10
    assert await harness.unpublished() == 0


async def test_a_failing_handler_is_retried_until_it_succeeds_then_applied_once(harness):
    harness.flaky.failures_left["flaky"] = 2
    await harness.start()
    await harness.emit("flaky")
    await harness.wait_until(lambda: _applied_count(harness, 1))
    assert await harness.applied() == {"flaky": 1}
    assert harness.consumer.stats.failures == 2


async def test_a_poison_message_is_dead_lettered_while_the_others_keep_flowing(harness):
    harness.flaky.always_fail.add("poison")
    await harness.start()
    await harness.emit("poison", POISON)
    for n in range(20):
        await harness.emit(f"user-{n}")
    await harness.wait_until(lambda: _applied_count(harness, 20))

    async def dead_lettered() -> bool:
        return await harness.dead_letters() == 1

    await harness.wait_until(dead_lettered)
    assert "poison" not in await harness.applied()
    # delivery limit 3: the first delivery and three redeliveries, then the dead-letter queue
    assert harness.consumer.stats.failures == 4


async def test_a_running_relay_sweeps_rows_it_was_never_handed(harness):
    await harness.start()
    # Committed with no hand-over to the relay, as when a process dies right after a commit
    # or another process writes the database: only the sweep can find this row.
    async with UnitOfWork(harness.database, source="/estuary/tests", clock=harness.clock) as uow:
        orphan = uow.emit(
            THING_HAPPENED, events_pb2.UserDeleted(user_id="orphan"), subject="users/orphan"
        )
        await uow.commit()
    # Hand-overs keep the relay busy meanwhile; they must not starve the sweep.
    for n in range(5):
        await harness.emit(f"user-{n}")
        await asyncio.sleep(0.1)
    await harness.wait_until(lambda: _applied_count(harness, 6), timeout=10)
    assert (await harness.applied()).get("orphan") == 1
    # The sweep reads the event back from its row as it was emitted.
    assert await harness.effects_of("orphan") == [(orphan, "users/orphan")]
    await harness.wait_until(lambda: _all_marked(harness), timeout=5)


async def test_an_unroutable_event_stays_in_the_outbox_instead_of_vanishing(harness):
    await harness.start(consume=False)
    from chassis.bus.envelope import EventType
    from estuary.identity.v1 import events_pb2

    nobody_listens = EventType("nobody.listens", events_pb2.UserDeleted, "tests")
    async with harness.unit_of_work() as uow:
        uow.emit(nobody_listens, events_pb2.UserDeleted(user_id="x"), subject="users/x")
        await uow.commit()

    async def attempted() -> bool:
        return harness.relay.stats.unroutable >= 1

    await harness.wait_until(attempted)
    assert await harness.unpublished() == 1


async def _applied_count(harness: BusHarness, expected: int) -> bool:
    return sum(1 for _ in (await harness.applied())) >= expected


async def _duplicates_absorbed(harness: BusHarness, expected: int) -> bool:
    return (
        harness.consumer.stats.duplicates >= expected and harness.consumer.stats.applied >= expected
    )


# One trace from the emitting call to the consumer --------------------------------------------
# On the embedded shape only: what is checked is the relay's and the consumer's spans, the
# same whatever carries the event between them.


@dataclass
class Spans:
    """What the relay and the consumers traced, and a tracer for the calls that emit."""

    exporter: InMemorySpanExporter
    tracer: trace.Tracer

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == name]


@pytest.fixture
def spans(monkeypatch) -> Iterator[Spans]:
    """Tracing on for the relay and the consumers of this process, spans kept in memory (a
    provider of the test's own: the process-wide one is set once and for all)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(outbox_module, "_tracer", provider.get_tracer("chassis.bus.outbox"))
    monkeypatch.setattr(outbox_module, "trace_on", lambda: True)
    monkeypatch.setattr(consumer_module, "_tracer", provider.get_tracer("chassis.bus.consumer"))
    yield Spans(exporter, provider.get_tracer("tests"))
    provider.shutdown()


@pytest.fixture
async def embedded(tmp_path) -> AsyncIterator[BusHarness]:
    async with embedded_harness(tmp_path) as built:
        yield built


async def test_one_trace_runs_from_the_emitting_call_through_the_publish_to_the_consumer(
    embedded, spans
):
    await embedded.start()
    with spans.tracer.start_as_current_span("request") as request:
        event_id = await embedded.emit("traced")
    await embedded.wait_until(lambda: _applied_count(embedded, 1))
    [publish] = spans.named("publish thing.happened")
    # The last delivery applied it (a busy SQLite file may have failed one before).
    *_, process = spans.named("process thing.happened")
    caller = request.get_span_context()
    assert publish.kind == SpanKind.PRODUCER
    assert publish.parent is not None and publish.parent.span_id == caller.span_id
    assert publish.context.trace_id == caller.trace_id
    assert dict(publish.attributes or {}) == {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": "thing.happened",
        "messaging.message.id": event_id,
    }
    assert publish.status.status_code == StatusCode.UNSET
    # The event on the wire carried the publish span: the consumer continues from it.
    assert process.kind == SpanKind.CONSUMER
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    assert process.context.trace_id == caller.trace_id
    assert dict(process.attributes or {}) == {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": "thing.happened",
        "messaging.consumer.group.name": "tests.things",
        "messaging.message.id": event_id,
    }
    assert process.status.status_code == StatusCode.UNSET


async def test_an_event_emitted_outside_any_trace_is_published_unspanned_and_starts_its_own(
    embedded, spans
):
    await embedded.start()
    await embedded.emit("untraced")
    await embedded.wait_until(lambda: _applied_count(embedded, 1))
    assert spans.named("publish thing.happened") == []
    processes = spans.named("process thing.happened")
    assert processes
    assert [p.parent for p in processes] == [None] * len(processes)


async def test_a_failing_handler_marks_its_process_span_failed(embedded, spans):
    embedded.flaky.failures_left["flaky"] = 1
    await embedded.start()
    await embedded.emit("flaky")
    await embedded.wait_until(lambda: _applied_count(embedded, 1))
    *failed, applied = spans.named("process thing.happened")
    assert failed
    assert {f.status.status_code for f in failed} == {StatusCode.ERROR}
    assert applied.status.status_code == StatusCode.UNSET


async def test_an_unroutable_event_ends_its_publish_span_failed_naming_why(embedded, spans):
    await embedded.start(relay=False, consume=False)
    nobody_listens = EventType("nobody.listens", events_pb2.UserDeleted, "tests")
    with spans.tracer.start_as_current_span("request"):
        await embedded.emit("routed")
        async with embedded.unit_of_work() as uow:
            uow.emit(nobody_listens, events_pb2.UserDeleted(user_id="x"), subject="users/x")
            await uow.commit()
    assert await embedded.relay.relay_once() == 2
    [routed] = spans.named("publish thing.happened")
    [unroutable] = spans.named("publish nobody.listens")
    assert routed.status.status_code == StatusCode.UNSET
    assert unroutable.status.status_code == StatusCode.ERROR
    assert unroutable.status.description == "Unroutable"
    assert await embedded.unpublished() == 1


async def test_a_broker_that_fails_the_publish_ends_every_publish_span_with_the_error(
    embedded, spans
):
    await embedded.start(relay=False, consume=False)
    with spans.tracer.start_as_current_span("request"):
        await embedded.emit("first")
        await embedded.emit("second")

    async def broker_gone(events):
        raise ConnectionError("broker gone")

    embedded.transport.publish = broker_gone  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await embedded.relay.relay_once()
    published = spans.named("publish thing.happened")
    assert len(published) == 2
    for span in published:
        assert span.status.status_code == StatusCode.ERROR
        assert [e.attributes["exception.type"] for e in span.events] == ["ConnectionError"]
    assert await embedded.unpublished() == 2


# The relay's retries, on a frozen clock --------------------------------------------------------


async def test_an_event_the_bus_refuses_is_retried_later_and_later_until_it_goes_out(tmp_path):
    clock = FrozenClock()
    async with embedded_harness(tmp_path, clock=clock) as harness:
        await harness.start(relay=False, consume=False)
        nobody_listens = EventType("nobody.listens", events_pb2.UserDeleted, "tests")
        async with harness.unit_of_work() as uow:
            uow.emit(nobody_listens, events_pb2.UserDeleted(user_id="x"), subject="users/x")
            await uow.commit()
        created = clock.now()
        # The hand-over fails at once; the sweep takes the row only once its grace (0.5 s)
        # and its back-off (0.25 s, then 0.5 s, 1 s...) are over.
        assert await harness.relay.relay_once() == 1
        assert await _retry_state(harness) == (1, created + timedelta(milliseconds=250))
        clock.advance(timedelta(milliseconds=499))
        assert await harness.relay.relay_once() == 0
        clock.advance(timedelta(milliseconds=1))
        assert await harness.relay.relay_once() == 1
        assert await _retry_state(harness) == (2, clock.now() + timedelta(milliseconds=500))
        clock.advance(timedelta(milliseconds=499))
        assert await harness.relay.relay_once() == 0
        clock.advance(timedelta(milliseconds=1))
        assert await harness.relay.relay_once() == 1
        assert await _retry_state(harness) == (3, clock.now() + timedelta(seconds=1))
        assert harness.relay.stats.failed_attempts == 3
        assert harness.relay.stats.unroutable == 3
        assert harness.relay.stats.published == 0

        await harness.transport.declare_queue("tests.late", ["nobody.listens"])
        clock.advance(timedelta(seconds=1))
        assert await harness.relay.relay_once() == 1
        assert await harness.unpublished() == 0
        assert harness.relay.stats.published == 1
        assert harness.broker is not None
        [late] = harness.broker.queues["tests.late"].ready
        assert late.routing_key == "nobody.listens"


async def _retry_state(harness: BusHarness) -> tuple[int, datetime]:
    """The row's failed attempts and when it is next due; its error says why it waits."""
    async with harness.database.engine.connect() as connection:
        row = (await connection.execute(sa.select(outbox))).one()
    assert row.published_at is None
    assert row.last_error == "no queue is bound for nobody.listens"
    return row.attempts, row.next_attempt_at


async def test_a_failed_publish_is_counted_by_service_and_type_and_kept(tmp_path):
    metrics_on()
    failing = EventType(f"tests.failing-{new_id()}", events_pb2.UserDeleted, "tests")
    async with embedded_harness(tmp_path) as harness:
        await harness.start(relay=False, consume=False)

        async def broker_refuses(events):
            return [ConnectionError("channel closed") for _ in events]

        harness.transport.publish = broker_refuses  # type: ignore[method-assign]
        for user_id in ("a", "b"):
            async with harness.unit_of_work() as uow:
                uow.emit(failing, events_pb2.UserDeleted(user_id=user_id), subject="users/x")
                await uow.commit()
        assert await harness.relay.relay_once() == 2
        # A relay not told its service counts under none.
        mine = {"service": "", "event_type": failing.name}
        assert value(scrape(), "estuary_relay_failed_total", **mine) == 2
        assert value(scrape(), "estuary_bus_unroutable_total", **mine) == 0
        assert (harness.relay.stats.failed_attempts, harness.relay.stats.unroutable) == (2, 0)
        assert await harness.unpublished() == 2


async def test_published_events_are_purged_once_older_than_the_retention_never_before(tmp_path):
    clock = FrozenClock()
    async with embedded_harness(tmp_path, clock=clock) as harness:
        await harness.start(relay=False)
        await harness.emit("kept a week")
        assert await harness.relay.relay_once() == 1
        await harness.emit("not yet published")
        week = timedelta(days=7)
        clock.advance(week)
        assert await purge_published(harness.database, clock, week) == 0
        clock.advance(timedelta(microseconds=1))
        assert await purge_published(harness.database, clock, week) == 1
        # An event not yet published is kept however old: it has still to go out.
        assert await harness.unpublished() == 1
        assert await purge_published(harness.database, clock, timedelta(0)) == 0


async def test_the_backlog_reads_each_type_s_oldest_unsent_row_and_zero_once_all_went_out(
    tmp_path,
):
    clock = FrozenClock()
    async with embedded_harness(tmp_path, clock=clock) as harness:
        await harness.start(relay=False, consume=False)
        await harness.emit("first")
        clock.advance(timedelta(seconds=30))
        await harness.emit("second")
        await harness.relay.measure_lag()
        clock.advance(timedelta(seconds=10))
        assert harness.relay.outbox_backlog() == {THING_HAPPENED.name: (40.0, 2)}
        assert await harness.relay.relay_once() == 2
        await harness.relay.measure_lag()
        clock.advance(timedelta(minutes=5))
        assert harness.relay.outbox_backlog() == {THING_HAPPENED.name: (0.0, 0)}


async def test_a_relay_that_sweeps_a_full_batch_sweeps_again_at_once(tmp_path):
    clock = FrozenClock()
    async with embedded_harness(tmp_path, clock=clock) as harness:
        await harness.start(relay=False, consume=False)
        # Rows no relay was handed, as after a crash: only sweeps find them.
        async with UnitOfWork(harness.database, source="/estuary/tests", clock=clock) as uow:
            for n in range(5):
                uow.emit(THING_HAPPENED, events_pb2.UserDeleted(user_id=f"u{n}"), subject="x")
            await uow.commit()
        clock.advance(timedelta(seconds=3))
        # Batches of two and a minute between sweeps: the backlog goes out in three sweeps
        # one after the other, not in three minutes.
        relay = _relay_of_two(harness, clock)
        running = asyncio.create_task(relay.run())
        try:
            await harness.wait_until(lambda: _unpublished_is(harness, 0), timeout=10)
        finally:
            await _stop(running)
        assert relay.stats.published == 5


async def _unpublished_is(harness: BusHarness, expected: int) -> bool:
    return await harness.unpublished() == expected


async def test_a_relay_handed_more_than_a_batch_publishes_them_all_without_waiting(tmp_path):
    clock = FrozenClock()
    async with embedded_harness(tmp_path, clock=clock) as harness:
        await harness.start(relay=False, consume=False)
        relay = _relay_of_two(harness, clock)
        running = asyncio.create_task(relay.run())
        try:
            async with UnitOfWork(
                harness.database,
                source="/estuary/tests",
                clock=clock,
                on_events_committed=relay.notify,
            ) as uow:
                for n in range(5):
                    uow.emit(THING_HAPPENED, events_pb2.UserDeleted(user_id=f"u{n}"), subject="x")
                await uow.commit()
            await harness.wait_until(lambda: _unpublished_is(harness, 0), timeout=10)
        finally:
            await _stop(running)
        assert relay.stats.published == 5


async def test_an_idle_relay_still_sweeps_on_its_interval(tmp_path):
    clock = FrozenClock()
    async with embedded_harness(tmp_path, clock=clock) as harness:
        await harness.start(relay=False, consume=False)
        relay = _relay_of_two(harness, clock, poll_interval=0.1)
        running = asyncio.create_task(relay.run())
        try:
            await asyncio.sleep(0.2)  # its first sweep found nothing: it waits
            # Written by another process: nothing hands it over or wakes the relay.
            async with UnitOfWork(harness.database, source="/estuary/tests", clock=clock) as uow:
                uow.emit(THING_HAPPENED, events_pb2.UserDeleted(user_id="late"), subject="x")
                await uow.commit()
            clock.advance(timedelta(seconds=3))
            await harness.wait_until(lambda: _unpublished_is(harness, 0), timeout=10)
        finally:
            await _stop(running)


def _relay_of_two(
    harness: BusHarness, clock: FrozenClock, poll_interval: float = 60.0
) -> OutboxRelay:
    return OutboxRelay(
        harness.database,
        harness.transport,
        clock=clock,
        batch_size=2,
        poll_interval=poll_interval,
        sweep_grace=timedelta(seconds=2),
    )


async def _stop(running: asyncio.Task[None]) -> None:
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def test_a_relay_whose_sweep_fails_tries_again_after_its_interval_not_at_once(
    tmp_path, caplog
):
    clock = FrozenClock()
    async with embedded_harness(tmp_path, clock=clock) as harness:
        async with harness.database.engine.begin() as connection:
            await connection.execute(sa.text("DROP TABLE outbox"))
        relay = _relay_of_two(harness, clock)
        running = asyncio.create_task(relay.run())
        try:
            await asyncio.sleep(0.5)
        finally:
            await _stop(running)
    # One failed sweep said once, not a loop of them flooding the log and the database.
    failed = [r for r in caplog.records if r.name == "chassis.bus.outbox" and r.exc_info]
    assert len(failed) == 1
