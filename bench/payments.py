"""Payments under load: checkout through the gateway, the ledger's own rate beside TPC-B,
earnings from booking.completed off the bus, and `estuary ledger check` on a large ledger.

**POST /checkout/s**: real bookings of 30 EUR sessions (four practitioners open around the
clock, each client booking its own half hours, `--payments-bookings` in all) are made first
through the gateway, then each client's connection checks its bookings out, one new order
each, on the sandbox provider (credits first, none here; then one payment intent).

**ledger transactions/s**: payments' unit of work and ledger repository driven directly on a
database of the bench's own, `--payments-writers` at once: each unit of work posts one
booking's earning (clearing -> the practitioner's pending account and the platform's
revenue, the pending account's guarded balance moved) and commits. On PostgreSQL, pgbench's
TPC-B runs right after with as many clients (target: the ledger at 0.25x or more of it).

**earnings from booking.completed**: `--payments-events` booking.completed events queued on
the bus (RabbitMQ, or the embedded broker), then payments' own earnings consumer (its inbox,
its handler, its unit of work) on a database of the bench's own records them: events/s from
its start to the last earning committed.

**estuary ledger check**: a ledger of `--payments-postings` postings (each booking's charge
and its earning split, five postings a booking, with its earning row) written straight into a
database of the bench's own (COPY on PostgreSQL), then the operator's command timed on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import sqlite3
import subprocess
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.booking import ALL_DAY, CREATE_PRACTITIONERS, Setup, pgbench_tps
from bench.bus import chassis_default
from bench.figures import Figure, say
from bench.loadgen import Endpoint
from bench.process import SeparateProcess
from bench.rest import RestBench
from bench.shapes import (
    POSTGRES_ADMIN_DSN,
    RABBITMQ_URL,
    REPOSITORY,
    BenchRun,
    Shape,
    delete_exchanges,
    delete_queues,
    estuary_command,
    postgres_databases,
)
from chassis.bus.consumer import EventConsumer
from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import encode_event
from chassis.bus.rabbitmq import RabbitTransport
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.db import Database
from chassis.ids import new_id
from chassis.migrations import upgrade
from chassis.money import Money
from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2 as booking_events
from services.payments.bootstrap import MIGRATIONS
from services.payments.consumers import subscriptions
from services.payments.domain.earnings import (
    CompletedBooking,
    Earning,
    EarningStatus,
    Tier,
    split,
)
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    AccountKind,
    TransactionKind,
)
from services.payments.events import BOOKING_COMPLETED
from services.payments.service_layer.base import commission_schedule
from services.payments.settings import PaymentsSettings
from services.payments.tables import (
    earnings,
    ledger_accounts,
    ledger_postings,
    ledger_transactions,
    orders,
    payable_bookings,
)
from services.payments.uow import PaymentsUnitOfWork

SOURCE = "/estuary/bench"
PRICE = Money(3000, "EUR")
TPCB_TARGET_RATIO = 0.25
# Practitioners whose earnings the ledger and the consumer post: enough that writers seldom
# queue on one pending account, few enough that they sometimes do, as on a busy day.
EARNING_PRACTITIONERS = 100
BOOKING_CONNECTIONS = 16
BOOKING_ATTEMPTS = 3
KNOWN_TIMEOUT_SECONDS = 60.0
RECORDED_TIMEOUT_SECONDS = 300.0
PUBLISH_BATCH = 200
POSTINGS_PER_BOOKING = 5  # the charge's two, the earning's three
COPY_CHUNK = 50_000


@dataclass(frozen=True)
class PaymentsOptions:
    bookings: int
    writers: int
    ledger_seconds: float
    events: int
    postings: int
    sqlite_postings: int


# --- checkout through the gateway -----------------------------------------------------------


async def checkout_figures(
    rest: RestBench, shape: Shape, run: BenchRun, options: PaymentsOptions
) -> list[Figure]:
    """POST /checkout of real bookings awaiting payment, one new order per request."""
    setup = Setup(shape, run)
    try:
        connections = rest.options.concurrency
        say(
            f"{shape.name}: payments: {options.bookings} bookings of {CREATE_PRACTITIONERS} "
            f"practitioners by {connections} clients, to check out"
        )
        sellers = [await setup.seller(ALL_DAY) for _ in range(CREATE_PRACTITIONERS)]
        clients = [await setup.account("client") for _ in range(connections)]
        start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        booked = await _book(shape, run, sellers, clients, options.bookings, start)
        client_ids = [client_id for _, client_id in clients]
        await _wait_until_payable(shape, client_ids, options.bookings)
        endpoints = [
            Endpoint(
                "POST",
                "/api/v1/checkout",
                bearer=token,
                body={"booking_id": ids[0]},
                further_bodies=tuple({"booking_id": i} for i in ids[1:]),
            )
            for (token, _), ids in zip(clients, booked, strict=True)
            if ids
        ]
        say(f"{shape.name}: POST /checkout, {len(endpoints)} connections")
        result, split = await rest.measure_by_process(endpoints)
        made = await _orders_of(shape, client_ids)
    finally:
        await setup.close()
    figures = rest.summarise("POST /checkout", result)
    # The load wraps around each connection's bookings when it runs out of them, and a second
    # checkout of a booking only answers its order again: a cheaper request, so flagged.
    ran_out = made >= options.bookings
    note = f"{made} orders made of {options.bookings} bookings (sandbox provider)"
    if ran_out:
        note += "; the bookings ran out, so some answers were replays: raise --payments-bookings"
        say(f"  ! POST /checkout on {shape.name}: {note}")
    return [
        Figure(
            f.name,
            f.shape,
            f.value,
            f.unit,
            f.target,
            f.met,
            "; ".join(part for part in (f.detail, note) if part)
            + (split if f.name.endswith("CPU/request") else ""),
        )
        for f in figures
    ]


async def _book(
    shape: Shape,
    run: BenchRun,
    sellers: list[Any],
    clients: list[tuple[str, str]],
    count: int,
    start: datetime,
) -> list[list[str]]:
    """`count` bookings awaiting payment, spread over the clients; each client's ids."""
    booked: list[list[str]] = [[] for _ in clients]
    gate = asyncio.Semaphore(BOOKING_CONNECTIONS)
    async with httpx.AsyncClient(
        base_url=shape.base_url, timeout=60.0, headers={"X-Forwarded-For": run.client_address}
    ) as http:

        async def one(n: int) -> None:
            seller = sellers[n % len(sellers)]
            at = start + timedelta(minutes=30 * (n // len(sellers)))
            token, _ = clients[n % len(clients)]
            # A busy machine can run a booking past the gateway's deadline after it committed:
            # the retry, with the same key, answers that booking instead of a taken slot.
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{run.token}-{n}"}
            for attempt in range(BOOKING_ATTEMPTS):
                async with gate:
                    answer = await http.post(
                        "/api/v1/bookings",
                        json={"service_id": seller.service_id, "start_time": at.isoformat()},
                        headers=headers,
                    )
                if answer.status_code < 500 or attempt == BOOKING_ATTEMPTS - 1:
                    break
                await asyncio.sleep(1.0)
            if answer.status_code != 201:
                raise RuntimeError(f"POST /bookings answered {answer.status_code}: {answer.text}")
            booked[n % len(clients)].append(answer.json()["id"])

        began = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        say(f"{shape.name}: {count} bookings made in {time.perf_counter() - began:.1f} s")
    return booked


@contextlib.asynccontextmanager
async def _payments_database(shape: Shape) -> AsyncIterator[AsyncConnection]:
    database = Database(shape.database_url("payments"), pool_size=1)
    try:
        async with database.engine.connect() as connection:
            yield connection
    finally:
        await database.dispose()


async def _wait_until_payable(shape: Shape, client_ids: list[str], count: int) -> None:
    """Waits until payments has heard of every booking (booking.created on the bus)."""
    known = sa.select(sa.func.count()).where(payable_bookings.c.client_id.in_(client_ids))
    deadline = time.monotonic() + KNOWN_TIMEOUT_SECONDS
    while True:
        async with _payments_database(shape) as connection:
            heard = (await connection.execute(known)).scalar_one()
        if heard >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"payments heard of {heard} of {count} bookings")
        await asyncio.sleep(0.2)


async def _orders_of(shape: Shape, client_ids: list[str]) -> int:
    async with _payments_database(shape) as connection:
        query = sa.select(sa.func.count()).where(orders.c.client_id.in_(client_ids))
        return int((await connection.execute(query)).scalar_one())


# --- the ledger's own rate ------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    """Ledger transactions committed in a measured window, and the CPU the process spent."""

    transactions: int
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.transactions / self.seconds if self.seconds else 0.0


def _completed_booking(practitioner: str, at: datetime) -> CompletedBooking:
    return CompletedBooking(
        booking_id=new_id(),
        practitioner_user_id=practitioner,
        practitioner_id=practitioner,
        service_id=new_id(),
        client_id=new_id(),
        amount_paid=PRICE,
        completed_at=at,
    )


async def post_earnings(url: str, writers: int, seconds: float) -> Posted:
    """`writers` concurrent units of work each posting one earning transaction and
    committing, for a warm-up second and then `seconds` measured (in the spawned process)."""
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    database = Database(url, pool_size=writers)
    clock = Clock()
    settings = PaymentsSettings()
    schedule = commission_schedule(settings)
    hold = timedelta(hours=settings.earning_hold_hours)
    practitioners = [new_id() for _ in range(EARNING_PRACTITIONERS)]
    started = time.perf_counter()
    measure_from, stop_at = started + 1.0, started + 1.0 + seconds
    counted = 0
    cpu: list[float] = []

    async def writer(lane: int) -> None:
        nonlocal counted
        for turn in itertools.count():
            if time.perf_counter() >= stop_at:
                return
            booking = _completed_booking(
                practitioners[(lane + turn * writers) % len(practitioners)], clock.now()
            )
            earning, _ = Earning.record(
                new_id(),
                booking,
                tier=Tier.ENTRY,
                schedule=schedule,
                hold=hold,
                transaction_id=new_id(),
            )
            async with PaymentsUnitOfWork(database, source=SOURCE, clock=clock) as uow:
                await uow.ledger.post(earning.earning_transaction(clock.now()))
                await uow.commit()
            if measure_from <= time.perf_counter() <= stop_at:
                counted += 1

    async def cpu_at(instant: float) -> None:
        await asyncio.sleep(instant - time.perf_counter())
        cpu.append(time.process_time())

    try:
        await asyncio.gather(
            cpu_at(measure_from), cpu_at(stop_at), *(writer(n) for n in range(writers))
        )
    finally:
        await database.dispose()
    return Posted(counted, seconds, cpu[1] - cpu[0])


async def ledger_figures(
    shape: str, run: BenchRun, process: SeparateProcess, options: PaymentsOptions, workdir: Path
) -> list[Figure]:
    """The ledger's transactions/s inside payments, beside TPC-B on PostgreSQL."""
    writers = options.writers
    say(f"{shape}: payments' ledger, {writers} writers, {options.ledger_seconds:.0f} s")
    if shape == "embedded":
        url = f"sqlite+aiosqlite:///{workdir / 'ledger.db'}"
        posted = await process.run(post_earnings, url, writers, options.ledger_seconds)
    else:
        async with postgres_databases(run.database("ledger")) as urls:
            posted = await process.run(post_earnings, urls[0], writers, options.ledger_seconds)
    figures = [
        Figure(
            f"ledger transactions/s ({writers} writers)",
            shape,
            posted.per_second,
            "/s",
            detail="one earning per unit of work: 3 postings, the pending account's guarded "
            "balance; payments' unit of work and repository, no gRPC or bus"
            + ("; SQLite, so no pgbench beside it" if shape == "embedded" else ""),
        ),
        Figure(
            "ledger CPU/transaction",
            shape,
            posted.cpu_seconds * 1000 / posted.transactions if posted.transactions else math.nan,
            "ms",
            detail="the writers' Python process (not PostgreSQL)",
        ),
    ]
    if shape == "embedded":
        return figures
    say(f"production: pgbench TPC-B, {writers} clients, same PostgreSQL")
    detail = f"pgbench -c {writers} -j 2, scale 10"
    try:
        tps = await pgbench_tps(run, writers, options.ledger_seconds)
    except subprocess.CalledProcessError as error:
        tps, detail = math.nan, f"pgbench failed: {error.stderr!r}"[:300]
    ratio = posted.per_second / tps if tps else math.nan
    return [
        *figures,
        Figure(f"pgbench TPC-B ({writers} clients)", shape, tps, "tps", detail=detail),
        Figure(
            "ledger transactions vs TPC-B",
            shape,
            ratio,
            "x",
            target=f">= {TPCB_TARGET_RATIO}x (production)",
            met=ratio >= TPCB_TARGET_RATIO,
        ),
    ]


# --- earnings from booking.completed --------------------------------------------------------


@dataclass(frozen=True)
class EarningsPlan:
    """Where the earnings consumer keeps its data and listens, and how many events it gets."""

    database_url: str
    rabbit_url: str
    exchange: str
    queue: str
    # The embedded broker's file, or "" for RabbitMQ.
    bus_path: str
    events: int


@dataclass(frozen=True)
class Recorded:
    """How long queuing the events and recording their earnings took."""

    events: int
    earnings: int
    publish_seconds: float
    record_seconds: float
    cpu_seconds: float


def _completion(practitioner: str, at: datetime) -> booking_events.BookingCompleted:
    booking = _completed_booking(practitioner, at)
    message = booking_events.BookingCompleted(
        booking=booking_events.BookingSnapshot(
            booking_id=booking.booking_id,
            service_id=booking.service_id,
            practitioner_id=booking.practitioner_id,
            practitioner_user_id=booking.practitioner_user_id,
            client_id=booking.client_id,
        ),
        complete_time=timestamp(at),
    )
    message.amount_paid.CopyFrom(PRICE.to_proto())
    return message


async def record_earnings(plan: EarningsPlan) -> Recorded:
    """Queues the events, then runs payments' earnings consumer until every earning is
    recorded (in the spawned process)."""
    await asyncio.to_thread(upgrade, MIGRATIONS, plan.database_url)
    broker = EmbeddedBroker(plan.bus_path) if plan.bus_path else None
    transport: Transport = (
        EmbeddedTransport(broker)
        if broker is not None
        else RabbitTransport(
            plan.rabbit_url, plan.exchange, delivery_limit=chassis_default("bus_delivery_limit")
        )
    )
    database = Database(plan.database_url)
    clock = Clock()
    earn = next(s for s in subscriptions(PaymentsSettings()) if s.queue == "payments.earnings")
    consumer = EventConsumer(
        replace(earn, queue=plan.queue),
        unit_of_work=lambda: PaymentsUnitOfWork(database, source=SOURCE, clock=clock),
        transport=transport,
        prefetch=chassis_default("bus_prefetch"),
        delivery_limit=chassis_default("bus_delivery_limit"),
    )
    await transport.start()
    try:
        await consumer.declare()
        practitioners = [new_id() for _ in range(EARNING_PRACTITIONERS)]
        events = [
            encode_event(
                BOOKING_COMPLETED,
                _completion(practitioners[n % len(practitioners)], clock.now()),
                event_id=new_id(),
                source="/estuary/booking",
                subject="bookings",
                time=clock.now(),
            )
            for n in range(plan.events)
        ]
        began = time.perf_counter()
        for first in range(0, len(events), PUBLISH_BATCH):
            failures = await transport.publish(events[first : first + PUBLISH_BATCH])
            if any(failures):
                raise RuntimeError(f"publishing booking.completed failed: {failures}")
        published = time.perf_counter()
        cpu_before = time.process_time()
        await consumer.start()
        count = sa.select(sa.func.count()).select_from(earnings)
        recorded = 0
        deadline = published + RECORDED_TIMEOUT_SECONDS
        while recorded < plan.events and time.perf_counter() < deadline:
            # Seldom enough that counting costs little of the CPU measured.
            await asyncio.sleep(0.1)
            async with database.engine.connect() as connection:
                recorded = (await connection.execute(count)).scalar_one()
        done = time.perf_counter()
        return Recorded(
            plan.events,
            recorded,
            published - began,
            done - published,
            time.process_time() - cpu_before,
        )
    finally:
        await transport.close()
        await database.dispose()
        if broker is not None:
            broker.close()


async def earnings_figures(
    shape: str, run: BenchRun, process: SeparateProcess, options: PaymentsOptions, workdir: Path
) -> list[Figure]:
    """Earnings recorded per second from booking.completed events waiting on the bus."""
    say(f"{shape}: {options.events} booking.completed -> payments' earnings consumer")
    plan = EarningsPlan(
        database_url="",
        rabbit_url=RABBITMQ_URL,
        exchange=run.exchange("payments"),
        queue=run.queue("payments_earnings"),
        bus_path="",
        events=options.events,
    )
    if shape == "embedded":
        plan = EarningsPlan(
            f"sqlite+aiosqlite:///{workdir / 'earnings.db'}",
            plan.rabbit_url,
            plan.exchange,
            plan.queue,
            str(workdir / "bus.db"),
            plan.events,
        )
        recorded = await process.run(record_earnings, plan)
    else:
        async with postgres_databases(run.database("earnings")) as urls:
            plan = EarningsPlan(
                urls[0], plan.rabbit_url, plan.exchange, plan.queue, "", plan.events
            )
            try:
                recorded = await process.run(record_earnings, plan)
            finally:
                await delete_queues(plan.queue)
                await delete_exchanges(plan.exchange)
    missing = recorded.events - recorded.earnings
    detail = (
        f"{recorded.events} events queued in {recorded.publish_seconds:.1f} s, then recorded in "
        f"{recorded.record_seconds:.1f} s (first publish to last earning "
        f"{recorded.publish_seconds + recorded.record_seconds:.1f} s); each an inbox row, an "
        "earning, its charge and split in the ledger, earning.recorded in the outbox"
    )
    if missing:
        detail += f"; {missing} not recorded within {RECORDED_TIMEOUT_SECONDS:.0f} s"
    return [
        Figure(
            f"earnings from {recorded.events} booking.completed",
            shape,
            recorded.earnings / recorded.record_seconds,
            "ev/s",
            target="all recorded",
            met=not missing,
            detail=detail,
        ),
        Figure(
            "earnings consumer CPU/event",
            shape,
            recorded.cpu_seconds * 1000 / max(recorded.earnings, 1),
            "ms",
            detail="the consumer's Python process (not PostgreSQL or RabbitMQ)",
        ),
    ]


# --- estuary ledger check on a large ledger -------------------------------------------------


@dataclass(frozen=True)
class SeededBooking:
    """One completed booking of the seeded ledger: its ids and how its payment split."""

    booking_id: str
    earning_id: str
    charge_id: str
    earning_transaction_id: str
    practitioner: int
    net_minor: int
    commission_minor: int


class SoundLedger:
    """A sound ledger's rows, table by table: each booking charged into clearing, then split
    into its practitioner's pending earning and the platform's commission (five postings a
    booking), every guarded balance the sum of its postings."""

    def __init__(self, postings: int, practitioners: int, at: datetime) -> None:
        self.at = at
        schedule = commission_schedule(PaymentsSettings())
        self.rate_bps = schedule.rate(Tier.ENTRY, at)
        self.external, self.clearing, self.revenue = new_id(), new_id(), new_id()
        self.practitioners = [(new_id(), new_id()) for _ in range(practitioners)]  # account, user
        net, commission = split(PRICE, self.rate_bps)
        self.bookings = [
            SeededBooking(
                new_id(),
                new_id(),
                new_id(),
                new_id(),
                n % practitioners,
                net.amount_minor,
                commission.amount_minor,
            )
            for n in range(math.ceil(postings / POSTINGS_PER_BOOKING))
        ]

    def accounts(self) -> Iterator[tuple[Any, ...]]:
        """(id, owner, kind, currency, non_negative, balance_minor, created_at)"""
        currency = PRICE.currency
        yield self.external, EXTERNAL, AccountKind.EXTERNAL.value, currency, False, None, self.at
        for account, kind in (
            (self.clearing, AccountKind.PLATFORM_CLEARING),
            (self.revenue, AccountKind.PLATFORM_REVENUE),
        ):
            yield account, PLATFORM, kind.value, currency, False, None, self.at
        pending: dict[int, int] = defaultdict(int)
        for booking in self.bookings:
            pending[booking.practitioner] += booking.net_minor
        held = AccountKind.PRACTITIONER_PENDING.value
        for n, (account, user) in enumerate(self.practitioners):
            yield account, user, held, currency, True, pending[n], self.at

    def transactions(self) -> Iterator[tuple[Any, ...]]:
        """(id, kind, cause, booking_id, description, created_at)"""
        for booking in self.bookings:
            cause = f"bookings/{booking.booking_id}"
            yield (
                booking.charge_id,
                TransactionKind.CHARGE.value,
                cause,
                booking.booking_id,
                "",
                self.at,
            )
            yield (
                booking.earning_transaction_id,
                TransactionKind.EARNING.value,
                cause,
                booking.booking_id,
                "",
                self.at,
            )

    def postings(self) -> Iterator[tuple[Any, ...]]:
        """(transaction_id, account_id, amount_minor)"""
        paid = PRICE.amount_minor
        for booking in self.bookings:
            yield booking.charge_id, self.external, -paid
            yield booking.charge_id, self.clearing, paid
            yield booking.earning_transaction_id, self.clearing, -paid
            pending = self.practitioners[booking.practitioner][0]
            yield booking.earning_transaction_id, pending, booking.net_minor
            yield booking.earning_transaction_id, self.revenue, booking.commission_minor

    def earnings(self) -> Iterator[tuple[Any, ...]]:
        """Every column of the earnings table, in EARNING_COLUMNS' order."""
        available = self.at + timedelta(hours=48)
        for booking in self.bookings:
            user = self.practitioners[booking.practitioner][1]
            yield (
                booking.earning_id,
                booking.booking_id,
                user,
                user,
                new_id(),
                new_id(),
                PRICE.currency,
                PRICE.amount_minor,
                booking.commission_minor,
                booking.net_minor,
                Tier.ENTRY.value,
                self.rate_bps,
                EarningStatus.PENDING.value,
                self.at,
                available,
                booking.earning_transaction_id,
                "",
                self.at,
                self.at,
            )

    def tables(self) -> list[tuple[str, tuple[str, ...], Iterator[tuple[Any, ...]]]]:
        """Each table's name, columns and rows, in the order their foreign keys need."""
        return [
            (
                ledger_accounts.name,
                ("id", "owner", "kind", "currency", "non_negative", "balance_minor", "created_at"),
                self.accounts(),
            ),
            (
                ledger_transactions.name,
                ("id", "kind", "cause", "booking_id", "description", "created_at"),
                self.transactions(),
            ),
            (
                ledger_postings.name,
                ("transaction_id", "account_id", "amount_minor"),
                self.postings(),
            ),
            (earnings.name, EARNING_COLUMNS, self.earnings()),
        ]


EARNING_COLUMNS = tuple(column.name for column in earnings.columns)


def copy_into_postgres(dsn: str, ledger: SoundLedger) -> None:
    """Writes the ledger with COPY (blocking)."""
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        for table, columns, rows in ledger.tables():
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


def insert_into_sqlite(path: Path, ledger: SoundLedger) -> None:
    """Writes the ledger with executemany in one transaction (blocking); instants as the
    service keeps them on SQLite (naive UTC text)."""
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        for table, columns, rows in ledger.tables():
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                (tuple(_sqlite_value(value) for value in row) for row in rows),
            )


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _analyze(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("ANALYZE")


async def _ledger_check(url: str, workdir: Path) -> float:
    """`estuary ledger check` as an operator runs it on this database: its seconds."""
    began = time.perf_counter()
    checking = await asyncio.create_subprocess_exec(
        *estuary_command("ledger", "check", "--data-dir", str(workdir)),
        cwd=REPOSITORY,
        env={**os.environ, "ESTUARY_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await checking.communicate()
    seconds = time.perf_counter() - began
    text = output.decode(errors="replace").strip()
    if checking.returncode != 0:
        raise RuntimeError(f"estuary ledger check failed on the bench's sound ledger:\n{text}")
    return seconds


async def ledger_check_figures(
    shape: str, run: BenchRun, options: PaymentsOptions, workdir: Path
) -> list[Figure]:
    """`estuary ledger check` timed on a ledger of many postings."""
    embedded = shape == "embedded"
    count = options.sqlite_postings if embedded else options.postings
    if not count:
        return []
    say(f"{shape}: estuary ledger check on {count:,} postings (writing them first)")
    ledger = SoundLedger(count, EARNING_PRACTITIONERS, datetime.now(UTC) - timedelta(days=1))
    async with contextlib.AsyncExitStack() as stack:
        began = time.perf_counter()
        if embedded:
            path = workdir / "ledger-check.db"
            url = f"sqlite+aiosqlite:///{path}"
            await asyncio.to_thread(upgrade, MIGRATIONS, url)
            await asyncio.to_thread(insert_into_sqlite, path, ledger)
        else:
            name = run.database("ledger_check")
            url = (await stack.enter_async_context(postgres_databases(name)))[0]
            await asyncio.to_thread(upgrade, MIGRATIONS, url)
            dsn = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
            await asyncio.to_thread(copy_into_postgres, dsn, ledger)
            # As autovacuum would soon after a bulk load: the check's plans see real sizes.
            await asyncio.to_thread(_analyze, dsn)
        written = time.perf_counter() - began
        seconds = await _ledger_check(url, workdir)
    postings = len(ledger.bookings) * POSTINGS_PER_BOOKING
    return [
        Figure(
            f"estuary ledger check ({postings:,} postings)",
            shape,
            seconds,
            "s",
            detail=f"{2 * len(ledger.bookings):,} transactions, {len(ledger.bookings):,} "
            f"earnings; migrated and written in {written:.1f} s "
            f"({'executemany' if embedded else 'COPY'}); the whole command, start-up "
            "included; every invariant held",
        )
    ]


async def payments_figures(
    shape: str, run: BenchRun, process: SeparateProcess, options: PaymentsOptions, workdir: Path
) -> list[Figure]:
    """The payments figures that need no running suite: ledger, earnings, ledger check."""
    return [
        *await ledger_figures(shape, run, process, options, workdir),
        *await earnings_figures(shape, run, process, options, workdir),
        *await ledger_check_figures(shape, run, options, workdir),
    ]
