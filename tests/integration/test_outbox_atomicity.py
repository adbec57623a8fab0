"""The change and its outbox row commit in one transaction, or not at all, on SQLite and
PostgreSQL.

A rolled-back unit of work is the easy direction (test_outbox_inbox.py). These inject a
failure between the change and the event's durable write: an integrity error raised after
the event was emitted, an outbox write that fails, and a COMMIT that fails after every row
was written. After each, neither the change nor the event may exist, and nothing may have
been handed to the relay: an event published for a change that never committed is as
wrong as a change whose event is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

import pytest
import sqlalchemy as sa

from chassis.bus.outbox import CommittedEvent
from chassis.clock import FrozenClock
from chassis.db import Database
from chassis.driver_sql import DriverStatement
from chassis.errors import AlreadyExists, FailedPrecondition
from chassis.tables import outbox
from chassis.uow import UnitOfWork
from estuary.identity.v1 import events_pb2
from tests.integration.harness import THING_HAPPENED, create_schema, effects

# Rows that point at an effect, checked only at COMMIT: a dangling one makes the COMMIT
# itself fail, after the change and the outbox rows were written.
checked_at_commit = sa.Table(
    "checked_at_commit",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "effect_id",
        sa.Integer,
        sa.ForeignKey(effects.c.id, deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
)

# An outbox that refuses every insert: the event's write fails after the change was made.
REFUSE_OUTBOX = {
    "sqlite": [
        "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox "
        "BEGIN SELECT RAISE(ABORT, 'outbox refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$",
        "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox "
        "FOR EACH ROW EXECUTE FUNCTION refuse_outbox()",
    ],
}


class Service:
    """A database with the chassis tables and an effects table; a unit of work whose
    hand-overs to the relay are recorded."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.clock = FrozenClock()
        self.handed_over: list[CommittedEvent] = []
        self.after_commit: list[str] = []

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(
            self.database,
            source="/estuary/tests",
            clock=self.clock,
            on_events_committed=self.handed_over.extend,
        )

    async def change_and_emit(self, uow: UnitOfWork, user_id: str, effect_id: int) -> None:
        """The change (an effect row) and the event announcing it, as a handler makes them."""
        await uow.connection.execute(
            effects.insert().values(id=effect_id, event_id="-", user_id=user_id)
        )
        uow.emit(THING_HAPPENED, events_pb2.UserDeleted(user_id=user_id), subject=user_id)
        uow.after_commit(lambda: self.after_commit.append(user_id))

    async def execute(self, *statements: str) -> None:
        async with self.database.engine.begin() as connection:
            for statement in statements:
                await connection.execute(sa.text(statement))

    async def rows(self) -> tuple[list[str], list[str]]:
        """The effects and the outbox's events, by user id and subject."""
        async with self.database.engine.connect() as connection:
            changed = (await connection.execute(sa.select(effects.c.user_id))).scalars()
            events = (await connection.execute(sa.select(outbox.c.subject))).scalars()
            return sorted(changed), sorted(events)


@pytest.fixture
async def service(empty_database_url: str) -> AsyncIterator[Service]:
    database = Database(empty_database_url)
    await create_schema(database)
    async with database.engine.begin() as connection:
        await connection.run_sync(checked_at_commit.metadata.create_all)
    try:
        yield Service(database)
    finally:
        await database.dispose()


async def committed_one(service: Service) -> None:
    """A change that commits, so the failures below are seen against one that did."""
    async with service.unit_of_work() as uow:
        await service.change_and_emit(uow, "kept", 1)
        await uow.commit()


async def test_an_integrity_error_after_the_event_is_emitted_leaves_neither(service):
    await committed_one(service)
    with pytest.raises(AlreadyExists):
        async with service.unit_of_work() as uow:
            await service.change_and_emit(uow, "lost", 2)
            # After the event was emitted, the handler's next write breaks a constraint.
            await uow.connection.execute(
                effects.insert().values(id=1, event_id="-", user_id="again")
            )
            await uow.commit()
    assert await service.rows() == (["kept"], ["kept"])
    assert [c.event.subject for c in service.handed_over] == ["kept"]
    assert service.after_commit == ["kept"]


async def test_a_failing_outbox_write_leaves_neither(service):
    await committed_one(service)
    await service.execute(*REFUSE_OUTBOX[service.database.dialect])
    with pytest.raises(sa.exc.DBAPIError, match="outbox refused"):
        async with service.unit_of_work() as uow:
            await service.change_and_emit(uow, "lost", 2)
            await uow.commit()
    assert await service.rows() == (["kept"], ["kept"])
    assert [c.event.subject for c in service.handed_over] == ["kept"]
    assert service.after_commit == ["kept"]


