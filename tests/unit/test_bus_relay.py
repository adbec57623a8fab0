"""The relay's sweep on PostgreSQL, where replicas share the outbox: it takes only rows no
other replica holds locked, publishes them and marks them under that lock, in one
transaction; hand-overs published one by one are marked together, and always before a sweep
or when the relay stops. Run against a recording connection: the run of mutation tests has
no server."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from chassis.bus.envelope import OutgoingEvent
from chassis.bus.outbox import CommittedEvent, OutboxRelay, retry_delay
from chassis.bus.transport import Unroutable
from chassis.clock import FrozenClock


class Recording:
    """A PostgreSQL connection that answers the sweep's query with `rows` and records the
    statements it runs and how its transaction ends."""

    def __init__(self, rows: list[SimpleNamespace]) -> None:
        self.rows = rows
        self.statements: list[Any] = []
        self.ended: list[str] = []

    async def execute(self, statement: Any) -> SimpleNamespace:
        self.statements.append(statement)
        rows = self.rows if isinstance(statement, sa.Select) else []
        return SimpleNamespace(all=lambda: rows)

    async def commit(self) -> None:
        self.ended.append("commit")

    async def rollback(self) -> None:
        self.ended.append("rollback")

    async def close(self) -> None:
        self.ended.append("close")


class Server:
    """A PostgreSQL database as the relay sees it."""

    is_sqlite = False

    def __init__(self, connection: Recording) -> None:
        self.connection = connection
        self.asked_to_write: list[bool] = []

    async def connect(self, *, write: bool = True, scan: bool = False) -> Recording:
        self.asked_to_write.append(write)
        return self.connection


class Broker:
    """Takes every event, refusing those of the types it has no queue for."""

    def __init__(self, unbound: frozenset[str] = frozenset(), down: bool = False) -> None:
        self.unbound = unbound
        self.down = down
        self.published: list[OutgoingEvent] = []

    async def publish(self, events: list[OutgoingEvent]) -> list[BaseException | None]:
        if self.down:
            raise ConnectionError("broker gone")
        self.published.extend(events)
        return [Unroutable("no queue") if e.type in self.unbound else None for e in events]


def row(position: int, event_type: str, attempts: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        position=position,
        event_id=f"evt-{position}",
        event_type=event_type,
        subject=f"users/{position}",
        headers={"ce-id": f"evt-{position}"},
        content_type="application/json",
        body=b'{"user_id": "u"}',
        attempts=attempts,
    )


def relay(
    connection: Recording,
    broker: Broker,
    clock: FrozenClock,
    *,
    batch_size: int = 50,
    poll_interval: float = 1.0,
    sweep_grace: timedelta = timedelta(seconds=2),
) -> OutboxRelay:
    return OutboxRelay(
        Server(connection),  # type: ignore[arg-type]
        broker,  # type: ignore[arg-type]
        clock=clock,
        batch_size=batch_size,
        poll_interval=poll_interval,
        sweep_grace=sweep_grace,
    )


def sql(statement: Any) -> tuple[str, dict[str, Any]]:
    compiled = statement.compile(dialect=postgresql.dialect())
    return " ".join(str(compiled).split()), compiled.params


async def test_a_sweep_takes_unlocked_due_rows_publishes_and_marks_them_in_one_transaction():
    clock = FrozenClock()
    connection = Recording([row(7, "thing.happened"), row(8, "nobody.listens", attempts=2)])
    broker = Broker(unbound=frozenset({"nobody.listens"}))
    sweeper = relay(connection, broker, clock)
    assert await sweeper.relay_once() == 2
    assert sweeper._database.asked_to_write == [True]  # type: ignore[attr-defined]
    query, params = sql(connection.statements[0])
    assert query.endswith(
        "ORDER BY outbox.position LIMIT %(param_1)s::INTEGER FOR UPDATE SKIP LOCKED"
    )
    assert "outbox.published_at IS NULL" in query
    assert params["param_1"] == 50
    assert params["created_at_1"] == clock.now() - timedelta(seconds=2)
    # Each row goes out as it was stored.
    assert broker.published == [
        OutgoingEvent(
            id=f"evt-{n}",
            type=kind,
            headers={"ce-id": f"evt-{n}"},
            content_type="application/json",
            body=b'{"user_id": "u"}',
            subject=f"users/{n}",
        )
        for n, kind in ((7, "thing.happened"), (8, "nobody.listens"))
    ]
    mark, retry = (sql(s) for s in connection.statements[1:])
    assert mark[0].startswith("UPDATE outbox SET published_at=")
    assert mark[1]["position_1"] == [7]
    assert mark[1]["published_at"] == clock.now()
    assert retry[1]["position_1"] == 8
    assert retry[1]["next_attempt_at"] == clock.now() + retry_delay(2)
    assert retry[1]["last_error"] == "no queue"
    assert connection.ended == ["commit", "close"]
    assert (sweeper.stats.published, sweeper.stats.failed_attempts) == (1, 1)


async def test_a_sweep_that_finds_nothing_due_ends_its_transaction_and_publishes_nothing():
    connection = Recording([])
    broker = Broker()
    assert await relay(connection, broker, FrozenClock()).relay_once() == 0
    assert broker.published == []
    assert connection.ended == ["rollback", "close"]


async def test_a_sweep_the_broker_fails_marks_nothing_and_lets_the_rows_go():
    connection = Recording([row(7, "thing.happened")])
    with pytest.raises(ConnectionError):
        await relay(connection, Broker(down=True), FrozenClock()).relay_once()
    # Closing without a commit rolls back: the locks go, the rows wait for the next sweep.
    assert len(connection.statements) == 1
    assert connection.ended == ["close"]


class DrainedOnce(Recording):
    """A database whose due rows, once swept, are marked: the next sweep finds none."""

    async def execute(self, statement: Any) -> SimpleNamespace:
        answer = await super().execute(statement)
        if isinstance(statement, sa.Select):
            self.rows = []
        return answer


async def test_rows_the_sweep_takes_while_still_handed_over_are_published_once():
    # The relay fell behind by more than the grace period: its sweep finds rows whose
    # hand-overs still wait (past a batch). Published by the sweep, they must not go out
    # again from the hand-over.
    clock = FrozenClock()
    rows = [row(n, "thing.happened") for n in range(1, 61)]
    broker = Broker()
    sweeper = relay(DrainedOnce(rows[50:]), broker, clock)
    sweeper.notify(
        [
            CommittedEvent(
                r.position,
                OutgoingEvent(
                    r.event_id, r.event_type, r.headers, r.content_type, r.body, r.subject
                ),
            )
            for r in rows
        ]
    )
    await sweeper.relay_once()
    await sweeper.relay_once()
    published = [e.id for e in broker.published]
    assert sorted(published) == sorted(f"evt-{n}" for n in range(1, 61))
    assert len(published) == len(set(published))


def handed_over(position: int) -> CommittedEvent:
    r = row(position, "thing.happened")
    return CommittedEvent(
        position, OutgoingEvent(r.event_id, r.event_type, r.headers, r.content_type, r.body)
    )


def marks(connection: Recording) -> list[list[int]]:
    """The positions each mark-published UPDATE named, in order."""
    return [
        params["position_1"]
        for query, params in map(sql, connection.statements)
        if query.startswith("UPDATE outbox SET published_at=")
    ]


def kinds_after_the_mark(connection: Recording) -> list[str]:
    kinds = ["select" if isinstance(s, sa.Select) else "update" for s in connection.statements]
    return kinds[kinds.index("update") + 1 :]


async def until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.001)


@pytest.fixture
def marks_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Marks wait for a batch, a sweep or the relay's stop, never for the clock."""
    monkeypatch.setattr("chassis.bus.outbox.MARK_DELAY_SECONDS", 3600.0)


