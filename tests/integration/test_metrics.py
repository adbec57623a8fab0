"""Metrics an operator reads as Prometheus text: RED per gRPC method and HTTP route, the
outbox's lag and backlog, relay and consumer counters, dead letters and unroutable events,
and the database pools; on the gateway's /metrics and on a service's metrics port.

Metrics are process-wide and cumulative, so each test reads the series it caused by labels
of its own (a unique service or queue name) or as a difference before and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from chassis import metrics
from chassis.bus.consumer import EventConsumer, Subscription
from chassis.bus.envelope import EventType, OutgoingEvent, ReceivedEvent
from chassis.bus.outbox import OutboxRelay
from chassis.bus.transport import Transport
from chassis.clock import FrozenClock
from chassis.db import Database
from chassis.tables import outbox
from chassis.uow import UnitOfWork
from estuary.identity.v1 import events_pb2
from tests.e2e.accounts import PASSWORD, sign_up
from tests.e2e.stacks import free_port, start_embedded
from tests.infrastructure import postgres_database, unique
from tests.integration.harness import create_schema, embedded_transport, rabbit_transport
from tests.scrape import metrics_on, scrape, series, value


@pytest.fixture(autouse=True)
def _metrics() -> None:
    metrics_on()


# RED on the embedded suite ------------------------------------------------------------------


async def test_red_series_for_an_http_route_and_a_grpc_method(tmp_path):
    stack = await start_embedded(tmp_path / "data")
    try:
        async with stack.client() as client:
            account = await sign_up(client)
            before = (await client.get("/metrics")).text
            for _ in range(3):
                assert (await client.get("/api/v1/users/me", headers=account.headers)).is_success
            refused = await client.post(
                "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD + "x"}
            )
            assert refused.status_code == 401
            scraped = await client.get("/metrics")
    finally:
        await stack.suite.stop()
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = scraped.text

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Rate and duration per route and status (the route's template, never the raw path).
    me = {"http_route": "/api/v1/users/me", "http_request_method": "GET"}
    assert grew("http_server_request_duration_seconds_count", **me) == 3
    assert grew("http_server_request_duration_seconds_bucket", le="+Inf", **me) == 3
    assert grew("http_server_request_duration_seconds_sum", **me) > 0
    # Errors: the same metric by status code.
    login = {"http_route": "/api/v1/auth/login", "http_response_status_code": "401"}
    assert grew("http_server_request_duration_seconds_count", **login) == 1
    # gRPC: per service, method and status code.
    get_user = {"rpc_service": "estuary.identity.v1.IdentityService", "rpc_method": "GetUser"}
    assert grew("rpc_server_duration_milliseconds_count", rpc_grpc_status_code="0", **get_user) == 3
    assert grew("rpc_server_duration_milliseconds_sum", **get_user) > 0
    unauthenticated = {"rpc_method": "Login", "rpc_grpc_status_code": "16"}
    assert grew("rpc_server_duration_milliseconds_count", **unauthenticated) == 1
    # Each service's pool is there, by name (embedded: 10 + SQLAlchemy's 10 overflow).
    for service in ("identity", "catalog"):
        assert value(after, "db_client_connections_max", pool_name=service) == 20
        assert series(after, "db_client_connections_usage", pool_name=service, state="idle")


async def test_metrics_answer_outside_the_rate_limits():
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    app = create_app(GatewaySettings(rate_limit_anonymous_per_hour=1))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        assert (await client.get("/api/v1/nothing-here")).status_code == 404
        assert (await client.get("/api/v1/nothing-here")).status_code == 429
        for _ in range(3):
            answer = await client.get("/metrics")
            assert answer.status_code == 200
            assert "target_info" in answer.text


# The bus ------------------------------------------------------------------------------------

NOBODY_LISTENS = EventType("nobody.listens", events_pb2.UserDeleted, "tests")
NOBODY_EITHER = EventType("nobody.either", events_pb2.UserDeleted, "tests")
WANTED = EventType("thing.wanted", events_pb2.UserDeleted, "tests")
DELIVERY_LIMIT = 2


@dataclass
class Bus:
    database: Database
    transport: Transport
    queue: str


@pytest.fixture(params=["sqlite+embedded", "postgres+rabbitmq"])
async def bus(request, tmp_path, rabbit) -> AsyncIterator[Bus]:
    if request.param == "sqlite+embedded":
        database = Database(f"sqlite+aiosqlite:///{tmp_path}/service.db")
        transport, broker = embedded_transport(tmp_path / "bus.db", DELIVERY_LIMIT)
        await create_schema(database)
        await transport.start()
        yield Bus(database, transport, unique("tests.metrics"))
        await transport.close()
        broker.close()
        await database.dispose()
        return
    url = rabbit.url  # only this shape needs the broker: the SQLite one runs without it
    with postgres_database() as database_url:
        database = Database(database_url)
        await create_schema(database)
        transport = rabbit_transport(url, rabbit.exchange, DELIVERY_LIMIT)
        await transport.start()
        yield Bus(database, transport, rabbit.queue(unique("metrics")))
        await transport.close()
        await database.dispose()


async def emit(database: Database, clock: FrozenClock, event_type: EventType, n: int) -> None:
    async with UnitOfWork(database, source="/estuary/tests", clock=clock) as uow:
        for i in range(n):
            uow.emit(event_type, events_pb2.UserDeleted(user_id=f"u{i}"), subject=f"users/u{i}")
        await uow.commit()


async def test_an_announced_event_no_queue_is_bound_to_is_done_not_kept(bus, caplog):
    # Announced (needed by no consumer, like message.sent): published once, counted as
    # unheard, never retried; an event that is not announced waits beside it as before.
    caplog.set_level(logging.WARNING, logger="chassis.bus.outbox")
    service = unique("svc")
    clock = FrozenClock()
    told = EventType("nobody.needs", events_pb2.UserDeleted, "tests", announced=True)
    relay = OutboxRelay(
        bus.database,
        bus.transport,
        clock=clock,
        sweep_grace=timedelta(0),
        service=service,
        announced=frozenset({told.name}),
    )
    await emit(bus.database, clock, told, 2)
    await emit(bus.database, clock, NOBODY_LISTENS, 1)
    assert await relay.relay_once() == 3
    clock.advance(timedelta(minutes=10))  # past the kept one's back-off
    assert await relay.relay_once() == 1

    async with bus.database.engine.connect() as connection:
        unsent = await connection.execute(
            sa.select(outbox.c.event_type).where(outbox.c.published_at.is_(None))
        )
        assert unsent.scalars().all() == ["nobody.listens"]
    text = scrape()
    assert value(text, "estuary_bus_unheard_total", service=service, event_type="nobody.needs") == 2
    assert value(text, "estuary_bus_unroutable_total", service=service) == 2
    assert [r.event_type for r in caplog.records] == ["nobody.listens"]


async def test_unroutable_events_are_warned_once_per_type_counted_and_their_lag_reported(
    bus, caplog
):
    caplog.set_level(logging.DEBUG, logger="chassis.bus.outbox")
    service = unique("svc")
    clock = FrozenClock()
    relay = OutboxRelay(
        bus.database, bus.transport, clock=clock, sweep_grace=timedelta(0), service=service
    )
    await emit(bus.database, clock, NOBODY_LISTENS, 2)
    await emit(bus.database, clock, NOBODY_EITHER, 1)
    sweeps = 4
    for _ in range(sweeps):
        clock.advance(timedelta(minutes=10))  # past each retry's back-off
        assert await relay.relay_once() == 3

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(r.event_type for r in warnings) == ["nobody.either", "nobody.listens"]
    assert all("no queue bound" in r.getMessage() for r in warnings)
    text = scrape()
    assert value(text, "estuary_bus_unroutable_total", service=service) == 3 * sweeps
    assert (
        value(text, "estuary_bus_unroutable_total", service=service, event_type="nobody.listens")
        == 2 * sweeps
    )

    # Lag: the age of the oldest unsent row, by type, as of the last measure.
    await relay.measure_lag()
    text = scrape()
    lag = {"service": service, "event_type": "nobody.listens"}
    assert value(text, "estuary_outbox_lag_seconds", **lag) == 40 * 60
    assert value(text, "estuary_outbox_pending", **lag) == 2
    assert value(text, "estuary_outbox_pending", service=service, event_type="nobody.either") == 1

    # A consumer arrives: the events go out, the lag falls to 0, publishing is counted.
    await bus.transport.declare_queue(bus.queue, ["nobody.listens"])
    clock.advance(timedelta(minutes=10))
    await relay.relay_once()
    await relay.measure_lag()
    text = scrape()
    assert value(text, "estuary_relay_published_total", **lag) == 2
    assert value(text, "estuary_outbox_lag_seconds", **lag) == 0
    assert value(text, "estuary_outbox_pending", **lag) == 0
    assert value(text, "estuary_outbox_lag_seconds", service=service, event_type="nobody.either")
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2

    # The service's periodic measure keeps it current; once stopped, it reports nothing.
    await emit(bus.database, clock, NOBODY_LISTENS, 1)
    watching = asyncio.create_task(relay.watch_lag(interval=0.01))
    await _wait_until(lambda: _async(value(scrape(), "estuary_outbox_pending", **lag) == 1))
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
    assert series(scrape(), "estuary_outbox_lag_seconds", service=service) == []


async def test_consumer_counters_and_dead_letters(bus):
    clock = FrozenClock()
    applied: list[str] = []

    async def handler(uow: UnitOfWork, event: ReceivedEvent) -> None:
        if event.message.user_id == "poison":
            raise RuntimeError("cannot apply this one")
        # Counted once committed: a batch that held the poison ran this handler for the fine
        # event too, then rolled back and applied it again alone.
        uow.after_commit(lambda: applied.append(event.id))

    consumer = EventConsumer(
        Subscription(bus.queue, [WANTED], handler),
        unit_of_work=lambda: UnitOfWork(bus.database, source="/estuary/tests", clock=clock),
        transport=bus.transport,
        backoff=0.0,
        backoff_max=0.0,
        delivery_limit=DELIVERY_LIMIT,
    )
    await consumer.start()
    relay = OutboxRelay(bus.database, bus.transport, clock=clock, sweep_grace=timedelta(0))
    async with UnitOfWork(bus.database, source="/estuary/tests", clock=clock) as uow:
        uow.emit(WANTED, events_pb2.UserDeleted(user_id="fine"), subject="users/fine")
        uow.emit(WANTED, events_pb2.UserDeleted(user_id="poison"), subject="users/poison")
        await uow.commit()
    await relay.relay_once()
    # The fine event once more (a relay that published and crashed before marking), and a
    # message that is no event at all.
    first = await _first_outbox_event(bus.database)
    await bus.transport.publish(
        [first, OutgoingEvent("x", WANTED.name, {"ce-type": WANTED.name}, "text/plain", b"?")]
    )
    mine = {"queue": bus.queue, "event_type": WANTED.name}

    async def settled() -> bool:
        text = scrape()
        return (
            value(text, "estuary_consumer_dead_lettered_total", queue=bus.queue) >= 2
            and value(text, "estuary_consumer_duplicates_total", **mine) >= 1
        )

    await _wait_until(settled)
    text = scrape()
    assert value(text, "estuary_consumer_applied_total", **mine) == 1
    assert value(text, "estuary_consumer_duplicates_total", **mine) == 1
    # The poison event fails on every delivery the queue allows, then is dead-lettered.
    assert value(text, "estuary_consumer_failures_total", **mine) == DELIVERY_LIMIT + 1
    assert value(text, "estuary_consumer_dead_lettered_total", reason="failed", **mine) == 1
    assert (
        value(text, "estuary_consumer_dead_lettered_total", queue=bus.queue, reason="malformed")
        == 1
    )
    handled = 1 + 1 + DELIVERY_LIMIT + 1  # applied, duplicate, each failed delivery
    assert value(text, "estuary_consumer_duration_seconds_count", **mine) == handled
    assert len(applied) == 1


async def _first_outbox_event(database: Database) -> OutgoingEvent:
    """The first event in the outbox, as the relay publishes it."""
    async with database.engine.connect() as connection:
        row = (
            await connection.execute(sa.select(outbox).order_by(outbox.c.position).limit(1))
        ).one()
    return OutgoingEvent(
        row.event_id, row.event_type, dict(row.headers), row.content_type, bytes(row.body)
    )


async def _async(result: bool) -> bool:
    return result


async def _wait_until(condition, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


# Pools ---------------------------------------------------------------------------------------


async def test_pool_use_is_read_at_each_scrape(empty_database_url):
    database = Database(empty_database_url, pool_size=3)
    name = unique("pool")
    database.report_pool_use(name)
    held = [await database.connect(write=False, scan=True) for _ in range(2)]
    try:
        text = scrape()
        assert value(text, "db_client_connections_usage", pool_name=name, state="used") == 2
        limit = 3 if database.dialect == "postgresql" else 13
        assert value(text, "db_client_connections_max", pool_name=name) == limit
    finally:
        for connection in held:
            await connection.close()
    text = scrape()
    assert value(text, "db_client_connections_usage", pool_name=name, state="used") == 0
    assert value(text, "db_client_connections_usage", pool_name=name, state="idle") == 2
    await database.dispose()
    assert series(scrape(), "db_client_connections_max", pool_name=name) == []


# A service's own endpoint --------------------------------------------------------------------


def test_a_service_serves_its_metrics_on_its_metrics_port():
    assert metrics.serve_metrics("127.0.0.1", 0) is None  # 0: off
    port = free_port()
    server = metrics.serve_metrics("127.0.0.1", port)
    assert server is not None and server.port == port
    try:
        metrics.rpc_server_duration.record(
            1.5, {"rpc.system": "grpc", "rpc.service": "probe.v1.Probe", "rpc.method": "Ping"}
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert answer.status == 200
            text = answer.read().decode()
        assert value(text, "rpc_server_duration_milliseconds_count", rpc_method="Ping") >= 1
    finally:
        server.stop()