async def test_a_failing_commit_leaves_neither_and_hands_nothing_to_the_relay(service):
    await committed_one(service)
    with pytest.raises(FailedPrecondition) as refused:
        async with service.unit_of_work() as uow:
            await service.change_and_emit(uow, "lost", 2)
            # Valid until COMMIT checks it: the COMMIT fails after the outbox rows went in.
            await uow.connection.execute(checked_at_commit.insert().values(id=1, effect_id=99))
            await uow.commit()
    assert refused.value.reason == "REFERENCE_CONFLICT"
    assert await service.rows() == (["kept"], ["kept"])
    assert [c.event.subject for c in service.handed_over] == ["kept"]
    assert service.after_commit == ["kept"]


async def test_several_events_commit_with_their_change_in_order(service):
    async with service.unit_of_work() as uow:
        for n in range(3):
            await service.change_and_emit(uow, f"user-{n}", n + 1)
        await uow.commit()
    assert await service.rows() == ([f"user-{n}" for n in range(3)],) * 2
    positions = [c.position for c in service.handed_over]
    assert [c.event.subject for c in service.handed_over] == [f"user-{n}" for n in range(3)]
    assert positions == sorted(positions) and len(set(positions)) == 3


ADD_EFFECT = DriverStatement(
    "INSERT INTO effects (id, event_id, user_id) VALUES (:id, '-', :user_id) RETURNING id"
)


async def test_writes_queued_for_the_commit_go_before_the_outbox_rows_and_answer_first(service):
    heard: list[str] = []
    async with service.unit_of_work() as uow:
        uow.emit(THING_HAPPENED, events_pb2.UserDeleted(user_id="queued"), subject="queued")
        for n in (1, 2):
            then = partial(lambda n, rows: heard.append(f"wrote {n}: {rows}"), n)
            uow.write_with_commit(ADD_EFFECT, {"id": n, "user_id": f"queued-{n}"}, then)
        uow.after_commit(lambda: heard.append("committed"))
        # Queued, not sent: the transaction does not see them yet.
        assert (await uow.connection.execute(sa.select(effects.c.id))).all() == []
        await uow.commit()
    assert heard == ["wrote 1: [(1,)]", "wrote 2: [(2,)]", "committed"]
    assert await service.rows() == (["queued-1", "queued-2"], ["queued"])
    [handed_over] = service.handed_over
    assert handed_over.event.subject == "queued" and handed_over.position > 0


async def test_a_queued_write_that_breaks_a_constraint_fails_the_commit_and_leaves_neither(
    service,
):
    await committed_one(service)
    heard: list[str] = []
    with pytest.raises(AlreadyExists):
        async with service.unit_of_work() as uow:
            await service.change_and_emit(uow, "lost", 2)
            uow.write_with_commit(ADD_EFFECT, {"id": 1, "user_id": "again"}, heard.append)
            await uow.commit()
    assert heard == []
    assert await service.rows() == (["kept"], ["kept"])
    assert [c.event.subject for c in service.handed_over] == ["kept"]
    assert service.after_commit == ["kept"]


async def test_a_rollback_forgets_the_events_and_callbacks_before_it(service):
    async with service.unit_of_work() as uow:
        await service.change_and_emit(uow, "dropped", 1)
        uow.write_with_commit(ADD_EFFECT, {"id": 3, "user_id": "dropped too"})
        await uow.rollback()
        # The unit of work goes on: what follows the rollback commits alone.
        await service.change_and_emit(uow, "kept", 2)
        await uow.commit()
    assert await service.rows() == (["kept"], ["kept"])
    assert [c.event.subject for c in service.handed_over] == ["kept"]
    assert service.after_commit == ["kept"]


async def test_forgetting_a_subject_deletes_its_earlier_events_and_says_how_many(service):
    async with service.unit_of_work() as uow:
        for effect_id in (1, 2):
            await service.change_and_emit(uow, "erased", effect_id)
        await service.change_and_emit(uow, "other", 3)
        await uow.commit()
    async with service.unit_of_work() as uow:
        assert await uow.forget_subject("erased") == 2
        assert await uow.forget_subject("erased") == 0
        await uow.commit()
    assert (await service.rows())[1] == ["other"]


async def test_a_reader_takes_no_write_lock_so_a_writer_goes_ahead_meanwhile(service):
    reading = UnitOfWork(
        service.database, source="/estuary/tests", clock=service.clock, write=False
    )
    async with reading as reader:

        async def write() -> None:
            async with service.unit_of_work() as uow:
                await service.change_and_emit(uow, "written", 1)
                await uow.commit()

        await asyncio.wait_for(write(), timeout=5)
        # A reader runs in autocommit: it sees what committed after it began.
        seen = await reader.connection.execute(sa.select(effects.c.user_id))
        assert seen.scalars().all() == ["written"]