@pytest.mark.usefixtures("marks_wait")
async def test_hand_overs_published_one_by_one_are_marked_together_once_a_batch_waits():
    connection = Recording([])
    broker = Broker()
    sweeper = relay(connection, broker, FrozenClock(), batch_size=3, sweep_grace=timedelta(hours=1))
    for position in (1, 2):
        sweeper.notify([handed_over(position)])
        await sweeper._publish_handed_over(mark_now=False)
    # Published at once, each; their rows not marked yet, so no transaction so far.
    assert [e.id for e in broker.published] == ["evt-1", "evt-2"]
    assert (marks(connection), connection.ended) == ([], [])
    sweeper.notify([handed_over(3)])
    await sweeper._publish_handed_over(mark_now=False)
    assert marks(connection) == [[1, 2, 3]]
    assert connection.ended == ["commit", "close"]
    assert sweeper.stats.published == 3


@pytest.mark.usefixtures("marks_wait")
async def test_a_stopping_relay_marks_what_it_published():
    connection = Recording([])
    broker = Broker()
    sweeper = relay(connection, broker, FrozenClock())
    running = asyncio.create_task(sweeper.run())
    await until(lambda: connection.ended)  # its first sweep found nothing
    sweeper.notify([handed_over(4)])
    await until(lambda: broker.published)
    assert marks(connection) == []
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert marks(connection) == [[4]]
    assert connection.ended[-2:] == ["commit", "close"]


@pytest.mark.usefixtures("marks_wait")
async def test_a_relay_marks_what_it_published_before_it_sweeps():
    # Else a sweep (past the grace period) would publish those rows again.
    connection = Recording([])
    broker = Broker()
    sweeper = relay(
        connection, broker, FrozenClock(), poll_interval=0.01, sweep_grace=timedelta(hours=1)
    )
    running = asyncio.create_task(sweeper.run())
    try:
        await until(lambda: connection.ended)
        sweeper.notify([handed_over(5)])
        await until(lambda: marks(connection))
        assert marks(connection) == [[5]]
        # Marked by the flush before a sweep (nothing else was due): its query follows.
        await until(lambda: kinds_after_the_mark(connection)[:1] == ["select"])
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
